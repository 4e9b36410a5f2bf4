// A thin RAII layer over the sqlite3 C API, internal to the store.
//
// Every sqlite failure becomes Error::Internal carrying sqlite3_errmsg; the
// failing statement keeps its extended result code so the store can turn
// constraint violations into kConflict/kNotFound with a precise message.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace banger::sql {

// Owns one sqlite3 connection.
class Connection {
 public:
  // Opens (creating if needed) `path` for reading and writing.
  static Result<Connection> Open(const std::string& path);
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&&) = delete;
  ~Connection();

  sqlite3* get() const { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// Runs one or more semicolon-separated statements, discarding any rows.
Status Exec(sqlite3* db, std::string_view sql);

// A text parameter bound as NULL when empty (for nullable UNIQUE columns).
struct NullIfEmpty {
  std::string_view value;
};

// One prepared statement. Parameters are 1-based as in the C API.
class Statement {
 public:
  static Result<Statement> Prepare(sqlite3* db, std::string_view sql);
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Bind failures are programming errors (bad index); the first one is
  // reported by the next Step() so call sites stay linear.
  Statement& Bind(int index, std::string_view value);
  Statement& Bind(int index, const char* value) { return Bind(index, std::string_view(value)); }
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, int value) { return Bind(index, static_cast<int64_t>(value)); }
  Statement& Bind(int index, bool value) { return Bind(index, static_cast<int64_t>(value ? 1 : 0)); }
  // Binds NULL for an empty string (for nullable UNIQUE columns).
  Statement& BindOrNull(int index, std::string_view value);
  Statement& Bind(int index, NullIfEmpty v) { return BindOrNull(index, v.value); }
  // Binds ?1, ?2, ... to `values`, in order.
  template <typename... Ts>
  Statement& BindAll(const Ts&... values) {
    int index = 0;
    (Bind(++index, values), ...);
    return *this;
  }

  // Advances; true when a row is available, false when done.
  Result<bool> Step();
  // Steps to completion, for statements that return no rows.
  Status Run();

  std::string ColumnText(int col) const;  // NULL reads as ""
  int64_t ColumnInt64(int col) const;     // NULL reads as 0

  // Extended result code of the last failed Step() (SQLITE_OK if none).
  int error_code() const { return error_code_; }
  // sqlite's message for the last failed Step(), e.g.
  // "UNIQUE constraint failed: vms.name".
  const std::string& error_text() const { return error_text_; }

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void NoteBind(int rc);

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_error_ = SQLITE_OK;
  int error_code_ = SQLITE_OK;
  std::string error_text_;
};

// BEGIN IMMEDIATE on construction (taking the write lock up front so a
// read-then-write transaction cannot fail with SQLITE_BUSY half way);
// ROLLBACK on destruction unless Commit() succeeded.
class Transaction {
 public:
  static Result<Transaction> Begin(sqlite3* db);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  Status Commit();

 private:
  explicit Transaction(sqlite3* db) : db_(db) {}
  sqlite3* db_;  // null once committed or moved from
};

// The columns named in a constraint error message: for
// "UNIQUE constraint failed: vms.name" returns "vms.name".
std::string_view ConstraintTarget(std::string_view error_text);

// True for the extended codes of UNIQUE and PRIMARY KEY violations.
bool IsUniqueViolation(int error_code);

}  // namespace banger::sql
