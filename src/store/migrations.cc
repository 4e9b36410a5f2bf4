#include "store/migrations.h"

#include <array>
#include <string>

#include "base/time.h"
#include "store/sqlite.h"

namespace banger {

namespace {

// Migration N is kMigrations[N - 1]. Append only: a released migration is
// never edited, since databases in the field have already applied it.
constexpr std::array kMigrations = {
    // 1: the initial schema. Timestamps are RFC 3339 text ("" = unset);
    // spec/runtime/stats/session/workspace bodies are the model's JSON forms.
    R"sql(
CREATE TABLE images (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  managed INTEGER NOT NULL DEFAULT 0,
  artifact_dir TEXT NOT NULL DEFAULT '',
  rootfs_path TEXT NOT NULL DEFAULT '',
  work_seed_path TEXT NOT NULL DEFAULT '',
  kernel_path TEXT NOT NULL DEFAULT '',
  initrd_path TEXT NOT NULL DEFAULT '',
  modules_dir TEXT NOT NULL DEFAULT '',
  build_size TEXT NOT NULL DEFAULT '',
  seeded_ssh_public_key_fingerprint TEXT NOT NULL DEFAULT '',
  docker INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT '',
  updated_at TEXT NOT NULL DEFAULT ''
);

CREATE TABLE vms (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  image_id TEXT NOT NULL REFERENCES images(id),
  state TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT '',
  updated_at TEXT NOT NULL DEFAULT '',
  last_touched_at TEXT NOT NULL DEFAULT '',
  spec_json TEXT NOT NULL,
  runtime_json TEXT NOT NULL,
  stats_json TEXT NOT NULL,
  labels_json TEXT NOT NULL DEFAULT '{}',
  request_id TEXT UNIQUE  -- NULL when the create had no idempotency key
);
-- Keeps the foreign-key check on image delete and CountVmsUsingImage cheap.
CREATE INDEX vms_image_id ON vms(image_id);

-- UNIQUE(vm_id, name) also serves per-VM listing and the cascade from vms.
CREATE TABLE guest_sessions (
  id TEXT PRIMARY KEY,
  vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT '',
  updated_at TEXT NOT NULL DEFAULT '',
  body_json TEXT NOT NULL,
  UNIQUE(vm_id, name)
);

CREATE TABLE workspaces (
  vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  guest_path TEXT NOT NULL,
  body_json TEXT NOT NULL,
  prepared_at TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(vm_id, guest_path)
);

-- AUTOINCREMENT so a seq is never handed out twice, even after trimming:
-- clients resume the stream from the last seq they saw.
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  type TEXT NOT NULL,
  vm_id TEXT,
  vm_name TEXT,
  data_json TEXT NOT NULL
);
)sql",
    // 2: per-VM rate limits in the spec (0 = unlimited). Older rows say so
    // explicitly rather than rely on the reader's defaults.
    R"sql(
UPDATE vms SET spec_json = json_insert(spec_json, '$.disk_bw_bytes_per_sec', 0, '$.disk_iops', 0,
                                       '$.net_bw_bytes_per_sec', 0);
)sql",
    // 3 (snapshots; to be renumbered at merge if another migration lands
    // first): VM snapshots on disk. A row is inserted with complete = 0
    // before any file is written (it reserves the name) and set complete
    // once the files are in place; the startup reconcile deletes incomplete
    // rows and their files. Depends on nothing but the vms table.
    R"sql(
CREATE TABLE snapshots (
  id TEXT PRIMARY KEY,
  vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  backend TEXT NOT NULL,
  image_id TEXT NOT NULL,
  kernel_identity TEXT NOT NULL,
  vcpu_count INTEGER NOT NULL,
  memory_mib INTEGER NOT NULL,
  files_json TEXT NOT NULL DEFAULT '{}',
  bytes_on_disk INTEGER NOT NULL DEFAULT 0,
  suspend INTEGER NOT NULL DEFAULT 0,
  complete INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT '',
  UNIQUE(vm_id, name)
);
)sql",
    // 4: template snapshots (warm start). One row per template, the record
    // as JSON in body_json; complete = 0 until its files are in place (the
    // startup reconcile removes incomplete rows and their files). Rows of a
    // deleted image are removed with it.
    R"sql(
CREATE TABLE templates (
  id TEXT PRIMARY KEY,
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  complete INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT '',
  body_json TEXT NOT NULL
);
)sql",
    // 5: published ports (`vm create -p`, `vm port add`). One row per host
    // address; the daemon listens on the ports of VMs that have a VMM
    // (daemon/port_service.h). Rows go with their VM.
    R"sql(
CREATE TABLE ports (
  host_ip TEXT NOT NULL,
  host_port INTEGER NOT NULL,
  protocol TEXT NOT NULL,
  vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
  guest_port INTEGER NOT NULL,
  created_at TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (host_ip, host_port, protocol)
);
CREATE INDEX ports_vm ON ports(vm_id);
)sql",
    // 6: where an image came from (profile, import, OCI reference + digest,
    // its layers and image config) as the model's ImageSource JSON, and the
    // bytes its files take on disk.
    R"sql(
ALTER TABLE images ADD COLUMN source_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE images ADD COLUMN size_bytes INTEGER NOT NULL DEFAULT 0;
)sql",
};

}  // namespace

int LatestSchemaVersion() { return static_cast<int>(kMigrations.size()); }

Result<int> AppliedSchemaVersion(sqlite3* db) {
  BANGER_ASSIGN_OR_RETURN(
      sql::Statement st,
      sql::Statement::Prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  BANGER_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Error::Internal("reading schema version: no result row");
  return static_cast<int>(st.ColumnInt64(0));
}

Status Migrate(sqlite3* db) {
  BANGER_RETURN_IF_ERROR(sql::Exec(db,
                                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"));
  const int latest = LatestSchemaVersion();
  while (true) {
    // The version is read inside the write transaction so two processes
    // opening the same fresh database cannot both apply a migration.
    BANGER_ASSIGN_OR_RETURN(sql::Transaction tx, sql::Transaction::Begin(db));
    BANGER_ASSIGN_OR_RETURN(int version, AppliedSchemaVersion(db));
    if (version > latest) {
      return Error::Internal("database schema version " + std::to_string(version) +
                             " is newer than this banger supports (" + std::to_string(latest) + ")");
    }
    if (version == latest) return OkStatus();

    const int next = version + 1;
    const std::string context = "applying schema migration " + std::to_string(next);
    if (Status st = sql::Exec(db, kMigrations[version]); !st.ok()) return st.error().Wrap(context);
    BANGER_ASSIGN_OR_RETURN(
        sql::Statement record,
        sql::Statement::Prepare(db, "INSERT INTO schema_migrations(version, applied_at) VALUES (?1, ?2)"));
    record.Bind(1, next).Bind(2, FormatRfc3339(Now()));
    if (Status st = record.Run(); !st.ok()) return st.error().Wrap(context);
    if (Status st = tx.Commit(); !st.ok()) return st.error().Wrap(context);
  }
}

}  // namespace banger
