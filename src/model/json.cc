#include "model/json.h"

#include <algorithm>

namespace banger {

JsonReader::JsonReader(const Json& j, std::string what) : j_(j), what_(std::move(what)) {
  if (!j_.is_object()) Fail("must be a JSON object");
}

void JsonReader::Fail(const std::string& msg) {
  if (!err_) err_ = Error::Invalid(what_ + ": " + msg);
}

bool JsonReader::Has(const char* key) const {
  return j_.is_object() && j_.contains(key) && !j_[key].is_null();
}

const Json* JsonReader::Get(const char* key) {
  seen_.emplace_back(key);
  if (!j_.is_object()) return nullptr;
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return nullptr;
  return &*it;
}

void JsonReader::Str(const char* key, std::string& out, Omit) {
  if (const Json* v = Get(key)) {
    if (!v->is_string()) return Fail(std::string("field \"") + key + "\" must be a string");
    out = v->get<std::string>();
  }
}
void JsonReader::Bool(const char* key, bool& out, Omit) {
  if (const Json* v = Get(key)) {
    if (!v->is_boolean()) return Fail(std::string("field \"") + key + "\" must be a boolean");
    out = v->get<bool>();
  }
}
void JsonReader::Int64(const char* key, int64_t& out, Omit) {
  if (const Json* v = Get(key)) {
    if (!v->is_number_integer()) return Fail(std::string("field \"") + key + "\" must be an integer");
    out = v->get<int64_t>();
  }
}
void JsonReader::Int(const char* key, int& out, Omit) {
  int64_t v = out;
  Int64(key, v);
  if (v < INT32_MIN || v > INT32_MAX) return Fail(std::string("field \"") + key + "\" is out of range");
  out = static_cast<int>(v);
}
void JsonReader::UInt32(const char* key, uint32_t& out, Omit) {
  int64_t v = out;
  Int64(key, v);
  if (v < 0 || v > UINT32_MAX) return Fail(std::string("field \"") + key + "\" is out of range");
  out = static_cast<uint32_t>(v);
}
void JsonReader::Double(const char* key, double& out, Omit) {
  if (const Json* v = Get(key)) {
    if (!v->is_number()) return Fail(std::string("field \"") + key + "\" must be a number");
    out = v->get<double>();
  }
}
void JsonReader::Time(const char* key, Timestamp& out, Omit) {
  std::string s;
  Str(key, s);
  if (s.empty()) return;
  auto t = ParseRfc3339(s);
  if (!t.ok()) return Fail(std::string("field \"") + key + "\": " + t.error().message());
  out = *t;
}
void JsonReader::StrMap(const char* key, std::map<std::string, std::string>& out, Omit) {
  if (const Json* v = Get(key)) {
    if (!v->is_object()) return Fail(std::string("field \"") + key + "\" must be an object of strings");
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it->is_string()) return Fail(std::string("field \"") + key + "\" must be an object of strings");
      out[it.key()] = it->get<std::string>();
    }
  }
}
void JsonReader::StrList(const char* key, std::vector<std::string>& out, Omit) {
  if (const Json* v = Get(key)) {
    if (!v->is_array()) return Fail(std::string("field \"") + key + "\" must be an array of strings");
    for (const auto& e : *v) {
      if (!e.is_string()) return Fail(std::string("field \"") + key + "\" must be an array of strings");
      out.push_back(e.get<std::string>());
    }
  }
}
void JsonReader::Raw(const char* key, Json& out, Omit) {
  if (const Json* v = Get(key)) out = *v;
}
void JsonReader::Millis(const char* key, std::chrono::milliseconds& out, Omit) {
  int64_t ms = out.count();
  Int64(key, ms);
  out = std::chrono::milliseconds(ms);
}
void JsonReader::Record(const Error& e) {
  if (!err_) err_ = e;
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

void JsonWriter::Str(const char* key, const std::string& v, Omit omit) {
  if (omit == Omit::kNever || !v.empty()) j_[key] = v;
}
void JsonWriter::Bool(const char* key, bool v, Omit omit) {
  if (omit == Omit::kNever || v) j_[key] = v;
}
void JsonWriter::Int64(const char* key, int64_t v, Omit omit) {
  if (omit == Omit::kNever || v != 0) j_[key] = v;
}
void JsonWriter::Double(const char* key, double v, Omit omit) {
  if (omit == Omit::kNever || v != 0) j_[key] = v;
}
void JsonWriter::Time(const char* key, Timestamp v, Omit omit) {
  if (omit == Omit::kNever || v.time_since_epoch().count() != 0) j_[key] = FormatRfc3339(v);
}
void JsonWriter::StrMap(const char* key, const std::map<std::string, std::string>& v, Omit omit) {
  if (omit == Omit::kNever || !v.empty()) j_[key] = Json(v);
}
void JsonWriter::StrList(const char* key, const std::vector<std::string>& v, Omit omit) {
  if (omit == Omit::kNever || !v.empty()) j_[key] = Json(v);
}
void JsonWriter::Raw(const char* key, const Json& v, Omit omit) {
  if (omit == Omit::kNever || !v.empty()) j_[key] = v;
}

// The model's field lists. Omit::kEmpty marks fields the JSON form leaves
// out when empty; the store's columns and the API share these forms.

template <>
struct JsonFields<Image> {
  static constexpr const char* kWhat = "image";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("id", v.id);
    io.Str("name", v.name);
    io.Bool("managed", v.managed);
    io.Str("artifact_dir", v.artifact_dir, Omit::kEmpty);
    io.Str("rootfs_path", v.rootfs_path);
    io.Str("work_seed_path", v.work_seed_path, Omit::kEmpty);
    io.Str("kernel_path", v.kernel_path);
    io.Str("initrd_path", v.initrd_path, Omit::kEmpty);
    io.Str("modules_dir", v.modules_dir, Omit::kEmpty);
    io.Str("build_size", v.build_size, Omit::kEmpty);
    io.Str("seeded_ssh_public_key_fingerprint", v.seeded_ssh_public_key_fingerprint, Omit::kEmpty);
    io.Bool("docker", v.docker);
    io.Time("created_at", v.created_at);
    io.Time("updated_at", v.updated_at);
  }
};

template <>
struct JsonFields<VMSpec> {
  static constexpr const char* kWhat = "spec";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Int("vcpu_count", v.vcpu_count);
    io.Int("memory_mib", v.memory_mib);
    io.Int64("system_overlay_size_bytes", v.system_overlay_size_bytes);
    io.Int64("work_disk_size_bytes", v.work_disk_size_bytes);
    io.Bool("nat_enabled", v.nat_enabled);
    io.Enum("backend", v.backend, BackendName, ParseBackend);
  }
};

template <>
struct JsonFields<VMRuntime> {
  static constexpr const char* kWhat = "runtime";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Enum("state", v.state, VMStateName, ParseVMState);
    io.Str("guest_ip", v.guest_ip);
    io.Str("api_sock_path", v.api_sock_path, Omit::kEmpty);
    io.Str("vsock_path", v.vsock_path, Omit::kEmpty);
    io.UInt32("vsock_cid", v.vsock_cid, Omit::kEmpty);
    io.Str("log_path", v.log_path, Omit::kEmpty);
    io.Str("metrics_path", v.metrics_path, Omit::kEmpty);
    io.Str("dns_name", v.dns_name, Omit::kEmpty);
    io.Str("vm_dir", v.vm_dir);
    io.Str("system_overlay_path", v.system_overlay_path);
    io.Str("work_disk_path", v.work_disk_path);
    io.Str("last_error", v.last_error, Omit::kEmpty);
    io.Str("boot_id", v.boot_id, Omit::kEmpty);
    io.Time("started_at", v.started_at, Omit::kEmpty);
  }
};

template <>
struct JsonFields<VMStats> {
  static constexpr const char* kWhat = "stats";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Time("collected_at", v.collected_at, Omit::kEmpty);
    io.Double("cpu_percent", v.cpu_percent, Omit::kEmpty);
    io.Int64("rss_bytes", v.rss_bytes, Omit::kEmpty);
    io.Int64("vsz_bytes", v.vsz_bytes, Omit::kEmpty);
    io.Int64("system_overlay_bytes", v.system_overlay_bytes, Omit::kEmpty);
    io.Int64("work_disk_bytes", v.work_disk_bytes, Omit::kEmpty);
    io.Raw("metrics_raw", v.metrics_raw, Omit::kEmpty);
  }
};

template <>
struct JsonFields<VMRecord> {
  static constexpr const char* kWhat = "vm";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("id", v.id);
    io.Str("name", v.name);
    io.Str("image_id", v.image_id);
    io.Enum("state", v.state, VMStateName, ParseVMState);
    io.Time("created_at", v.created_at);
    io.Time("updated_at", v.updated_at);
    io.Time("last_touched_at", v.last_touched_at);
    io.Object("spec", v.spec);
    io.Object("runtime", v.runtime);
    io.Object("stats", v.stats);
    io.StrMap("labels", v.labels);
    io.Str("request_id", v.request_id, Omit::kEmpty);
  }
};

template <>
struct JsonFields<VMHandles> {
  static constexpr const char* kWhat = "handles";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Int("pid", v.pid);
    io.Str("tap_device", v.tap_device, Omit::kEmpty);
    io.Str("base_loop", v.base_loop, Omit::kEmpty);
    io.Str("cow_loop", v.cow_loop, Omit::kEmpty);
    io.Str("dm_name", v.dm_name, Omit::kEmpty);
    io.Str("dm_dev", v.dm_dev, Omit::kEmpty);
  }
};

template <>
struct JsonFields<GuestSession> {
  static constexpr const char* kWhat = "session";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("id", v.id);
    io.Str("vm_id", v.vm_id);
    io.Str("name", v.name);
    io.Str("backend", v.backend);
    io.Str("attach_backend", v.attach_backend, Omit::kEmpty);
    io.Str("attach_mode", v.attach_mode, Omit::kEmpty);
    io.Str("command", v.command);
    io.StrList("args", v.args, Omit::kEmpty);
    io.Str("cwd", v.cwd, Omit::kEmpty);
    io.StrMap("env", v.env, Omit::kEmpty);
    io.Str("stdin_mode", v.stdin_mode, Omit::kEmpty);
    io.Enum("status", v.status, GuestSessionStatusName, ParseGuestSessionStatus);
    io.Opt("exit_code", v.exit_code);
    io.Int("guest_pid", v.guest_pid, Omit::kEmpty);
    io.Str("guest_state_dir", v.guest_state_dir, Omit::kEmpty);
    io.Str("stdout_log_path", v.stdout_log_path, Omit::kEmpty);
    io.Str("stderr_log_path", v.stderr_log_path, Omit::kEmpty);
    io.StrMap("tags", v.tags, Omit::kEmpty);
    io.Str("last_error", v.last_error, Omit::kEmpty);
    io.Bool("attachable", v.attachable);
    io.Bool("reattachable", v.reattachable);
    io.Str("launch_stage", v.launch_stage, Omit::kEmpty);
    io.Str("launch_message", v.launch_message, Omit::kEmpty);
    io.Str("launch_raw_log", v.launch_raw_log, Omit::kEmpty);
    io.Time("created_at", v.created_at);
    io.Time("started_at", v.started_at, Omit::kEmpty);
    io.Time("updated_at", v.updated_at);
    io.Time("ended_at", v.ended_at, Omit::kEmpty);
  }
};

template <>
struct JsonFields<WorkspacePrepareResult> {
  static constexpr const char* kWhat = "workspace";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("vm_id", v.vm_id);
    io.Str("source_path", v.source_path);
    io.Str("repo_root", v.repo_root);
    io.Str("repo_name", v.repo_name);
    io.Str("guest_path", v.guest_path);
    io.Enum("mode", v.mode, WorkspacePrepareModeName, ParseWorkspacePrepareMode);
    io.Bool("readonly", v.readonly);
    io.Str("head_commit", v.head_commit, Omit::kEmpty);
    io.Str("current_branch", v.current_branch, Omit::kEmpty);
    io.Str("branch_name", v.branch_name, Omit::kEmpty);
    io.Str("base_commit", v.base_commit, Omit::kEmpty);
    io.Time("prepared_at", v.prepared_at);
  }
};

template <>
struct JsonFields<Event> {
  static constexpr const char* kWhat = "event";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Int64("seq", v.seq);
    io.Time("at", v.at);
    io.Str("type", v.type);
    io.Str("vm_id", v.vm_id, Omit::kEmpty);
    io.Str("vm_name", v.vm_name, Omit::kEmpty);
    io.Raw("data", v.data);
  }
};

Json ToJson(const Image& v) { return Encode(v); }
Json ToJson(const VMSpec& v) { return Encode(v); }
Json ToJson(const VMRuntime& v) { return Encode(v); }
Json ToJson(const VMStats& v) { return Encode(v); }
Json ToJson(const VMRecord& v) { return Encode(v); }
Json ToJson(const VMHandles& v) { return Encode(v); }
Json ToJson(const GuestSession& v) { return Encode(v); }
Json ToJson(const WorkspacePrepareResult& v) { return Encode(v); }
Json ToJson(const Event& v) { return Encode(v); }

Result<Image> ImageFromJson(const Json& j) { return Decode<Image>(j); }
Result<VMSpec> VMSpecFromJson(const Json& j) { return Decode<VMSpec>(j); }
Result<VMRuntime> VMRuntimeFromJson(const Json& j) { return Decode<VMRuntime>(j); }
Result<VMStats> VMStatsFromJson(const Json& j) { return Decode<VMStats>(j); }
Result<VMRecord> VMRecordFromJson(const Json& j) { return Decode<VMRecord>(j); }
Result<VMHandles> VMHandlesFromJson(const Json& j) { return Decode<VMHandles>(j); }
Result<GuestSession> GuestSessionFromJson(const Json& j) { return Decode<GuestSession>(j); }
Result<WorkspacePrepareResult> WorkspacePrepareResultFromJson(const Json& j) {
  return Decode<WorkspacePrepareResult>(j);
}
Result<Event> EventFromJson(const Json& j) { return Decode<Event>(j); }

}  // namespace banger
