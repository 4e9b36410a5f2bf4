// Versioned schema migrations for the store, internal to src/store.
#pragma once

#include <sqlite3.h>

#include "base/result.h"

namespace banger {

// The version of the newest migration this binary knows.
int LatestSchemaVersion();

// The highest version recorded in schema_migrations (0 for a fresh DB).
Result<int> AppliedSchemaVersion(sqlite3* db);

// Applies every pending migration, each in its own transaction together with
// its schema_migrations row. Fails without touching the schema if the DB
// records a version newer than LatestSchemaVersion().
Status Migrate(sqlite3* db);

}  // namespace banger
