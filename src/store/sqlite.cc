#include "store/sqlite.h"

#include <utility>

namespace banger::sql {

Result<Connection> Connection::Open(const std::string& path) {
  sqlite3* db = nullptr;
  // NOMUTEX: the store serialises all use of the connection itself.
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  // sqlite hands back a handle even on failure; it still has to be closed.
  Connection conn(db);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return Error::Internal("opening database " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(db, 1);
  return conn;
}

Connection::Connection(Connection&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Connection::~Connection() {
  if (db_) sqlite3_close_v2(db_);
}

Status Exec(sqlite3* db, std::string_view sql) {
  char* err = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return Error::Internal("sqlite: " + msg);
  }
  return OkStatus();
}

Result<Statement> Statement::Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK) {
    return Error::Internal("sqlite: preparing \"" + std::string(sql) + "\": " + sqlite3_errmsg(db));
  }
  return Statement(db, stmt);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_error_(other.bind_error_),
      error_code_(other.error_code_),
      error_text_(std::move(other.error_text_)) {}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::NoteBind(int rc) {
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
}

Statement& Statement::Bind(int index, std::string_view value) {
  NoteBind(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::Bind(int index, int64_t value) {
  NoteBind(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Statement& Statement::BindOrNull(int index, std::string_view value) {
  if (value.empty()) {
    NoteBind(sqlite3_bind_null(stmt_, index));
    return *this;
  }
  return Bind(index, value);
}

Result<bool> Statement::Step() {
  if (bind_error_ != SQLITE_OK) {
    return Error::Internal(std::string("sqlite: binding parameters of \"") + sqlite3_sql(stmt_) +
                           "\": " + sqlite3_errstr(bind_error_));
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  error_code_ = sqlite3_extended_errcode(db_);
  error_text_ = sqlite3_errmsg(db_);
  return Error::Internal("sqlite: " + error_text_);
}

Status Statement::Run() {
  while (true) {
    BANGER_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return OkStatus();
  }
}

std::string Statement::ColumnText(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  if (!text) return "";
  return std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, col));
}

int64_t Statement::ColumnInt64(int col) const { return sqlite3_column_int64(stmt_, col); }

Result<Transaction> Transaction::Begin(sqlite3* db) {
  BANGER_RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE"));
  return Transaction(db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() {
  // A destructor cannot report; ROLLBACK only fails on an unusable connection.
  if (db_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

Status Transaction::Commit() {
  BANGER_RETURN_IF_ERROR(Exec(db_, "COMMIT"));
  db_ = nullptr;
  return OkStatus();
}

std::string_view ConstraintTarget(std::string_view error_text) {
  constexpr std::string_view kMarker = "constraint failed: ";
  size_t pos = error_text.find(kMarker);
  if (pos == std::string_view::npos) return {};
  return error_text.substr(pos + kMarker.size());
}

bool IsUniqueViolation(int error_code) {
  return error_code == SQLITE_CONSTRAINT_UNIQUE || error_code == SQLITE_CONSTRAINT_PRIMARYKEY;
}

}  // namespace banger::sql
