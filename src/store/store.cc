#include "store/store.h"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <string_view>
#include <utility>

#include "model/json.h"
#include "store/migrations.h"
#include "store/sqlite.h"

namespace banger {

namespace {

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

// nlohmann's dump() throws on invalid UTF-8; replacing keeps exceptions out
// of the store and still round-trips every valid string.
std::string DumpJson(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// Ids are lowercase hex, so only a hex key can be an id prefix; requiring 8
// characters keeps a short typo from silently picking some VM.
bool IsIDPrefix(const std::string& key) {
  return key.size() >= 8 &&
         std::all_of(key.begin(), key.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

std::string ToLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// ---- row decoding: a row that does not decode is reported with its key ----

template <typename T>
using Decoder = Result<T> (*)(const sql::Statement&);

template <typename T>
Result<std::vector<T>> Collect(sql::Statement& st, Decoder<T> decode) {
  std::vector<T> out;
  while (true) {
    BANGER_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    BANGER_ASSIGN_OR_RETURN(T value, decode(st));
    out.push_back(std::move(value));
  }
}

Error CorruptRow(const std::string& what, const Error& cause) {
  return Error::Internal("corrupt " + what + " in database: " + cause.message());
}

Result<Timestamp> TimeColumn(const sql::Statement& st, int col, const char* name) {
  auto t = ParseRfc3339(st.ColumnText(col));
  if (!t.ok()) return t.error().Wrap(name);
  return t;
}

Result<Json> JsonColumn(const sql::Statement& st, int col, const char* name) {
  auto j = ParseJson(st.ColumnText(col));
  if (!j.ok()) return j.error().Wrap(name);
  return j;
}

Result<Labels> LabelsFromJson(const Json& j) {
  Error bad = Error::Invalid("labels_json: must be an object of strings");
  if (!j.is_object()) return bad;
  Labels labels;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it->is_string()) return bad;
    labels[it.key()] = it->get<std::string>();
  }
  return labels;
}

// ---- images ----

constexpr std::string_view kSelectImage =
    "SELECT id, name, managed, artifact_dir, rootfs_path, work_seed_path, kernel_path, initrd_path, "
    "modules_dir, build_size, seeded_ssh_public_key_fingerprint, docker, created_at, updated_at FROM images";

Status DecodeImageColumns(const sql::Statement& st, Image& img) {
  img.name = st.ColumnText(1);
  img.managed = st.ColumnInt64(2) != 0;
  img.artifact_dir = st.ColumnText(3);
  img.rootfs_path = st.ColumnText(4);
  img.work_seed_path = st.ColumnText(5);
  img.kernel_path = st.ColumnText(6);
  img.initrd_path = st.ColumnText(7);
  img.modules_dir = st.ColumnText(8);
  img.build_size = st.ColumnText(9);
  img.seeded_ssh_public_key_fingerprint = st.ColumnText(10);
  img.docker = st.ColumnInt64(11) != 0;
  BANGER_ASSIGN_OR_RETURN(img.created_at, TimeColumn(st, 12, "created_at"));
  BANGER_ASSIGN_OR_RETURN(img.updated_at, TimeColumn(st, 13, "updated_at"));
  return OkStatus();
}

Result<Image> DecodeImage(const sql::Statement& st) {
  Image img;
  img.id = st.ColumnText(0);
  if (Status s = DecodeImageColumns(st, img); !s.ok()) return CorruptRow("image row " + img.id, s.error());
  return img;
}

// Binds ?1..?14 in kSelectImage's column order.
void BindImage(sql::Statement& st, const Image& img) {
  st.Bind(1, img.id)
      .Bind(2, img.name)
      .Bind(3, img.managed)
      .Bind(4, img.artifact_dir)
      .Bind(5, img.rootfs_path)
      .Bind(6, img.work_seed_path)
      .Bind(7, img.kernel_path)
      .Bind(8, img.initrd_path)
      .Bind(9, img.modules_dir)
      .Bind(10, img.build_size)
      .Bind(11, img.seeded_ssh_public_key_fingerprint)
      .Bind(12, img.docker)
      .Bind(13, FormatRfc3339(img.created_at))
      .Bind(14, FormatRfc3339(img.updated_at));
}

Error ImageWriteError(const sql::Statement& st, const Image& img, Error err) {
  if (sql::IsUniqueViolation(st.error_code())) {
    std::string_view target = sql::ConstraintTarget(st.error_text());
    if (target == "images.name") {
      return Error::Conflict("image name " + Quoted(img.name) + " is already in use");
    }
    if (target == "images.id") return Error::Conflict("image id " + img.id + " already exists");
  }
  return std::move(err).Wrap("writing image " + img.name);
}

// ---- vms ----

constexpr std::string_view kSelectVM =
    "SELECT id, name, image_id, state, created_at, updated_at, last_touched_at, spec_json, runtime_json, "
    "stats_json, labels_json, request_id FROM vms";

Status DecodeVMColumns(const sql::Statement& st, VMRecord& vm) {
  vm.name = st.ColumnText(1);
  vm.image_id = st.ColumnText(2);
  BANGER_ASSIGN_OR_RETURN(vm.state, ParseVMState(st.ColumnText(3)));
  BANGER_ASSIGN_OR_RETURN(vm.created_at, TimeColumn(st, 4, "created_at"));
  BANGER_ASSIGN_OR_RETURN(vm.updated_at, TimeColumn(st, 5, "updated_at"));
  BANGER_ASSIGN_OR_RETURN(vm.last_touched_at, TimeColumn(st, 6, "last_touched_at"));
  BANGER_ASSIGN_OR_RETURN(Json spec, JsonColumn(st, 7, "spec_json"));
  BANGER_ASSIGN_OR_RETURN(vm.spec, VMSpecFromJson(spec));
  BANGER_ASSIGN_OR_RETURN(Json runtime, JsonColumn(st, 8, "runtime_json"));
  BANGER_ASSIGN_OR_RETURN(vm.runtime, VMRuntimeFromJson(runtime));
  BANGER_ASSIGN_OR_RETURN(Json stats, JsonColumn(st, 9, "stats_json"));
  BANGER_ASSIGN_OR_RETURN(vm.stats, VMStatsFromJson(stats));
  BANGER_ASSIGN_OR_RETURN(Json labels, JsonColumn(st, 10, "labels_json"));
  BANGER_ASSIGN_OR_RETURN(vm.labels, LabelsFromJson(labels));
  vm.request_id = st.ColumnText(11);
  return OkStatus();
}

Result<VMRecord> DecodeVM(const sql::Statement& st) {
  VMRecord vm;
  vm.id = st.ColumnText(0);
  if (Status s = DecodeVMColumns(st, vm); !s.ok()) return CorruptRow("vm row " + vm.id, s.error());
  return vm;
}

// Binds ?1..?12 in kSelectVM's column order. The state column mirrors
// vm.state so it can be queried without decoding runtime_json.
void BindVM(sql::Statement& st, const VMRecord& vm) {
  st.Bind(1, vm.id)
      .Bind(2, vm.name)
      .Bind(3, vm.image_id)
      .Bind(4, VMStateName(vm.state))
      .Bind(5, FormatRfc3339(vm.created_at))
      .Bind(6, FormatRfc3339(vm.updated_at))
      .Bind(7, FormatRfc3339(vm.last_touched_at))
      .Bind(8, DumpJson(ToJson(vm.spec)))
      .Bind(9, DumpJson(ToJson(vm.runtime)))
      .Bind(10, DumpJson(ToJson(vm.stats)))
      .Bind(11, DumpJson(Json(vm.labels)))
      .BindOrNull(12, vm.request_id);
}

Error VMWriteError(const sql::Statement& st, const VMRecord& vm, Error err) {
  if (sql::IsUniqueViolation(st.error_code())) {
    std::string_view target = sql::ConstraintTarget(st.error_text());
    if (target == "vms.name") return Error::Conflict("vm name " + Quoted(vm.name) + " is already in use");
    if (target == "vms.request_id") {
      return Error::Conflict("request id " + Quoted(vm.request_id) + " is already used by another vm");
    }
    if (target == "vms.id") return Error::Conflict("vm id " + vm.id + " already exists");
  }
  if (st.error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) {
    return Error::NotFound("image " + Quoted(vm.image_id) + " not found");
  }
  return std::move(err).Wrap("writing vm " + vm.name);
}

bool HasLabels(const Labels& labels, const Labels& selector) {
  return std::all_of(selector.begin(), selector.end(), [&](const auto& kv) {
    auto it = labels.find(kv.first);
    return it != labels.end() && it->second == kv.second;
  });
}

// ---- sessions, workspaces, events ----

constexpr std::string_view kSelectSession = "SELECT id, body_json FROM guest_sessions";

Result<GuestSession> DecodeSession(const sql::Statement& st) {
  std::string id = st.ColumnText(0);
  auto body = JsonColumn(st, 1, "body_json");
  if (!body.ok()) return CorruptRow("session row " + id, body.error());
  auto s = GuestSessionFromJson(*body);
  if (!s.ok()) return CorruptRow("session row " + id, s.error());
  return s;
}

Result<WorkspacePrepareResult> DecodeWorkspace(const sql::Statement& st) {
  std::string key = st.ColumnText(0) + ":" + st.ColumnText(1);
  auto body = JsonColumn(st, 2, "body_json");
  if (!body.ok()) return CorruptRow("workspace row " + key, body.error());
  auto w = WorkspacePrepareResultFromJson(*body);
  if (!w.ok()) return CorruptRow("workspace row " + key, w.error());
  return w;
}

Status DecodeEventColumns(const sql::Statement& st, Event& ev) {
  BANGER_ASSIGN_OR_RETURN(ev.at, TimeColumn(st, 1, "at"));
  ev.type = st.ColumnText(2);
  ev.vm_id = st.ColumnText(3);
  ev.vm_name = st.ColumnText(4);
  BANGER_ASSIGN_OR_RETURN(ev.data, JsonColumn(st, 5, "data_json"));
  return OkStatus();
}

Result<Event> DecodeEvent(const sql::Statement& st) {
  Event ev;
  ev.seq = st.ColumnInt64(0);
  if (Status s = DecodeEventColumns(st, ev); !s.ok()) {
    return CorruptRow("event " + std::to_string(ev.seq), s.error());
  }
  return ev;
}

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
    BANGER_ASSIGN_OR_RETURN(sql::Statement st,
                            Prepare("INSERT INTO images(id, name, managed, artifact_dir, rootfs_path, "
                                    "work_seed_path, kernel_path, initrd_path, modules_dir, build_size, "
                                    "seeded_ssh_public_key_fingerprint, docker, created_at, updated_at) "
                                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"));
    BindImage(st, image);
    if (Status s = st.Run(); !s.ok()) return ImageWriteError(st, image, std::move(s).error());
    return OkStatus();
  }

  Status UpdateImage(const Image& image) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(
        sql::Statement st,
        Prepare(
            "UPDATE images SET name = ?2, managed = ?3, artifact_dir = ?4, rootfs_path = ?5, "
            "work_seed_path = ?6, kernel_path = ?7, initrd_path = ?8, modules_dir = ?9, build_size = ?10, "
            "seeded_ssh_public_key_fingerprint = ?11, docker = ?12, created_at = ?13, updated_at = ?14 "
            "WHERE id = ?1"));
    BindImage(st, image);
    if (Status s = st.Run(); !s.ok()) return ImageWriteError(st, image, std::move(s).error());
    if (sqlite3_changes(db()) == 0) return Error::NotFound("image " + Quoted(image.id) + " not found");
    return OkStatus();
  }

  Result<Image> GetImage(const std::string& id_or_name) override {
    std::lock_guard lock(mu_);
    return Find(LookupQuery{"image", kSelectImage, {}, {}, {}}, id_or_name, DecodeImage);
  }

  Result<std::vector<Image>> ListImages() override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare(std::string(kSelectImage) + " ORDER BY name"));
    auto images = Collect(st, DecodeImage);
    if (!images.ok()) return images.error().Wrap("listing images");
    return images;
  }

  Status DeleteImage(const std::string& id) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare("DELETE FROM images WHERE id = ?1"));
    st.Bind(1, id);
    if (Status s = st.Run(); !s.ok()) {
      if (st.error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) return ImageInUse(id);
      return std::move(s).error().Wrap("deleting image " + id);
    }
    if (sqlite3_changes(db()) == 0) return Error::NotFound("image " + Quoted(id) + " not found");
    return OkStatus();
  }

  Result<int> CountVMsUsingImage(const std::string& image_id) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare("SELECT COUNT(*) FROM vms WHERE image_id = ?1"));
    st.Bind(1, image_id);
    auto row = st.Step();
    if (!row.ok()) return row.error().Wrap("counting vms using image " + image_id);
    return static_cast<int>(st.ColumnInt64(0));
  }

  // ---- vms ----

  Status InsertVM(const VMRecord& vm) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(
        sql::Statement st, Prepare("INSERT INTO vms(id, name, image_id, state, created_at, updated_at, "
                                   "last_touched_at, spec_json, runtime_json, stats_json, labels_json, "
                                   "request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
    BindVM(st, vm);
    if (Status s = st.Run(); !s.ok()) return VMWriteError(st, vm, std::move(s).error());
    return OkStatus();
  }

  Status UpdateVM(const VMRecord& vm) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(
        sql::Statement st,
        Prepare("UPDATE vms SET name = ?2, image_id = ?3, state = ?4, created_at = ?5, updated_at = ?6, "
                "last_touched_at = ?7, spec_json = ?8, runtime_json = ?9, stats_json = ?10, "
                "labels_json = ?11, request_id = ?12 WHERE id = ?1"));
    BindVM(st, vm);
    if (Status s = st.Run(); !s.ok()) return VMWriteError(st, vm, std::move(s).error());
    if (sqlite3_changes(db()) == 0) return Error::NotFound("vm " + Quoted(vm.id) + " not found");
    return OkStatus();
  }

  Status TouchVM(const std::string& id, Timestamp at) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare("UPDATE vms SET last_touched_at = ?2 WHERE id = ?1"));
    st.Bind(1, id).Bind(2, FormatRfc3339(at));
    if (Status s = st.Run(); !s.ok()) return std::move(s).error().Wrap("touching vm " + Quoted(id));
    if (sqlite3_changes(db()) == 0) return Error::NotFound("vm " + Quoted(id) + " not found");
    return OkStatus();
  }

  Status UpdateVMStats(const std::string& id, const VMStats& stats) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare("UPDATE vms SET stats_json = ?2 WHERE id = ?1"));
    st.Bind(1, id).Bind(2, DumpJson(ToJson(stats)));
    if (Status s = st.Run(); !s.ok()) return std::move(s).error().Wrap("saving stats of vm " + Quoted(id));
    if (sqlite3_changes(db()) == 0) return Error::NotFound("vm " + Quoted(id) + " not found");
    return OkStatus();
  }

  Result<VMRecord> GetVM(const std::string& id_or_name) override {
    std::lock_guard lock(mu_);
    return Find(LookupQuery{"vm", kSelectVM, {}, {}, {}}, id_or_name, DecodeVM);
  }

  Result<std::optional<VMRecord>> FindVMByRequestID(const std::string& request_id) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare(std::string(kSelectVM) + " WHERE request_id = ?1"));
    st.Bind(1, request_id);
    auto vms = Collect(st, DecodeVM);
    if (!vms.ok()) return vms.error().Wrap("finding vm by request id " + Quoted(request_id));
    if (vms->empty()) return std::optional<VMRecord>();
    return std::optional<VMRecord>(std::move(vms->front()));
  }

  Result<std::vector<VMRecord>> ListVMs(const Labels& selector) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(sql::Statement st,
                            Prepare(std::string(kSelectVM) + " ORDER BY created_at, name"));
    auto vms = Collect(st, DecodeVM);
    if (!vms.ok()) return vms.error().Wrap("listing vms");
    std::erase_if(*vms, [&](const VMRecord& vm) { return !HasLabels(vm.labels, selector); });
    return vms;
  }

  Status DeleteVM(const std::string& id) override {
    std::lock_guard lock(mu_);
    // Sessions and workspaces go with it via ON DELETE CASCADE.
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare("DELETE FROM vms WHERE id = ?1"));
    st.Bind(1, id);
    if (Status s = st.Run(); !s.ok()) return std::move(s).error().Wrap("deleting vm " + id);
    if (sqlite3_changes(db()) == 0) return Error::NotFound("vm " + Quoted(id) + " not found");
    return OkStatus();
  }

  // ---- guest sessions ----

  Status UpsertSession(const GuestSession& s) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(
        sql::Statement st,
        Prepare("INSERT INTO guest_sessions(id, vm_id, name, status, created_at, updated_at, body_json) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE SET vm_id = excluded.vm_id, "
                "name = excluded.name, status = excluded.status, created_at = excluded.created_at, "
                "updated_at = excluded.updated_at, body_json = excluded.body_json"));
    st.Bind(1, s.id)
        .Bind(2, s.vm_id)
        .Bind(3, s.name)
        .Bind(4, GuestSessionStatusName(s.status))
        .Bind(5, FormatRfc3339(s.created_at))
        .Bind(6, FormatRfc3339(s.updated_at))
        .Bind(7, DumpJson(ToJson(s)));
    if (Status run = st.Run(); !run.ok()) {
      if (sql::IsUniqueViolation(st.error_code())) {
        return Error::Conflict("session name " + Quoted(s.name) + " is already in use in vm " + s.vm_id);
      }
      if (st.error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return Error::NotFound("vm " + Quoted(s.vm_id) + " not found");
      }
      return std::move(run).error().Wrap("writing session " + s.id);
    }
    return OkStatus();
  }

  Result<GuestSession> GetSession(const std::string& id_or_name, const std::string& vm_id) override {
    std::lock_guard lock(mu_);
    LookupQuery q{"session", kSelectSession, {}, {}, {}};
    if (!vm_id.empty()) q = {"session", kSelectSession, " AND vm_id = ?2", vm_id, " in vm " + vm_id};
    return Find(q, id_or_name, DecodeSession);
  }

  Result<std::vector<GuestSession>> ListSessions(const std::string& vm_id) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(
        sql::Statement st,
        Prepare(std::string(kSelectSession) + " WHERE ?1 = '' OR vm_id = ?1 ORDER BY created_at, name, id"));
    st.Bind(1, vm_id);
    auto sessions = Collect(st, DecodeSession);
    if (!sessions.ok()) return sessions.error().Wrap("listing sessions");
    return sessions;
  }

  Status DeleteSession(const std::string& id) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(sql::Statement st, Prepare("DELETE FROM guest_sessions WHERE id = ?1"));
    st.Bind(1, id);
    if (Status s = st.Run(); !s.ok()) return std::move(s).error().Wrap("deleting session " + id);
    if (sqlite3_changes(db()) == 0) return Error::NotFound("session " + Quoted(id) + " not found");
    return OkStatus();
  }

  // ---- workspaces ----

  Status UpsertWorkspace(const WorkspacePrepareResult& w) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(
        sql::Statement st,
        Prepare("INSERT INTO workspaces(vm_id, guest_path, body_json, prepared_at) VALUES (?1, ?2, ?3, ?4) "
                "ON CONFLICT(vm_id, guest_path) DO UPDATE SET body_json = excluded.body_json, "
                "prepared_at = excluded.prepared_at"));
    st.Bind(1, w.vm_id)
        .Bind(2, w.guest_path)
        .Bind(3, DumpJson(ToJson(w)))
        .Bind(4, FormatRfc3339(w.prepared_at));
    if (Status s = st.Run(); !s.ok()) {
      if (st.error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return Error::NotFound("vm " + Quoted(w.vm_id) + " not found");
      }
      return std::move(s).error().Wrap("writing workspace " + w.guest_path + " of vm " + w.vm_id);
    }
    return OkStatus();
  }

  Result<std::vector<WorkspacePrepareResult>> ListWorkspaces(const std::string& vm_id) override {
    std::lock_guard lock(mu_);
    BANGER_ASSIGN_OR_RETURN(
        sql::Statement st,
        Prepare("SELECT vm_id, guest_path, body_json FROM workspaces WHERE vm_id = ?1 ORDER BY guest_path"));
    st.Bind(1, vm_id);
    auto workspaces = Collect(st, DecodeWorkspace);
    if (!workspaces.ok()) return workspaces.error().Wrap("listing workspaces of vm " + vm_id);
    return workspaces;
  }

  // ---- events ----

  Result<int64_t> AppendEvent(Event& ev) override {
    std::lock_guard lock(mu_);
    if (ev.at.time_since_epoch().count() == 0) ev.at = Now();
    BANGER_ASSIGN_OR_RETURN(
        sql::Statement st,
        Prepare("INSERT INTO events(at, type, vm_id, vm_name, data_json) VALUES (?1, ?2, ?3, ?4, ?5)"));
    st.Bind(1, FormatRfc3339(ev.at))
        .Bind(2, ev.type)
        .BindOrNull(3, ev.vm_id)
        .BindOrNull(4, ev.vm_name)
        .Bind(5, DumpJson(ev.data));
    if (Status s = st.Run(); !s.ok()) return std::move(s).error().Wrap("appending event " + ev.type);
    ev.seq = sqlite3_last_insert_rowid(db());
    return ev.seq;
  }

  Result<std::vector<Event>> EventsAfter(int64_t after, int limit) override {
    std::lock_guard lock(mu_);
    // SQLite reads a negative LIMIT as "no limit"; the contract is "at most".
    if (limit <= 0) return std::vector<Event>();
    BANGER_ASSIGN_OR_RETURN(
        sql::Statement st,
        Prepare("SELECT seq, at, type, vm_id, vm_name, data_json FROM events WHERE seq > ?1 ORDER BY seq "
                "LIMIT ?2"));
    st.Bind(1, after).Bind(2, limit);
    auto events = Collect(st, DecodeEvent);
    if (!events.ok()) return events.error().Wrap("reading events");
    return events;
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
  sqlite3* db() const { return conn_.get(); }

  Result<sql::Statement> Prepare(std::string_view sql) { return sql::Statement::Prepare(db(), sql); }

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
    if (IsIDPrefix(key)) attempts.push_back({"id GLOB ?1", "id prefix", ToLower(key) + "*"});

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
