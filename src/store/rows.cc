#include <charconv>
#include <string>
#include <type_traits>
#include <variant>

#include "store/store.h"

namespace learnwire::store {
namespace {

const Value& NullValue() {
  static const Value kNull;
  return kNull;
}

// Shortest text that reads back as the same double.
std::string DoubleText(double d) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), d);
  if (ec != std::errc()) {
    return std::string();
  }
  return std::string(buffer, end);
}

}  // namespace

Value::~Value() = default;

// Columns are few, so a linear search beats building an index per row set. The first column of
// a given name wins, as in SQL.
const Value* Rows::Row::Find(std::string_view column) const {
  if (rows_ == nullptr || index_ >= rows_->values.size()) {
    return nullptr;
  }
  const std::vector<Value>& row = rows_->values[index_];
  std::size_t n = std::min(rows_->columns.size(), row.size());
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = (hint_ + k) % n;
    if (rows_->columns[i] == column) {
      hint_ = i + 1;
      return &row[i];
    }
  }
  return nullptr;
}

const Value& Rows::Row::At(std::size_t column_index) const {
  if (rows_ == nullptr || index_ >= rows_->values.size()) {
    return NullValue();
  }
  const std::vector<Value>& row = rows_->values[index_];
  return column_index < row.size() ? row[column_index] : NullValue();
}

bool Rows::Row::IsNull(std::string_view column) const {
  const Value* value = Find(column);
  return value == nullptr || value->is_null();
}

int64_t Rows::Row::Int(std::string_view column) const {
  const Value* value = Find(column);
  if (value == nullptr) {
    return 0;
  }
  if (const auto* i = std::get_if<int64_t>(&value->v)) {
    return *i;
  }
  if (const auto* d = std::get_if<double>(&value->v)) {
    return static_cast<int64_t>(*d);
  }
  return 0;
}

double Rows::Row::Double(std::string_view column) const {
  const Value* value = Find(column);
  if (value == nullptr) {
    return 0;
  }
  if (const auto* d = std::get_if<double>(&value->v)) {
    return *d;
  }
  if (const auto* i = std::get_if<int64_t>(&value->v)) {
    return static_cast<double>(*i);
  }
  return 0;
}

std::string Rows::Row::Str(std::string_view column) const {
  const Value* value = Find(column);
  if (value == nullptr) {
    return std::string();
  }
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(v);
        } else if constexpr (std::is_same_v<T, double>) {
          return DoubleText(v);
        } else {
          return std::string();
        }
      },
      value->v);
}

std::optional<int64_t> Rows::Row::OptInt(std::string_view column) const {
  if (IsNull(column)) {
    return std::nullopt;
  }
  return Int(column);
}

std::optional<std::string> Rows::Row::OptStr(std::string_view column) const {
  if (IsNull(column)) {
    return std::nullopt;
  }
  return Str(column);
}

}  // namespace learnwire::store
