#include "model/json.h"

#include <algorithm>

namespace banger {

namespace {
void PutTime(Json& j, const char* key, Timestamp t, bool omit_zero) {
  if (omit_zero && t.time_since_epoch().count() == 0) return;
  j[key] = FormatRfc3339(t);
}
void PutStr(Json& j, const char* key, const std::string& v) {
  if (!v.empty()) j[key] = v;
}
}  // namespace

JsonReader::JsonReader(const Json& j, std::string what) : j_(j), what_(std::move(what)) {
  if (!j_.is_object()) Fail("must be a JSON object");
}

void JsonReader::Fail(const std::string& msg) {
  if (!err_) err_ = Error::Invalid(what_ + ": " + msg);
}

bool JsonReader::Has(const char* key) const { return j_.is_object() && j_.contains(key) && !j_[key].is_null(); }

const Json* JsonReader::Get(const char* key) {
  seen_.emplace_back(key);
  if (!j_.is_object()) return nullptr;
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return nullptr;
  return &*it;
}

void JsonReader::Str(const char* key, std::string& out) {
  if (const Json* v = Get(key)) {
    if (!v->is_string()) return Fail(std::string("field \"") + key + "\" must be a string");
    out = v->get<std::string>();
  }
}
void JsonReader::Bool(const char* key, bool& out) {
  if (const Json* v = Get(key)) {
    if (!v->is_boolean()) return Fail(std::string("field \"") + key + "\" must be a boolean");
    out = v->get<bool>();
  }
}
void JsonReader::Int64(const char* key, int64_t& out) {
  if (const Json* v = Get(key)) {
    if (!v->is_number_integer()) return Fail(std::string("field \"") + key + "\" must be an integer");
    out = v->get<int64_t>();
  }
}
void JsonReader::Int(const char* key, int& out) {
  int64_t v = out;
  Int64(key, v);
  if (v < INT32_MIN || v > INT32_MAX) return Fail(std::string("field \"") + key + "\" is out of range");
  out = static_cast<int>(v);
}
void JsonReader::UInt32(const char* key, uint32_t& out) {
  int64_t v = out;
  Int64(key, v);
  if (v < 0 || v > UINT32_MAX) return Fail(std::string("field \"") + key + "\" is out of range");
  out = static_cast<uint32_t>(v);
}
void JsonReader::Double(const char* key, double& out) {
  if (const Json* v = Get(key)) {
    if (!v->is_number()) return Fail(std::string("field \"") + key + "\" must be a number");
    out = v->get<double>();
  }
}
void JsonReader::Time(const char* key, Timestamp& out) {
  std::string s;
  Str(key, s);
  if (s.empty()) return;
  auto t = ParseRfc3339(s);
  if (!t.ok()) return Fail(std::string("field \"") + key + "\": " + t.error().message());
  out = *t;
}
void JsonReader::StrMap(const char* key, std::map<std::string, std::string>& out) {
  if (const Json* v = Get(key)) {
    if (!v->is_object()) return Fail(std::string("field \"") + key + "\" must be an object of strings");
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it->is_string()) return Fail(std::string("field \"") + key + "\" must be an object of strings");
      out[it.key()] = it->get<std::string>();
    }
  }
}
void JsonReader::StrList(const char* key, std::vector<std::string>& out) {
  if (const Json* v = Get(key)) {
    if (!v->is_array()) return Fail(std::string("field \"") + key + "\" must be an array of strings");
    for (const auto& e : *v) {
      if (!e.is_string()) return Fail(std::string("field \"") + key + "\" must be an array of strings");
      out.push_back(e.get<std::string>());
    }
  }
}
void JsonReader::Raw(const char* key, Json& out) {
  if (const Json* v = Get(key)) out = *v;
}

Status JsonReader::Finish() {
  if (!err_ && j_.is_object()) {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (std::find(seen_.begin(), seen_.end(), it.key()) == seen_.end()) {
        Fail("unknown field \"" + it.key() + "\"");
        break;
      }
    }
  }
  if (err_) return *err_;
  return OkStatus();
}

Result<Json> ParseJson(const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    return Error::Invalid(std::string("malformed JSON: ") + e.what());
  }
}

Json ToJson(const Image& v) {
  Json j;
  j["id"] = v.id;
  j["name"] = v.name;
  j["managed"] = v.managed;
  PutStr(j, "artifact_dir", v.artifact_dir);
  j["rootfs_path"] = v.rootfs_path;
  PutStr(j, "work_seed_path", v.work_seed_path);
  j["kernel_path"] = v.kernel_path;
  PutStr(j, "initrd_path", v.initrd_path);
  PutStr(j, "modules_dir", v.modules_dir);
  PutStr(j, "build_size", v.build_size);
  PutStr(j, "seeded_ssh_public_key_fingerprint", v.seeded_ssh_public_key_fingerprint);
  j["docker"] = v.docker;
  PutTime(j, "created_at", v.created_at, false);
  PutTime(j, "updated_at", v.updated_at, false);
  return j;
}

Result<Image> ImageFromJson(const Json& j) {
  Image v;
  JsonReader r(j, "image");
  r.Str("id", v.id);
  r.Str("name", v.name);
  r.Bool("managed", v.managed);
  r.Str("artifact_dir", v.artifact_dir);
  r.Str("rootfs_path", v.rootfs_path);
  r.Str("work_seed_path", v.work_seed_path);
  r.Str("kernel_path", v.kernel_path);
  r.Str("initrd_path", v.initrd_path);
  r.Str("modules_dir", v.modules_dir);
  r.Str("build_size", v.build_size);
  r.Str("seeded_ssh_public_key_fingerprint", v.seeded_ssh_public_key_fingerprint);
  r.Bool("docker", v.docker);
  r.Time("created_at", v.created_at);
  r.Time("updated_at", v.updated_at);
  BANGER_RETURN_IF_ERROR(r.Finish());
  return v;
}

Json ToJson(const VMSpec& v) {
  return Json{{"vcpu_count", v.vcpu_count},
              {"memory_mib", v.memory_mib},
              {"system_overlay_size_bytes", v.system_overlay_size_bytes},
              {"work_disk_size_bytes", v.work_disk_size_bytes},
              {"nat_enabled", v.nat_enabled},
              {"backend", BackendName(v.backend)},
              {"auto_remove", v.auto_remove}};
}

Result<VMSpec> VMSpecFromJson(const Json& j) {
  VMSpec v;
  std::string backend = BackendName(v.backend);
  JsonReader r(j, "spec");
  r.Int("vcpu_count", v.vcpu_count);
  r.Int("memory_mib", v.memory_mib);
  r.Int64("system_overlay_size_bytes", v.system_overlay_size_bytes);
  r.Int64("work_disk_size_bytes", v.work_disk_size_bytes);
  r.Bool("nat_enabled", v.nat_enabled);
  r.Str("backend", backend);
  r.Bool("auto_remove", v.auto_remove);
  BANGER_RETURN_IF_ERROR(r.Finish());
  BANGER_ASSIGN_OR_RETURN(v.backend, ParseBackend(backend));
  return v;
}

Json ToJson(const VMRuntime& v) {
  Json j;
  j["state"] = VMStateName(v.state);
  j["guest_ip"] = v.guest_ip;
  PutStr(j, "api_sock_path", v.api_sock_path);
  PutStr(j, "vsock_path", v.vsock_path);
  if (v.vsock_cid) j["vsock_cid"] = v.vsock_cid;
  PutStr(j, "log_path", v.log_path);
  PutStr(j, "metrics_path", v.metrics_path);
  PutStr(j, "dns_name", v.dns_name);
  j["vm_dir"] = v.vm_dir;
  j["system_overlay_path"] = v.system_overlay_path;
  j["work_disk_path"] = v.work_disk_path;
  PutStr(j, "last_error", v.last_error);
  PutStr(j, "boot_id", v.boot_id);
  PutTime(j, "started_at", v.started_at, true);
  return j;
}

Result<VMRuntime> VMRuntimeFromJson(const Json& j) {
  VMRuntime v;
  std::string state = "created";
  JsonReader r(j, "runtime");
  r.Str("state", state);
  r.Str("guest_ip", v.guest_ip);
  r.Str("api_sock_path", v.api_sock_path);
  r.Str("vsock_path", v.vsock_path);
  r.UInt32("vsock_cid", v.vsock_cid);
  r.Str("log_path", v.log_path);
  r.Str("metrics_path", v.metrics_path);
  r.Str("dns_name", v.dns_name);
  r.Str("vm_dir", v.vm_dir);
  r.Str("system_overlay_path", v.system_overlay_path);
  r.Str("work_disk_path", v.work_disk_path);
  r.Str("last_error", v.last_error);
  r.Str("boot_id", v.boot_id);
  r.Time("started_at", v.started_at);
  BANGER_RETURN_IF_ERROR(r.Finish());
  BANGER_ASSIGN_OR_RETURN(v.state, ParseVMState(state));
  return v;
}

Json ToJson(const VMStats& v) {
  Json j = Json::object();
  PutTime(j, "collected_at", v.collected_at, true);
  if (v.cpu_percent != 0) j["cpu_percent"] = v.cpu_percent;
  if (v.rss_bytes) j["rss_bytes"] = v.rss_bytes;
  if (v.vsz_bytes) j["vsz_bytes"] = v.vsz_bytes;
  if (v.system_overlay_bytes) j["system_overlay_bytes"] = v.system_overlay_bytes;
  if (v.work_disk_bytes) j["work_disk_bytes"] = v.work_disk_bytes;
  if (!v.metrics_raw.empty()) j["metrics_raw"] = v.metrics_raw;
  return j;
}

Result<VMStats> VMStatsFromJson(const Json& j) {
  VMStats v;
  JsonReader r(j, "stats");
  r.Time("collected_at", v.collected_at);
  r.Double("cpu_percent", v.cpu_percent);
  r.Int64("rss_bytes", v.rss_bytes);
  r.Int64("vsz_bytes", v.vsz_bytes);
  r.Int64("system_overlay_bytes", v.system_overlay_bytes);
  r.Int64("work_disk_bytes", v.work_disk_bytes);
  r.Raw("metrics_raw", v.metrics_raw);
  BANGER_RETURN_IF_ERROR(r.Finish());
  return v;
}

Json ToJson(const VMRecord& v) {
  Json j;
  j["id"] = v.id;
  j["name"] = v.name;
  j["image_id"] = v.image_id;
  j["state"] = VMStateName(v.state);
  PutTime(j, "created_at", v.created_at, false);
  PutTime(j, "updated_at", v.updated_at, false);
  PutTime(j, "last_touched_at", v.last_touched_at, false);
  j["spec"] = ToJson(v.spec);
  j["runtime"] = ToJson(v.runtime);
  j["stats"] = ToJson(v.stats);
  j["labels"] = Json(v.labels);
  PutStr(j, "request_id", v.request_id);
  return j;
}

Result<VMRecord> VMRecordFromJson(const Json& j) {
  VMRecord v;
  std::string state = "created";
  Json spec = Json::object(), runtime = Json::object(), stats = Json::object();
  JsonReader r(j, "vm");
  r.Str("id", v.id);
  r.Str("name", v.name);
  r.Str("image_id", v.image_id);
  r.Str("state", state);
  r.Time("created_at", v.created_at);
  r.Time("updated_at", v.updated_at);
  r.Time("last_touched_at", v.last_touched_at);
  r.Raw("spec", spec);
  r.Raw("runtime", runtime);
  r.Raw("stats", stats);
  r.StrMap("labels", v.labels);
  r.Str("request_id", v.request_id);
  BANGER_RETURN_IF_ERROR(r.Finish());
  BANGER_ASSIGN_OR_RETURN(v.state, ParseVMState(state));
  BANGER_ASSIGN_OR_RETURN(v.spec, VMSpecFromJson(spec));
  BANGER_ASSIGN_OR_RETURN(v.runtime, VMRuntimeFromJson(runtime));
  BANGER_ASSIGN_OR_RETURN(v.stats, VMStatsFromJson(stats));
  return v;
}

Json ToJson(const VMHandles& v) {
  Json j = Json::object();
  j["pid"] = v.pid;
  PutStr(j, "tap_device", v.tap_device);
  PutStr(j, "base_loop", v.base_loop);
  PutStr(j, "cow_loop", v.cow_loop);
  PutStr(j, "dm_name", v.dm_name);
  PutStr(j, "dm_dev", v.dm_dev);
  return j;
}

Result<VMHandles> VMHandlesFromJson(const Json& j) {
  VMHandles v;
  JsonReader r(j, "handles");
  r.Int("pid", v.pid);
  r.Str("tap_device", v.tap_device);
  r.Str("base_loop", v.base_loop);
  r.Str("cow_loop", v.cow_loop);
  r.Str("dm_name", v.dm_name);
  r.Str("dm_dev", v.dm_dev);
  BANGER_RETURN_IF_ERROR(r.Finish());
  return v;
}

Json ToJson(const GuestSession& v) {
  Json j;
  j["id"] = v.id;
  j["vm_id"] = v.vm_id;
  j["name"] = v.name;
  j["backend"] = v.backend;
  PutStr(j, "attach_backend", v.attach_backend);
  PutStr(j, "attach_mode", v.attach_mode);
  j["command"] = v.command;
  if (!v.args.empty()) j["args"] = v.args;
  PutStr(j, "cwd", v.cwd);
  if (!v.env.empty()) j["env"] = Json(v.env);
  PutStr(j, "stdin_mode", v.stdin_mode);
  j["status"] = GuestSessionStatusName(v.status);
  if (v.exit_code) j["exit_code"] = *v.exit_code;
  if (v.guest_pid) j["guest_pid"] = v.guest_pid;
  PutStr(j, "guest_state_dir", v.guest_state_dir);
  PutStr(j, "stdout_log_path", v.stdout_log_path);
  PutStr(j, "stderr_log_path", v.stderr_log_path);
  if (!v.tags.empty()) j["tags"] = Json(v.tags);
  PutStr(j, "last_error", v.last_error);
  j["attachable"] = v.attachable;
  j["reattachable"] = v.reattachable;
  PutStr(j, "launch_stage", v.launch_stage);
  PutStr(j, "launch_message", v.launch_message);
  PutStr(j, "launch_raw_log", v.launch_raw_log);
  PutTime(j, "created_at", v.created_at, false);
  PutTime(j, "started_at", v.started_at, true);
  PutTime(j, "updated_at", v.updated_at, false);
  PutTime(j, "ended_at", v.ended_at, true);
  return j;
}

Result<GuestSession> GuestSessionFromJson(const Json& j) {
  GuestSession v;
  std::string status = "starting";
  int64_t exit_code = INT64_MIN;
  JsonReader r(j, "session");
  r.Str("id", v.id);
  r.Str("vm_id", v.vm_id);
  r.Str("name", v.name);
  r.Str("backend", v.backend);
  r.Str("attach_backend", v.attach_backend);
  r.Str("attach_mode", v.attach_mode);
  r.Str("command", v.command);
  r.StrList("args", v.args);
  r.Str("cwd", v.cwd);
  r.StrMap("env", v.env);
  r.Str("stdin_mode", v.stdin_mode);
  r.Str("status", status);
  r.Int64("exit_code", exit_code);
  r.Int("guest_pid", v.guest_pid);
  r.Str("guest_state_dir", v.guest_state_dir);
  r.Str("stdout_log_path", v.stdout_log_path);
  r.Str("stderr_log_path", v.stderr_log_path);
  r.StrMap("tags", v.tags);
  r.Str("last_error", v.last_error);
  r.Bool("attachable", v.attachable);
  r.Bool("reattachable", v.reattachable);
  r.Str("launch_stage", v.launch_stage);
  r.Str("launch_message", v.launch_message);
  r.Str("launch_raw_log", v.launch_raw_log);
  r.Time("created_at", v.created_at);
  r.Time("started_at", v.started_at);
  r.Time("updated_at", v.updated_at);
  r.Time("ended_at", v.ended_at);
  BANGER_RETURN_IF_ERROR(r.Finish());
  BANGER_ASSIGN_OR_RETURN(v.status, ParseGuestSessionStatus(status));
  if (exit_code != INT64_MIN) v.exit_code = static_cast<int>(exit_code);
  return v;
}

Json ToJson(const WorkspacePrepareResult& v) {
  Json j;
  j["vm_id"] = v.vm_id;
  j["source_path"] = v.source_path;
  j["repo_root"] = v.repo_root;
  j["repo_name"] = v.repo_name;
  j["guest_path"] = v.guest_path;
  j["mode"] = WorkspacePrepareModeName(v.mode);
  j["readonly"] = v.readonly;
  PutStr(j, "head_commit", v.head_commit);
  PutStr(j, "current_branch", v.current_branch);
  PutStr(j, "branch_name", v.branch_name);
  PutStr(j, "base_commit", v.base_commit);
  PutTime(j, "prepared_at", v.prepared_at, false);
  return j;
}

Result<WorkspacePrepareResult> WorkspacePrepareResultFromJson(const Json& j) {
  WorkspacePrepareResult v;
  std::string mode = "shallow_overlay";
  JsonReader r(j, "workspace");
  r.Str("vm_id", v.vm_id);
  r.Str("source_path", v.source_path);
  r.Str("repo_root", v.repo_root);
  r.Str("repo_name", v.repo_name);
  r.Str("guest_path", v.guest_path);
  r.Str("mode", mode);
  r.Bool("readonly", v.readonly);
  r.Str("head_commit", v.head_commit);
  r.Str("current_branch", v.current_branch);
  r.Str("branch_name", v.branch_name);
  r.Str("base_commit", v.base_commit);
  r.Time("prepared_at", v.prepared_at);
  BANGER_RETURN_IF_ERROR(r.Finish());
  BANGER_ASSIGN_OR_RETURN(v.mode, ParseWorkspacePrepareMode(mode));
  return v;
}

Json ToJson(const Event& v) {
  Json j;
  j["seq"] = v.seq;
  PutTime(j, "at", v.at, false);
  j["type"] = v.type;
  PutStr(j, "vm_id", v.vm_id);
  PutStr(j, "vm_name", v.vm_name);
  j["data"] = v.data;
  return j;
}

Result<Event> EventFromJson(const Json& j) {
  Event v;
  JsonReader r(j, "event");
  r.Int64("seq", v.seq);
  r.Time("at", v.at);
  r.Str("type", v.type);
  r.Str("vm_id", v.vm_id);
  r.Str("vm_name", v.vm_name);
  r.Raw("data", v.data);
  BANGER_RETURN_IF_ERROR(r.Finish());
  return v;
}

}  // namespace banger
