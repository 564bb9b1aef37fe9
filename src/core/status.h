// Status and Result<T>: the error currency of Learnwire. Fallible functions return one of these;
// code branches on Code, never on the message. Value types, freely copyable, thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace learnwire::core {

enum class Code {
  kOk,
  kInvalidArgument,
  kNotFound,
  kConflict,
  kUnauthenticated,
  kPermissionDenied,
  kUnavailable,
  kDeadlineExceeded,
  kInternal,
};

// A named problem in one field of the input: `field` is a dotted path
// ("retry_policy.max_attempts").
struct FieldError {
  std::string field;
  std::string message;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  // kInvalidArgument carrying the fields at fault (answered as 422 with `errors`).
  static Status Invalid(std::vector<FieldError> fields) {
    Status s(Code::kInvalidArgument,
             std::to_string(fields.size()) +
                 (fields.size() == 1 ? " field is invalid" : " fields are invalid"));
    s.fields_ = std::move(fields);
    return s;
  }
  static Status Invalid(std::string field, std::string message) {
    return Invalid(std::vector<FieldError>{{std::move(field), std::move(message)}});
  }
  // A conflict with a specific problem type suffix (e.g. "limit-reached").
  static Status ConflictOf(std::string problem_type, std::string message) {
    Status s(Code::kConflict, std::move(message));
    s.problem_type_ = std::move(problem_type);
    return s;
  }

  static Status Ok() { return {}; }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::vector<FieldError>& fields() const { return fields_; }
  const std::string& problem_type() const { return problem_type_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::vector<FieldError> fields_;
  std::string problem_type_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }

// Result<T> holds either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace learnwire::core

// Propagate a non-ok Status from an expression returning Status.
#define LW_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::learnwire::core::Status lw_s_ = (expr); \
    if (!lw_s_.ok()) return lw_s_;            \
  } while (0)

#define LW_CONCAT_INNER(a, b) a##b
#define LW_CONCAT(a, b) LW_CONCAT_INNER(a, b)
// Declare `lhs` from a Result<T> expression, or return its Status.
#define LW_ASSIGN_OR_RETURN(lhs, expr) \
  LW_ASSIGN_OR_RETURN_IMPL(LW_CONCAT(lw_r_, __LINE__), lhs, expr)
#define LW_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
