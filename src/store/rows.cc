#include "store/rows.h"

#include <algorithm>
#include <cctype>

namespace banger::rows {

namespace {

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

// Decodes a row into a T with `columns`; a failure is kInternal naming `row`.
template <typename T>
Result<T> DecodeColumns(const sql::Statement& st, const std::string& row,
                        Status (*columns)(const sql::Statement&, T&)) {
  T value;
  if (Status s = columns(st, value); !s.ok()) return CorruptRow(row, s.error());
  return value;
}

// Decodes the JSON body in column `col` with `from_json`; a failure is
// kInternal naming `row`.
template <typename T>
Result<T> DecodeBody(const sql::Statement& st, int col, const std::string& row,
                     Result<T> (*from_json)(const Json&)) {
  auto body = JsonColumn(st, col, "body_json");
  if (!body.ok()) return CorruptRow(row, body.error());
  auto value = from_json(*body);
  if (!value.ok()) return CorruptRow(row, value.error());
  return value;
}

Status DecodeImageColumns(const sql::Statement& st, Image& img) {
  img.id = st.ColumnText(0);
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
  BANGER_ASSIGN_OR_RETURN(Json source, JsonColumn(st, 14, "source_json"));
  BANGER_ASSIGN_OR_RETURN(img.source, Decode<ImageSource>(source));
  img.size_bytes = st.ColumnInt64(15);
  return OkStatus();
}

Status DecodeVmColumns(const sql::Statement& st, VmRecord& vm) {
  vm.id = st.ColumnText(0);
  vm.name = st.ColumnText(1);
  vm.image_id = st.ColumnText(2);
  BANGER_ASSIGN_OR_RETURN(vm.state, ParseVmState(st.ColumnText(3)));
  BANGER_ASSIGN_OR_RETURN(vm.created_at, TimeColumn(st, 4, "created_at"));
  BANGER_ASSIGN_OR_RETURN(vm.updated_at, TimeColumn(st, 5, "updated_at"));
  BANGER_ASSIGN_OR_RETURN(vm.last_touched_at, TimeColumn(st, 6, "last_touched_at"));
  BANGER_ASSIGN_OR_RETURN(Json spec, JsonColumn(st, 7, "spec_json"));
  BANGER_ASSIGN_OR_RETURN(vm.spec, VmSpecFromJson(spec));
  BANGER_ASSIGN_OR_RETURN(Json runtime, JsonColumn(st, 8, "runtime_json"));
  BANGER_ASSIGN_OR_RETURN(vm.runtime, VmRuntimeFromJson(runtime));
  BANGER_ASSIGN_OR_RETURN(Json stats, JsonColumn(st, 9, "stats_json"));
  BANGER_ASSIGN_OR_RETURN(vm.stats, VmStatsFromJson(stats));
  BANGER_ASSIGN_OR_RETURN(Json labels, JsonColumn(st, 10, "labels_json"));
  BANGER_ASSIGN_OR_RETURN(vm.labels, LabelsFromJson(labels));
  vm.request_id = st.ColumnText(11);
  return OkStatus();
}

Status DecodeEventColumns(const sql::Statement& st, Event& ev) {
  ev.seq = st.ColumnInt64(0);
  BANGER_ASSIGN_OR_RETURN(ev.at, TimeColumn(st, 1, "at"));
  ev.type = st.ColumnText(2);
  ev.vm_id = st.ColumnText(3);
  ev.vm_name = st.ColumnText(4);
  BANGER_ASSIGN_OR_RETURN(ev.data, JsonColumn(st, 5, "data_json"));
  return OkStatus();
}

}  // namespace

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

std::string DumpJson(const Json& j) { return SafeDump(j); }

bool IsIdPrefix(const std::string& key) {
  return key.size() >= 8 &&
         std::all_of(key.begin(), key.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

std::string ToLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool HasLabels(const Labels& labels, const Labels& selector) {
  return std::all_of(selector.begin(), selector.end(), [&](const auto& kv) {
    auto it = labels.find(kv.first);
    return it != labels.end() && it->second == kv.second;
  });
}

// ---- images ----

Result<Image> DecodeImage(const sql::Statement& st) {
  return DecodeColumns(st, "image row " + st.ColumnText(0), DecodeImageColumns);
}

void BindImage(sql::Statement& st, const Image& img) {
  st.BindAll(img.id, img.name, img.managed, img.artifact_dir, img.rootfs_path, img.work_seed_path,
             img.kernel_path, img.initrd_path, img.modules_dir, img.build_size,
             img.seeded_ssh_public_key_fingerprint, img.docker, FormatRfc3339(img.created_at),
             FormatRfc3339(img.updated_at), SafeDump(ToJson(img.source)), img.size_bytes);
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

Result<VmRecord> DecodeVm(const sql::Statement& st) {
  return DecodeColumns(st, "vm row " + st.ColumnText(0), DecodeVmColumns);
}

void BindVm(sql::Statement& st, const VmRecord& vm) {
  st.BindAll(vm.id, vm.name, vm.image_id, VmStateName(vm.state), FormatRfc3339(vm.created_at),
             FormatRfc3339(vm.updated_at), FormatRfc3339(vm.last_touched_at), DumpJson(ToJson(vm.spec)),
             DumpJson(ToJson(vm.runtime)), DumpJson(ToJson(vm.stats)), DumpJson(Json(vm.labels)),
             sql::NullIfEmpty{vm.request_id});
}

Error VmWriteError(const sql::Statement& st, const VmRecord& vm, Error err) {
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

// ---- sessions, workspaces, events ----

Result<GuestSession> DecodeSession(const sql::Statement& st) {
  return DecodeBody(st, 1, "session row " + st.ColumnText(0), GuestSessionFromJson);
}

void BindSession(sql::Statement& st, const GuestSession& s) {
  st.BindAll(s.id, s.vm_id, s.name, GuestSessionStatusName(s.status), FormatRfc3339(s.created_at),
             FormatRfc3339(s.updated_at), DumpJson(ToJson(s)));
}

Error SessionWriteError(const sql::Statement& st, const GuestSession& s, Error err) {
  if (sql::IsUniqueViolation(st.error_code())) {
    return Error::Conflict("session name " + Quoted(s.name) + " is already in use in vm " + s.vm_id);
  }
  if (st.error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) {
    return Error::NotFound("vm " + Quoted(s.vm_id) + " not found");
  }
  return std::move(err).Wrap("writing session " + s.id);
}

Result<WorkspacePrepareResult> DecodeWorkspace(const sql::Statement& st) {
  return DecodeBody(st, 2, "workspace row " + st.ColumnText(0) + ":" + st.ColumnText(1),
                    WorkspacePrepareResultFromJson);
}

void BindWorkspace(sql::Statement& st, const WorkspacePrepareResult& w) {
  st.BindAll(w.vm_id, w.guest_path, DumpJson(ToJson(w)), FormatRfc3339(w.prepared_at));
}

Result<VmTemplate> DecodeTemplate(const sql::Statement& st) {
  return DecodeBody(st, 1, "template row " + st.ColumnText(0), VmTemplateFromJson);
}
void BindTemplate(sql::Statement& st, const VmTemplate& t) {
  st.BindAll(t.id, t.image_id, t.complete ? 1 : 0, FormatRfc3339(t.created_at), DumpJson(ToJson(t)));
}
Error TemplateWriteError(const sql::Statement& st, const VmTemplate& t, Error err) {
  if (st.error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) {
    return Error::NotFound("image " + Quoted(t.image_id) + " not found");
  }
  return std::move(err).Wrap("writing template " + t.id);
}
Error WorkspaceWriteError(const sql::Statement& st, const WorkspacePrepareResult& w, Error err) {
  if (st.error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) {
    return Error::NotFound("vm " + Quoted(w.vm_id) + " not found");
  }
  return std::move(err).Wrap("writing workspace " + w.guest_path + " of vm " + w.vm_id);
}

Result<VmSnapshot> DecodeSnapshot(const sql::Statement& st) {
  const std::string what = "snapshot row " + st.ColumnText(0);
  VmSnapshot s;
  s.id = st.ColumnText(0);
  s.vm_id = st.ColumnText(1);
  s.name = st.ColumnText(2);
  auto backend = ParseBackend(st.ColumnText(3));
  if (!backend.ok()) return std::move(backend).error().Wrap(what);
  s.backend = *backend;
  s.image_id = st.ColumnText(4);
  s.kernel_identity = st.ColumnText(5);
  s.vcpu_count = static_cast<int>(st.ColumnInt64(6));
  s.memory_mib = static_cast<int>(st.ColumnInt64(7));
  auto files = ParseJson(st.ColumnText(8));
  if (!files.ok() || !files->is_object()) return Error::Internal(what + ": files_json is not an object");
  s.files = std::move(*files);
  s.bytes_on_disk = st.ColumnInt64(9);
  s.suspend = st.ColumnInt64(10) != 0;
  s.complete = st.ColumnInt64(11) != 0;
  auto at = ParseRfc3339(st.ColumnText(12));
  if (!at.ok()) return std::move(at).error().Wrap(what);
  s.created_at = *at;
  return s;
}

void BindSnapshot(sql::Statement& st, const VmSnapshot& s) {
  st.BindAll(s.id, s.vm_id, s.name, std::string(BackendName(s.backend)), s.image_id, s.kernel_identity,
             int64_t{s.vcpu_count}, int64_t{s.memory_mib}, DumpJson(s.files), s.bytes_on_disk,
             int64_t{s.suspend ? 1 : 0}, int64_t{s.complete ? 1 : 0}, FormatRfc3339(s.created_at));
}

Error SnapshotWriteError(const sql::Statement& st, const VmSnapshot& s, Error err) {
  if (sql::IsUniqueViolation(st.error_code())) {
    return Error::Conflict("vm already has a snapshot named " + Quoted(s.name));
  }
  if (st.error_code() == SQLITE_CONSTRAINT_FOREIGNKEY)
    return Error::NotFound("vm " + Quoted(s.vm_id) + " not found");
  return std::move(err).Wrap("writing snapshot " + s.name);
}

Result<Event> DecodeEvent(const sql::Statement& st) {
  return DecodeColumns(st, "event " + std::to_string(st.ColumnInt64(0)), DecodeEventColumns);
}

}  // namespace banger::rows
