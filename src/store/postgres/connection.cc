#include "store/postgres/connection.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <vector>

namespace learnwire::store::postgres {

namespace {

// Type OIDs (pg_type.h) of the result columns read as numbers.
constexpr Oid kBool = 16;
constexpr Oid kInt8 = 20;
constexpr Oid kInt2 = 21;
constexpr Oid kInt4 = 23;
constexpr Oid kFloat4 = 700;
constexpr Oid kFloat8 = 701;
constexpr Oid kNumeric = 1700;

core::Status ErrorOf(PGresult* res, PGconn* conn) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.pop_back();
  }
  message = "postgres: " + message;
  std::string code = state ? state : "";
  if (code == "23505" || code == "23503") {
    return core::Conflict(message);
  }
  if (code == "40001" || code == "40P01" || code.rfind("08", 0) == 0 ||
      PQstatus(conn) != CONNECTION_OK) {
    return core::Unavailable(message);
  }
  return core::Internal(message);
}

// Parameters as text; NULL as a null pointer.
struct TextParams {
  std::vector<std::string> text;
  std::vector<const char*> values;

  explicit TextParams(const Params& params) {
    text.reserve(params.size());
    for (const Value& v : params) {
      if (const auto* i = std::get_if<int64_t>(&v.v)) {
        text.push_back(std::to_string(*i));
      } else if (const auto* d = std::get_if<double>(&v.v)) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.17g", *d);
        text.emplace_back(buf);
      } else if (const auto* s = std::get_if<std::string>(&v.v)) {
        text.push_back(*s);
      } else {
        text.emplace_back();
      }
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      values.push_back(params[i].is_null() ? nullptr : text[i].c_str());
    }
  }
};

Value ValueAt(PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) {
    return Value();
  }
  const char* text = PQgetvalue(res, row, col);
  switch (PQftype(res, col)) {
    case kInt2:
    case kInt4:
    case kInt8:
      return Value(static_cast<int64_t>(std::strtoll(text, nullptr, 10)));
    case kBool:
      return Value(static_cast<int64_t>(text[0] == 't' ? 1 : 0));
    case kFloat4:
    case kFloat8:
    case kNumeric:
      return Value(std::strtod(text, nullptr));
    default:
      return Value(std::string(text, static_cast<std::size_t>(PQgetlength(res, row, col))));
  }
}

// A row of a result, read in place.
class ResultRow final : public RowView {
 public:
  ResultRow(PGresult* res, int row) : res_(res), row_(row) {}
  bool IsNull(int column) const override { return PQgetisnull(res_, row_, column) != 0; }
  int64_t Int(int column) const override {
    if (IsNull(column)) {
      return 0;
    }
    const char* text = PQgetvalue(res_, row_, column);
    if (PQftype(res_, column) == kBool) {
      return text[0] == 't' ? 1 : 0;
    }
    return std::strtoll(text, nullptr, 10);
  }
  std::string_view Text(int column) const override {
    if (IsNull(column)) {
      return {};
    }
    return {PQgetvalue(res_, row_, column),
            static_cast<std::size_t>(PQgetlength(res_, row_, column))};
  }

 private:
  PGresult* res_;
  int row_;
};

}  // namespace

struct Connection::Result {
  PGresult* res = nullptr;
  ~Result() { PQclear(res); }
};

core::Result<std::unique_ptr<Connection>> Connection::Open(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (!conn || PQstatus(conn) != CONNECTION_OK) {
    std::string why = conn ? PQerrorMessage(conn) : "out of memory";
    while (!why.empty() && why.back() == '\n') {
      why.pop_back();
    }
    PQfinish(conn);
    return core::Unavailable("cannot connect to PostgreSQL: " + why);
  }
  auto c = std::unique_ptr<Connection>(new Connection(conn));
  // Notices (e.g. "relation already exists, skipping") are not errors; keep them off stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  LW_RETURN_IF_ERROR(c->Simple("SET client_min_messages = warning"));
  return c;
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::Healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

int Connection::Socket() const { return PQsocket(conn_); }

core::Result<int> Connection::TakeNotifications() {
  if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) {
    return ErrorOf(nullptr, conn_);
  }
  int n = 0;
  while (PGnotify* notify = PQnotifies(conn_)) {
    PQfreemem(notify);
    ++n;
  }
  return n;
}

core::Status Connection::Simple(std::string_view sql) {
  PGresult* res = PQexec(conn_, std::string(sql).c_str());
  const ExecStatusType st = PQresultStatus(res);
  core::Status out =
      (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? core::Status::Ok() : ErrorOf(res, conn_);
  PQclear(res);
  return out;
}

core::Result<std::unique_ptr<Connection::Result>> Connection::Run(std::string_view sql,
                                                                  const Params& params) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "s" + std::to_string(prepared_.size() + 1);
    PGresult* res = PQprepare(conn_, name.c_str(), std::string(sql).c_str(),
                              static_cast<int>(params.size()), nullptr);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      core::Status st = ErrorOf(res, conn_);
      PQclear(res);
      return st;
    }
    PQclear(res);
    it = prepared_.emplace(std::string(sql), std::move(name)).first;
  }
  TextParams text(params);
  auto out = std::make_unique<Result>();
  out->res = PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(params.size()),
                            text.values.data(), nullptr, nullptr, 0);
  const ExecStatusType st = PQresultStatus(out->res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    return ErrorOf(out->res, conn_);
  }
  return out;
}

core::Result<Rows> Connection::Query(std::string_view sql, const Params& params) {
  LW_ASSIGN_OR_RETURN(std::unique_ptr<Result> r, Run(sql, params));
  Rows rows;
  const int cols = PQnfields(r->res);
  for (int c = 0; c < cols; ++c) {
    rows.columns.emplace_back(PQfname(r->res, c));
  }
  const int n = PQntuples(r->res);
  rows.values.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    std::vector<Value> row;
    row.reserve(static_cast<std::size_t>(cols));
    for (int c = 0; c < cols; ++c) {
      row.push_back(ValueAt(r->res, i, c));
    }
    rows.values.push_back(std::move(row));
  }
  return rows;
}

core::Result<int64_t> Connection::Exec(std::string_view sql, const Params& params) {
  LW_ASSIGN_OR_RETURN(std::unique_ptr<Result> r, Run(sql, params));
  const char* tuples = PQcmdTuples(r->res);
  return static_cast<int64_t>(tuples && *tuples ? std::strtoll(tuples, nullptr, 10) : 0);
}

core::Status Connection::QueryEach(std::string_view sql, const Params& params,
                                   const RowVisitor& visit) {
  LW_ASSIGN_OR_RETURN(std::unique_ptr<Result> r, Run(sql, params));
  const int n = PQntuples(r->res);
  for (int i = 0; i < n; ++i) {
    LW_RETURN_IF_ERROR(visit(ResultRow(r->res, i)));
  }
  return core::Status::Ok();
}

}  // namespace learnwire::store::postgres
