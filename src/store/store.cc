#include "store/store.h"

#include <mutex>
#include <string_view>
#include <utility>

#include "model/json.h"
#include "store/migrations.h"
#include "store/rows.h"
#include "store/sqlite.h"

namespace banger {

namespace {

using rows::Collect;
using rows::Decoder;
using rows::DumpJson;
using rows::Quoted;

// What Find() looks up: `select` reads one table whose rows have id and
// name columns; `scope` is an optional extra condition on ?2 (scope_arg).
struct LookupQuery {
  const char* kind;  // "vm", "image", "session": used in messages
  std::string_view select;
  std::string_view scope;
  std::string scope_arg;
  std::string scope_desc;  // appended to the not-found message
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(sql::Connection conn) : conn_(std::move(conn)) {}

  Result<int> SchemaVersion() override {
    std::lock_guard lock(mu_);
    return AppliedSchemaVersion(db());
  }

  // ---- images ----

  Status InsertImage(const Image& image) override {
    std::lock_guard lock(mu_);
    return WriteRow(
        "INSERT INTO images(id, name, managed, artifact_dir, rootfs_path, work_seed_path, kernel_path, "
        "initrd_path, modules_dir, build_size, seeded_ssh_public_key_fingerprint, docker, created_at, "
        "updated_at, source_json, size_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
        "?13, "
        "?14, ?15, ?16)",
        image, rows::BindImage, rows::ImageWriteError);
  }

  Status UpdateImage(const Image& image) override {
    std::lock_guard lock(mu_);
    BANGER_RETURN_IF_ERROR(WriteRow(
        "UPDATE images SET name = ?2, managed = ?3, artifact_dir = ?4, rootfs_path = ?5, "
        "work_seed_path = ?6, kernel_path = ?7, initrd_path = ?8, modules_dir = ?9, build_size = ?10, "
        "seeded_ssh_public_key_fingerprint = ?11, docker = ?12, created_at = ?13, updated_at = ?14, "
        "source_json = ?15, size_bytes = ?16 "
        "WHERE id = ?1",
        image, rows::BindImage, rows::ImageWriteError));
    return CheckChanged("image", image.id);
  }

  Result<Image> GetImage(const std::string& id_or_name) override {
    std::lock_guard lock(mu_);
    return Find(LookupQuery{"image", rows::kSelectImage, {}, {}, {}}, id_or_name, rows::DecodeImage);
  }

  Result<std::vector<Image>> ListImages() override {
    std::lock_guard lock(mu_);
    return Query(std::string(rows::kSelectImage) + " ORDER BY name", rows::DecodeImage, "listing images");
  }

  Status DeleteImage(const std::string& id) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare("DELETE FROM images WHERE id = ?1"));
    st.Bind(1, id);
    if (Status s = st.Run(); !s.ok()) {
      if (st.error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) return ImageInUse(id);
      return std::move(s).error().Wrap("deleting image " + id);
    }
    return CheckChanged("image", id);
  }

  Result<int> CountVmsUsingImage(const std::string& image_id) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare("SELECT COUNT(*) FROM vms WHERE image_id = ?1"));
    st.Bind(1, image_id);
    auto row = st.Step();
    if (!row.ok()) return row.error().Wrap("counting vms using image " + image_id);
    return static_cast<int>(st.ColumnInt64(0));
  }

  // ---- vms ----

  Status InsertVm(const VmRecord& vm) override {
    std::lock_guard lock(mu_);
    return WriteRow(
        "INSERT INTO vms(id, name, image_id, state, created_at, updated_at, last_touched_at, spec_json, "
        "runtime_json, stats_json, labels_json, request_id) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        vm, rows::BindVm, rows::VmWriteError);
  }

  Status UpdateVm(const VmRecord& vm) override {
    std::lock_guard lock(mu_);
    BANGER_RETURN_IF_ERROR(
        WriteRow("UPDATE vms SET name = ?2, image_id = ?3, state = ?4, created_at = ?5, updated_at = ?6, "
                 "last_touched_at = ?7, spec_json = ?8, runtime_json = ?9, stats_json = ?10, "
                 "labels_json = ?11, request_id = ?12 WHERE id = ?1",
                 vm, rows::BindVm, rows::VmWriteError));
    return CheckChanged("vm", vm.id);
  }

  Status TouchVm(const std::string& id, Timestamp at) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare("UPDATE vms SET last_touched_at = ?2 WHERE id = ?1"));
    st.Bind(1, id).Bind(2, FormatRfc3339(at));
    return RunOnOneRow(st, "vm", id, "touching vm " + Quoted(id));
  }

  Status UpdateVmStats(const std::string& id, const VmStats& stats) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare("UPDATE vms SET stats_json = ?2 WHERE id = ?1"));
    st.Bind(1, id).Bind(2, DumpJson(ToJson(stats)));
    return RunOnOneRow(st, "vm", id, "saving stats of vm " + Quoted(id));
  }

  Result<VmRecord> GetVm(const std::string& id_or_name) override {
    std::lock_guard lock(mu_);
    return Find(LookupQuery{"vm", rows::kSelectVm, {}, {}, {}}, id_or_name, rows::DecodeVm);
  }

  Result<std::optional<VmRecord>> FindVmByRequestId(const std::string& request_id) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(std::vector<VmRecord> vms,
                            Query(std::string(rows::kSelectVm) + " WHERE request_id = ?1", rows::DecodeVm,
                                  "finding vm by request id " + Quoted(request_id), request_id));
    if (vms.empty()) return std::optional<VmRecord>();
    return std::optional<VmRecord>(std::move(vms.front()));
  }

  Result<std::vector<VmRecord>> ListVms(const Labels& selector) override {
    std::lock_guard lock(mu_);
    auto vms =
        Query(std::string(rows::kSelectVm) + " ORDER BY created_at, name", rows::DecodeVm, "listing vms");
    if (!vms.ok()) return vms;
    std::erase_if(*vms, [&](const VmRecord& vm) { return !rows::HasLabels(vm.labels, selector); });
    return vms;
  }

  Status DeleteVm(const std::string& id) override {
    std::lock_guard lock(mu_);
    // Sessions and workspaces go with it via ON DELETE CASCADE.
    return DeleteById("vms", "vm", id);
  }

  // ---- guest sessions ----

  Status UpsertSession(const GuestSession& s) override {
    std::lock_guard lock(mu_);
    return WriteRow(
        "INSERT INTO guest_sessions(id, vm_id, name, status, created_at, updated_at, body_json) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE SET vm_id = excluded.vm_id, "
        "name = excluded.name, status = excluded.status, created_at = excluded.created_at, "
        "updated_at = excluded.updated_at, body_json = excluded.body_json",
        s, rows::BindSession, rows::SessionWriteError);
  }

  Result<GuestSession> GetSession(const std::string& id_or_name, const std::string& vm_id) override {
    std::lock_guard lock(mu_);
    LookupQuery q{"session", rows::kSelectSession, {}, {}, {}};
    if (!vm_id.empty()) q = {"session", rows::kSelectSession, " AND vm_id = ?2", vm_id, " in vm " + vm_id};
    return Find(q, id_or_name, rows::DecodeSession);
  }

  Result<std::vector<GuestSession>> ListSessions(const std::string& vm_id) override {
    std::lock_guard lock(mu_);
    return Query(
        std::string(rows::kSelectSession) + " WHERE ?1 = '' OR vm_id = ?1 ORDER BY created_at, name, id",
        rows::DecodeSession, "listing sessions", vm_id);
  }

  Status DeleteSession(const std::string& id) override {
    std::lock_guard lock(mu_);
    return DeleteById("guest_sessions", "session", id);
  }

  // ---- workspaces ----

  Status UpsertWorkspace(const WorkspacePrepareResult& w) override {
    std::lock_guard lock(mu_);
    return WriteRow(
        "INSERT INTO workspaces(vm_id, guest_path, body_json, prepared_at) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT(vm_id, guest_path) DO UPDATE SET body_json = excluded.body_json, "
        "prepared_at = excluded.prepared_at",
        w, rows::BindWorkspace, rows::WorkspaceWriteError);
  }

  Result<std::vector<WorkspacePrepareResult>> ListWorkspaces(const std::string& vm_id) override {
    std::lock_guard lock(mu_);
    return Query("SELECT vm_id, guest_path, body_json FROM workspaces WHERE vm_id = ?1 ORDER BY guest_path",
                 rows::DecodeWorkspace, "listing workspaces of vm " + vm_id, vm_id);
  }

  // ---- snapshots ----

  Status InsertSnapshot(const VmSnapshot& s) override {
    std::lock_guard lock(mu_);
    return WriteRow(
        "INSERT INTO snapshots(id, vm_id, name, backend, image_id, kernel_identity, vcpu_count, memory_mib, "
        "files_json, bytes_on_disk, suspend, complete, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        s, rows::BindSnapshot, rows::SnapshotWriteError);
  }

  Status UpdateSnapshot(const VmSnapshot& s) override {
    std::lock_guard lock(mu_);
    BANGER_RETURN_IF_ERROR(
        WriteRow("UPDATE snapshots SET vm_id = ?2, name = ?3, backend = ?4, image_id = ?5, "
                 "kernel_identity = ?6, vcpu_count = ?7, memory_mib = ?8, files_json = ?9, "
                 "bytes_on_disk = ?10, suspend = ?11, complete = ?12, created_at = ?13 WHERE id = ?1",
                 s, rows::BindSnapshot, rows::SnapshotWriteError));
    return CheckChanged("snapshot", s.id);
  }

  Result<VmSnapshot> GetSnapshot(const std::string& vm_id, const std::string& id_or_name) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(
        std::vector<VmSnapshot> found,
        Query(std::string(rows::kSelectSnapshot) + " WHERE vm_id = ?1 AND (id = ?2 OR name = ?2) LIMIT 1",
              rows::DecodeSnapshot, "looking up snapshot " + Quoted(id_or_name), vm_id, id_or_name));
    if (found.empty()) return Error::NotFound("snapshot " + Quoted(id_or_name) + " not found");
    return std::move(found.front());
  }

  Result<std::vector<VmSnapshot>> ListSnapshots(const std::string& vm_id) override {
    std::lock_guard lock(mu_);
    return Query(
        std::string(rows::kSelectSnapshot) + " WHERE ?1 = '' OR vm_id = ?1 ORDER BY created_at, rowid",
        rows::DecodeSnapshot, "listing snapshots", vm_id);
  }

  Status DeleteSnapshot(const std::string& id) override {
    std::lock_guard lock(mu_);
    return DeleteById("snapshots", "snapshot", id);
  }

  // ---- templates ----

  Status PutTemplate(const VmTemplate& t) override {
    std::lock_guard lock(mu_);
    return WriteRow(
        "INSERT OR REPLACE INTO templates(id, image_id, complete, created_at, body_json) "
        "VALUES (?1, ?2, ?3, ?4, ?5)",
        t, rows::BindTemplate, rows::TemplateWriteError);
  }

  Result<std::vector<VmTemplate>> ListTemplates() override {
    std::lock_guard lock(mu_);
    return Query("SELECT id, body_json FROM templates ORDER BY created_at, rowid", rows::DecodeTemplate,
                 "listing templates");
  }

  Status DeleteTemplate(const std::string& id) override {
    std::lock_guard lock(mu_);
    return DeleteById("templates", "template", id);
  }

  // ---- published ports ----

  Status InsertPort(const PortMapping& p) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(sql::Statement st,
                            Prepare("INSERT INTO ports(host_ip, host_port, protocol, vm_id, guest_port, "
                                    "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
    st.BindAll(p.host_ip, p.host_port, p.protocol, p.vm_id, p.guest_port, FormatRfc3339(Now()));
    if (Status s = st.Run(); !s.ok()) {
      if (st.error_code() == SQLITE_CONSTRAINT_FOREIGNKEY)
        return Error::NotFound("vm " + Quoted(p.vm_id) + " not found");
      if (st.error_code() == SQLITE_CONSTRAINT_PRIMARYKEY || st.error_code() == SQLITE_CONSTRAINT_UNIQUE) {
        auto owner = Prepare(
            "SELECT COALESCE((SELECT name FROM vms WHERE id = vm_id), vm_id) FROM ports "
            "WHERE host_ip = ?1 AND host_port = ?2 AND protocol = ?3");
        std::string who = "another vm";
        if (owner.ok()) {
          owner->BindAll(p.host_ip, p.host_port, p.protocol);
          if (auto row = owner->Step(); row.ok() && *row) who = "vm " + owner->ColumnText(0);
        }
        return Error::Conflict("host port " + p.host_ip + ":" + std::to_string(p.host_port) + "/" +
                               p.protocol + " is already published by " + who);
      }
      return std::move(s).error().Wrap("recording port " + p.Spec());
    }
    return OkStatus();
  }

  Status DeletePort(const PortMapping& p) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(
        sql::Statement st,
        Prepare("DELETE FROM ports WHERE vm_id = ?1 AND host_ip = ?2 AND host_port = ?3 AND protocol = ?4"));
    st.BindAll(p.vm_id, p.host_ip, p.host_port, p.protocol);
    if (Status s = st.Run(); !s.ok()) return std::move(s).error().Wrap("deleting port " + p.Spec());
    if (sqlite3_changes(db()) == 0) {
      return Error::NotFound("host port " + p.host_ip + ":" + std::to_string(p.host_port) + "/" + p.protocol +
                             " is not published by this vm");
    }
    return OkStatus();
  }

  Result<std::vector<PortMapping>> ListPorts(const std::string& vm_id) override {
    std::lock_guard lock(mu_);
    return Query(
        "SELECT vm_id, host_ip, host_port, guest_port, protocol FROM ports WHERE ?1 = '' OR vm_id = ?1 "
        "ORDER BY host_ip, host_port, protocol",
        DecodePort, "listing ports", vm_id);
  }

  // ---- events ----

  Result<int64_t> AppendEvent(Event& ev) override {
    std::lock_guard lock(mu_);
    if (ev.at.time_since_epoch().count() == 0) ev.at = Now();
    BANGER_ASSIGN_OR_RETURN(
        sql::Statement st,
        Prepare("INSERT INTO events(at, type, vm_id, vm_name, data_json) VALUES (?1, ?2, ?3, ?4, ?5)"));
    st.BindAll(FormatRfc3339(ev.at), ev.type, sql::NullIfEmpty{ev.vm_id}, sql::NullIfEmpty{ev.vm_name},
               DumpJson(ev.data));
    if (Status s = st.Run(); !s.ok()) return std::move(s).error().Wrap("appending event " + ev.type);
    ev.seq = sqlite3_last_insert_rowid(db());
    return ev.seq;
  }

  Result<std::vector<Event>> EventsAfter(int64_t after, int limit) override {
    std::lock_guard lock(mu_);
    // SQLite reads a negative LIMIT as "no limit"; the contract is "at most".
    if (limit <= 0) return std::vector<Event>();
    return Query(
        "SELECT seq, at, type, vm_id, vm_name, data_json FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        rows::DecodeEvent, "reading events", after, limit);
  }

  Result<int64_t> LastEventSeq() override {
    std::lock_guard lock(mu_);
    // sqlite_sequence keeps the highest seq ever issued, so the answer does
    // not go backwards when TrimEvents empties the table.
    BANGER_ASSIGN_OR_RETURN(sql::Statement st,
                            Prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'"));
    auto row = st.Step();
    if (!row.ok()) return row.error().Wrap("reading last event seq");
    return *row ? st.ColumnInt64(0) : 0;
  }

  Status TrimEvents(int64_t keep) override {
    std::lock_guard lock(mu_);
    if (keep < 0) return Error::Invalid("events to keep must not be negative, got " + std::to_string(keep));
    // Deletes everything at or below the (keep+1)-th newest seq; when there
    // are at most `keep` events the subquery is NULL and nothing matches.
    BANGER_ASSIGN_OR_RETURN(
        sql::Statement st,
        Prepare(
            "DELETE FROM events WHERE seq <= (SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?1)"));
    st.Bind(1, keep);
    if (Status s = st.Run(); !s.ok()) return std::move(s).error().Wrap("trimming events");
    return OkStatus();
  }

 private:
  static Result<PortMapping> DecodePort(const sql::Statement& st) {
    PortMapping p;
    p.vm_id = st.ColumnText(0);
    p.host_ip = st.ColumnText(1);
    p.host_port = static_cast<int>(st.ColumnInt64(2));
    p.guest_port = static_cast<int>(st.ColumnInt64(3));
    p.protocol = st.ColumnText(4);
    return p;
  }

  sqlite3* db() const { return conn_.get(); }

  Result<sql::Statement> Prepare(std::string_view sql) { return sql::Statement::Prepare(db(), sql); }

  // Runs a SELECT with ?1, ?2, ... bound to `args` and decodes every row; a
  // failure is wrapped with `doing`.
  template <typename T, typename... Args>
  Result<std::vector<T>> Query(std::string_view query, Decoder<T> decode, const std::string& doing,
                               const Args&... args) {
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare(query));
    st.BindAll(args...);
    auto found = Collect(st, decode);
    if (!found.ok()) return found.error().Wrap(doing);
    return found;
  }

  // Prepares `query`, binds `row` with `bind` and runs it; a failure becomes
  // `on_error`'s kConflict/kNotFound or wrapped error.
  template <typename Row>
  Status WriteRow(std::string_view query, const Row& row, void (*bind)(sql::Statement&, const Row&),
                  Error (*on_error)(const sql::Statement&, const Row&, Error)) {
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare(query));
    bind(st, row);
    if (Status s = st.Run(); !s.ok()) return on_error(st, row, std::move(s).error());
    return OkStatus();
  }

  // Runs a bound UPDATE/DELETE keyed by `id`: a failure is wrapped with
  // `doing`, and changing no row is kNotFound for the `kind` named `id`.
  Status RunOnOneRow(sql::Statement& st, const char* kind, const std::string& id, const std::string& doing) {
    if (Status s = st.Run(); !s.ok()) return std::move(s).error().Wrap(doing);
    return CheckChanged(kind, id);
  }

  // Deletes the row of `table` with `id`; kNotFound for the `kind` named `id`
  // when there is none.
  Status DeleteById(const std::string& table, const char* kind, const std::string& id) {
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare("DELETE FROM " + table + " WHERE id = ?1"));
    st.Bind(1, id);
    return RunOnOneRow(st, kind, id, std::string("deleting ") + kind + " " + id);
  }

  // kNotFound for the `kind` named `id` when the last statement changed no row.
  Status CheckChanged(const char* kind, const std::string& id) {
    if (sqlite3_changes(db()) == 0)
      return Error::NotFound(std::string(kind) + " " + Quoted(id) + " not found");
    return OkStatus();
  }

  // Resolves `key` as an exact id, then an exact name, then an unambiguous
  // id prefix. A name can only be ambiguous for sessions (unique per VM).
  template <typename T>
  Result<T> Find(const LookupQuery& q, const std::string& key, Decoder<T> decode) {
    struct Attempt {
      const char* condition;
      const char* field;  // for the ambiguity message
      std::string arg;
    };
    std::vector<Attempt> attempts = {{"id = ?1", "id", key}, {"name = ?1", "name", key}};
    if (rows::IsIdPrefix(key)) attempts.push_back({"id GLOB ?1", "id prefix", rows::ToLower(key) + "*"});

    for (const Attempt& a : attempts) {
      BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare(std::string(q.select) + " WHERE " + a.condition +
                                                         std::string(q.scope) + " LIMIT 2"));
      st.Bind(1, a.arg);
      if (!q.scope.empty()) st.Bind(2, q.scope_arg);
      auto rows = Collect(st, decode);
      if (!rows.ok()) return rows.error().Wrap(std::string("looking up ") + q.kind + " " + Quoted(key));
      if (rows->size() == 1) return std::move(rows->front());
      if (rows->size() > 1) {
        return Error::Conflict(std::string(q.kind) + " " + a.field + " " + Quoted(key) +
                               " is ambiguous (matches several " + q.kind + "s)");
      }
    }
    return Error::NotFound(std::string(q.kind) + " " + Quoted(key) + " not found" + q.scope_desc);
  }

  // The kConflict for deleting an image that VMs still reference. Only
  // called after a foreign-key failure, so the image row exists.
  Error ImageInUse(const std::string& id) {
    auto st =
        Prepare("SELECT name, (SELECT COUNT(*) FROM vms WHERE image_id = ?1) FROM images WHERE id = ?1");
    if (!st.ok()) return st.error();
    st->Bind(1, id);
    auto row = st->Step();
    if (!row.ok()) return row.error().Wrap("counting vms using image " + id);
    if (!*row) return Error::NotFound("image " + Quoted(id) + " not found");
    return Error::Conflict("image " + st->ColumnText(0) + " is used by " +
                           std::to_string(st->ColumnInt64(1)) + " vm(s)");
  }

  std::mutex mu_;
  sql::Connection conn_;
};

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  BANGER_ASSIGN_OR_RETURN(sql::Connection conn, sql::Connection::Open(path));
  // busy_timeout first so the WAL switch and migrations wait out another
  // process's lock instead of failing. foreign_keys is per connection and
  // is what makes image deletion and session/workspace cascades work.
  std::string pragmas = "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";
  if (path != ":memory:") pragmas += " PRAGMA journal_mode = WAL;";
  if (Status s = sql::Exec(conn.get(), pragmas); !s.ok()) {
    return s.error().Wrap("configuring database " + path);
  }
  if (Status s = Migrate(conn.get()); !s.ok()) return s.error().Wrap("migrating database " + path);
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(std::move(conn)));
}

}  // namespace banger
