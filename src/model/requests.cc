#include "model/requests.h"

#include <charconv>
#include <regex>

#include "model/mounts.h"

namespace banger {
namespace {

constexpr int64_t kMaxTimeoutMs = 3600 * 1000;

bool TimeoutInRange(std::chrono::milliseconds t) { return t.count() >= 0 && t.count() <= kMaxTimeoutMs; }

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

}  // namespace

namespace {

// idle_suspend_ms, idle_suspend_to, ttl_ms and ttl_action of a create or set request.
template <typename Req>
Status CheckLifetime(const Req& v) {
  if (v.idle_suspend) BANGER_RETURN_IF_ERROR(CheckLifetimeDuration("idle_suspend_ms", *v.idle_suspend));
  if (v.ttl) BANGER_RETURN_IF_ERROR(CheckLifetimeDuration("ttl_ms", *v.ttl));
  if (v.ttl_action) BANGER_RETURN_IF_ERROR(ParseTtlAction(*v.ttl_action));
  if (v.idle_suspend_to) BANGER_RETURN_IF_ERROR(ParseSuspendTarget(*v.idle_suspend_to));
  return OkStatus();
}

}  // namespace

Status ValidateRequest(const CreateVmRequest& v) {
  BANGER_RETURN_IF_ERROR(CheckLifetime(v));
  std::vector<PortMapping> seen;
  for (const auto& spec : v.ports) {
    BANGER_ASSIGN_OR_RETURN(PortMapping m, ParsePortMapping(spec));
    for (const auto& o : seen) {
      if (o.SameHostAddress(m)) return Error::Invalid("port " + m.Spec() + " is given twice");
    }
    seen.push_back(m);
  }
  BANGER_RETURN_IF_ERROR(ValidateMounts(v.mounts));
  return CheckRateLimits(MergeRateLimits(RateLimits{}, v));
}

Status ValidateRequest(const AddPortRequest& v) { return ToStatus(ParsePortMapping(v.port)); }

Status ValidateRequest(const SetVmRequest& v) {
  BANGER_RETURN_IF_ERROR(CheckLifetime(v));
  return CheckRateLimits(MergeRateLimits(RateLimits{}, v));
}

Status ValidateRequest(const StopVmRequest& v) {
  if (v.timeout && !TimeoutInRange(*v.timeout)) {
    return Error::Invalid("timeout_ms must be between 0 and " + std::to_string(kMaxTimeoutMs));
  }
  return OkStatus();
}

Status ValidateRequest(const SignalSessionRequest& v) {
  if (v.signal < 1 || v.signal > 64) return Error::Invalid("signal must be a signal number from 1 to 64");
  return OkStatus();
}

Status ValidateGuestUser(const std::string& user) {
  size_t colon = user.find(':');
  bool ok = !user.empty() && user.size() <= 256 && colon != 0 && colon != user.size() - 1 &&
            (colon == std::string::npos || user.find(':', colon + 1) == std::string::npos) &&
            user.find_first_of(std::string(" \t\n/\0", 5)) == std::string::npos;
  if (!ok) {
    return Error::Invalid("user \"" + user + "\" must be NAME, UID, UID:GID or NAME:GROUP");
  }
  return OkStatus();
}

namespace {

// argv, env, cwd and user of an exec or session start request; `what`
// starts the message.
template <typename Req>
Status CheckCommand(const Req& v, const std::string& what) {
  // An empty argv is the image's command (resolved by the daemon).
  for (const auto& a : v.argv) {
    if (HasNul(a)) return Error::Invalid(what + ": argv contains a NUL byte");
  }
  static const std::regex env_key("^[A-Za-z_][A-Za-z0-9_]*$");
  for (const auto& [k, val] : v.env) {
    if (!std::regex_match(k, env_key)) {
      return Error::Invalid(what + ": bad environment variable name \"" + k + "\"");
    }
    if (HasNul(val)) return Error::Invalid(what + ": env " + k + " contains a NUL byte");
  }
  if (!v.cwd.empty() && (v.cwd[0] != '/' || HasNul(v.cwd))) {
    return Error::Invalid(what + ": cwd must be an absolute path, got \"" + v.cwd + "\"");
  }
  if (!v.user.empty()) BANGER_RETURN_IF_ERROR(Annotate(ValidateGuestUser(v.user), what));
  return OkStatus();
}

}  // namespace

Status ValidateRequest(const ExecVmRequest& v) {
  BANGER_RETURN_IF_ERROR(CheckCommand(v, "exec request"));
  if (v.rows < 1 || v.rows > 1000 || v.cols < 1 || v.cols > 1000) {
    return Error::Invalid("exec request: bad window size");
  }
  if (!TimeoutInRange(v.agent_timeout)) return Error::Invalid("exec request: timeout_ms out of range");
  return OkStatus();
}

Status ValidateRequest(const StartSessionRequest& v) {
  BANGER_RETURN_IF_ERROR(CheckCommand(v, "session start request"));
  if (!TimeoutInRange(v.agent_timeout))
    return Error::Invalid("session start request: timeout_ms out of range");
  return OkStatus();
}

Status ValidateRequest(const PrepareWorkspaceRequest& v) {
  if (v.source_path.empty()) return Error::Invalid("workspace prepare request: source_path is required");
  if (!TimeoutInRange(v.agent_timeout)) {
    return Error::Invalid("workspace prepare request: timeout_ms out of range");
  }
  return OkStatus();
}

Status ValidateRequest(const ExportWorkspaceRequest& v) {
  if (v.source_path.empty()) return Error::Invalid("workspace export request: source_path is required");
  if (v.max_bytes < 0) return Error::Invalid("workspace export request: max_bytes must not be negative");
  if (v.commit_message.size() > 64 * 1024) {
    return Error::Invalid("workspace export request: commit_message longer than 64 KiB");
  }
  if (!TimeoutInRange(v.agent_timeout)) {
    return Error::Invalid("workspace export request: timeout_ms out of range");
  }
  return OkStatus();
}

Status ValidateChown(const std::string& spec) {
  size_t colon = spec.find(':');
  auto num = [](const std::string& s) {
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size() && v <= 0xfffffffeULL;
  };
  if (colon == std::string::npos || !num(spec.substr(0, colon)) || !num(spec.substr(colon + 1))) {
    return Error::Invalid("--chown \"" + spec + "\" must be UID:GID, two numbers 0.." +
                          std::to_string(0xfffffffeULL));
  }
  return OkStatus();
}

}  // namespace banger
