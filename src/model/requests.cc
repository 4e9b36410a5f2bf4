#include "model/requests.h"

#include <regex>

namespace banger {
namespace {

constexpr int64_t kMaxTimeoutMs = 3600 * 1000;

bool TimeoutInRange(std::chrono::milliseconds t) { return t.count() >= 0 && t.count() <= kMaxTimeoutMs; }

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

}  // namespace

template <>
struct JsonFields<CreateVMRequest> {
  static constexpr const char* kWhat = "create request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("name", v.name, Omit::kEmpty);
    io.Str("image", v.image, Omit::kEmpty);
    io.Opt("vcpu_count", v.vcpu_count);
    io.Opt("memory_mib", v.memory_mib);
    io.Opt("system_overlay_size_bytes", v.system_overlay_size_bytes);
    io.Opt("work_disk_size_bytes", v.work_disk_size_bytes);
    io.Opt("nat_enabled", v.nat_enabled);
    io.Opt("backend", v.backend);
    io.Bool("no_start", v.no_start, Omit::kEmpty);
    io.StrMap("labels", v.labels, Omit::kEmpty);
    io.Str("request_id", v.request_id, Omit::kEmpty);
    io.Bool("auto_remove", v.auto_remove, Omit::kEmpty);
  }
};

template <>
struct JsonFields<SetVMRequest> {
  static constexpr const char* kWhat = "set request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Opt("vcpu_count", v.vcpu_count);
    io.Opt("memory_mib", v.memory_mib);
    io.Opt("work_disk_size_bytes", v.work_disk_size_bytes);
    io.Opt("nat_enabled", v.nat_enabled);
  }
};

template <>
struct JsonFields<StopVMRequest> {
  static constexpr const char* kWhat = "stop request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Opt("timeout_ms", v.timeout);
  }
  static Status Check(const StopVMRequest& v) {
    if (v.timeout && !TimeoutInRange(*v.timeout)) {
      return Error::Invalid("timeout_ms must be between 0 and " + std::to_string(kMaxTimeoutMs));
    }
    return OkStatus();
  }
};

template <>
struct JsonFields<ExecVMRequest> {
  static constexpr const char* kWhat = "exec request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.StrList("argv", v.argv);
    io.StrMap("env", v.env, Omit::kEmpty);
    io.Str("cwd", v.cwd, Omit::kEmpty);
    io.Bool("tty", v.tty);
    io.Int("rows", v.rows);
    io.Int("cols", v.cols);
    io.Millis("timeout_ms", v.agent_timeout);
  }
  static Status Check(const ExecVMRequest& v) {
    if (v.argv.empty()) return Error::Invalid("exec request: argv must name a command");
    for (const auto& a : v.argv) {
      if (HasNul(a)) return Error::Invalid("exec request: argv contains a NUL byte");
    }
    static const std::regex env_key("^[A-Za-z_][A-Za-z0-9_]*$");
    for (const auto& [k, val] : v.env) {
      if (!std::regex_match(k, env_key)) {
        return Error::Invalid("exec request: bad environment variable name \"" + k + "\"");
      }
      if (HasNul(val)) return Error::Invalid("exec request: env " + k + " contains a NUL byte");
    }
    if (!v.cwd.empty() && v.cwd[0] != '/') {
      return Error::Invalid("exec request: cwd must be an absolute path, got \"" + v.cwd + "\"");
    }
    if (v.rows < 1 || v.rows > 1000 || v.cols < 1 || v.cols > 1000) {
      return Error::Invalid("exec request: bad window size");
    }
    if (!TimeoutInRange(v.agent_timeout)) return Error::Invalid("exec request: timeout_ms out of range");
    return OkStatus();
  }
};

template <>
struct JsonFields<BuildImageRequest> {
  static constexpr const char* kWhat = "image build request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("name", v.name);
    io.Str("profile", v.profile);
    io.Bool("docker", v.docker);
    io.Int64("size_bytes", v.size_bytes, Omit::kEmpty);
  }
};

template <>
struct JsonFields<ImportImageRequest> {
  static constexpr const char* kWhat = "image import request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("name", v.name);
    io.Str("kernel_path", v.kernel_path);
    io.Str("rootfs_path", v.rootfs_path);
    io.Str("initrd_path", v.initrd_path);
    io.Str("modules_dir", v.modules_dir);
    io.Str("work_seed_path", v.work_seed_path);
  }
};

template <>
struct JsonFields<StartSessionRequest> {
  static constexpr const char* kWhat = "session start request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("name", v.name, Omit::kEmpty);
    io.StrList("argv", v.argv);
    io.StrMap("env", v.env, Omit::kEmpty);
    io.Str("cwd", v.cwd, Omit::kEmpty);
    io.StrMap("tags", v.tags, Omit::kEmpty);
    io.Bool("stdin", v.stdin_pipe);
    io.Millis("timeout_ms", v.agent_timeout);
  }
  static Status Check(const StartSessionRequest& v) {
    if (v.argv.empty()) return Error::Invalid("session start request: argv must name a command");
    if (!TimeoutInRange(v.agent_timeout))
      return Error::Invalid("session start request: timeout_ms out of range");
    return OkStatus();
  }
};

template <>
struct JsonFields<SessionStreamRequest> {
  static constexpr const char* kWhat = "session stream request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Bool("follow", v.follow);
  }
};

template <>
struct JsonFields<PrepareWorkspaceRequest> {
  static constexpr const char* kWhat = "workspace prepare request";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Str("source_path", v.source_path);
    io.Str("guest_path", v.guest_path, Omit::kEmpty);
    io.Str("mode", v.mode, Omit::kEmpty);
    io.Bool("readonly", v.readonly);
    io.Str("branch", v.branch, Omit::kEmpty);
    io.Millis("timeout_ms", v.agent_timeout);
  }
  static Status Check(const PrepareWorkspaceRequest& v) {
    if (v.source_path.empty()) return Error::Invalid("workspace prepare request: source_path is required");
    if (!TimeoutInRange(v.agent_timeout)) {
      return Error::Invalid("workspace prepare request: timeout_ms out of range");
    }
    return OkStatus();
  }
};

template <>
struct JsonFields<DeleteResponse> {
  static constexpr const char* kWhat = "delete response";
  template <typename Io, typename V>
  static void Visit(Io& io, V& v) {
    io.Bool("deleted", v.deleted);
    io.Str("id", v.id, Omit::kEmpty);
  }
};

Json ToJson(const CreateVMRequest& v) { return Encode(v); }
Json ToJson(const SetVMRequest& v) { return Encode(v); }
Json ToJson(const StopVMRequest& v) { return Encode(v); }
Json ToJson(const ExecVMRequest& v) { return Encode(v); }
Json ToJson(const BuildImageRequest& v) { return Encode(v); }
Json ToJson(const ImportImageRequest& v) { return Encode(v); }
Json ToJson(const StartSessionRequest& v) { return Encode(v); }
Json ToJson(const SessionStreamRequest& v) { return Encode(v); }
Json ToJson(const PrepareWorkspaceRequest& v) { return Encode(v); }
Json ToJson(const DeleteResponse& v) { return Encode(v); }

Result<CreateVMRequest> CreateVMRequestFromJson(const Json& j) { return Decode<CreateVMRequest>(j); }
Result<SetVMRequest> SetVMRequestFromJson(const Json& j) { return Decode<SetVMRequest>(j); }
Result<StopVMRequest> StopVMRequestFromJson(const Json& j) { return Decode<StopVMRequest>(j); }
Result<ExecVMRequest> ExecVMRequestFromJson(const Json& j) { return Decode<ExecVMRequest>(j); }
Result<BuildImageRequest> BuildImageRequestFromJson(const Json& j) { return Decode<BuildImageRequest>(j); }
Result<ImportImageRequest> ImportImageRequestFromJson(const Json& j) { return Decode<ImportImageRequest>(j); }
Result<StartSessionRequest> StartSessionRequestFromJson(const Json& j) {
  return Decode<StartSessionRequest>(j);
}
Result<SessionStreamRequest> SessionStreamRequestFromJson(const Json& j, const char* what) {
  return Decode<SessionStreamRequest>(j, what);
}
Result<PrepareWorkspaceRequest> PrepareWorkspaceRequestFromJson(const Json& j) {
  return Decode<PrepareWorkspaceRequest>(j);
}
Result<DeleteResponse> DeleteResponseFromJson(const Json& j) { return Decode<DeleteResponse>(j); }

}  // namespace banger
