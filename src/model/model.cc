#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <initializer_list>
#include <random>
#include <regex>

#include "model/mounts.h"
#include "model/types.h"

namespace banger {

namespace {

// Each enum's names, once: the Name and Parse functions below read them.
template <typename E>
using NameTable = std::initializer_list<std::pair<E, const char*>>;

template <typename E>
const char* NameIn(NameTable<E> table, E v, const char* fallback) {
  for (const auto& [e, name] : table) {
    if (e == v) return name;
  }
  return fallback;
}

template <typename E>
Result<E> ParseIn(NameTable<E> table, const std::string& s, const std::string& unknown) {
  for (const auto& [e, name] : table) {
    if (s == name) return e;
  }
  return Error::Invalid(unknown);
}

constexpr NameTable<VmState> kVmStates = {{VmState::kCreated, "created"},
                                          {VmState::kRunning, "running"},
                                          {VmState::kStopped, "stopped"},
                                          {VmState::kError, "error"},
                                          {VmState::kPaused, "paused"}};
constexpr NameTable<TtlAction> kTtlActions = {{TtlAction::kStop, "stop"}, {TtlAction::kDelete, "delete"}};
constexpr NameTable<SuspendTarget> kSuspendTargets = {{SuspendTarget::kRam, "ram"},
                                                      {SuspendTarget::kDisk, "disk"}};
constexpr NameTable<BackendKind> kBackends = {{BackendKind::kFirecracker, "firecracker"},
                                              {BackendKind::kQemu, "qemu"}};
constexpr NameTable<GuestSessionStatus> kSessionStatuses = {{GuestSessionStatus::kStarting, "starting"},
                                                            {GuestSessionStatus::kRunning, "running"},
                                                            {GuestSessionStatus::kExited, "exited"},
                                                            {GuestSessionStatus::kFailed, "failed"},
                                                            {GuestSessionStatus::kStopping, "stopping"}};
constexpr NameTable<WorkspacePrepareMode> kWorkspaceModes = {
    {WorkspacePrepareMode::kShallowOverlay, "shallow_overlay"},
    {WorkspacePrepareMode::kFullCopy, "full_copy"},
    {WorkspacePrepareMode::kMetadataOnly, "metadata_only"}};

}  // namespace

const char* VmStateName(VmState s) { return NameIn(kVmStates, s, "error"); }

Result<VmState> ParseVmState(const std::string& s) {
  return ParseIn(kVmStates, s, "unknown vm state \"" + s + "\"");
}

const char* TtlActionName(TtlAction a) { return NameIn(kTtlActions, a, "stop"); }

const char* SuspendTargetName(SuspendTarget t) { return NameIn(kSuspendTargets, t, "ram"); }

Result<SuspendTarget> ParseSuspendTarget(const std::string& s) {
  return ParseIn(kSuspendTargets, s, "idle suspend target must be ram or disk, got \"" + s + "\"");
}

Result<TtlAction> ParseTtlAction(const std::string& s) {
  return ParseIn(kTtlActions, s, "ttl action must be stop or delete, got \"" + s + "\"");
}

const char* BackendName(BackendKind b) { return NameIn(kBackends, b, "qemu"); }

Result<BackendKind> ParseBackend(const std::string& s) {
  return ParseIn(kBackends, s, "unknown backend \"" + s + "\" (use firecracker or qemu)");
}

const char* GuestSessionStatusName(GuestSessionStatus s) { return NameIn(kSessionStatuses, s, "failed"); }

Result<GuestSessionStatus> ParseGuestSessionStatus(const std::string& s) {
  return ParseIn(kSessionStatuses, s, "unknown session status \"" + s + "\"");
}

const char* WorkspacePrepareModeName(WorkspacePrepareMode m) {
  return NameIn(kWorkspaceModes, m, "shallow_overlay");
}

Result<WorkspacePrepareMode> ParseWorkspacePrepareMode(const std::string& s) {
  return ParseIn(kWorkspaceModes, s,
                 "unknown workspace mode \"" + s + "\" (use shallow_overlay, full_copy or metadata_only)");
}

std::string NewId() {
  std::array<unsigned char, 32> buf{};
  std::random_device rd;  // getrandom(2)-backed on Linux/glibc
  for (auto& b : buf) b = static_cast<unsigned char>(rd());
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char b : buf) {
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
  }
  return out;
}

bool IsValidId(const std::string& id) {
  if (id.size() != 64) return false;
  for (char c : id) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c)))
      return false;
  }
  return true;
}

Result<int64_t> ParseSize(const std::string& raw_in) {
  std::string raw;
  for (char c : raw_in) {
    if (!std::isspace(static_cast<unsigned char>(c))) raw.push_back(static_cast<char>(std::toupper(c)));
  }
  if (raw.empty()) return Error::Invalid("size is required");
  char unit = raw.back();
  int64_t mult = kMiB;
  std::string number = raw;
  switch (unit) {
    case 'K':
      mult = 1024;
      number.pop_back();
      break;
    case 'M':
      mult = kMiB;
      number.pop_back();
      break;
    case 'G':
      mult = kGiB;
      number.pop_back();
      break;
    default:
      if (unit < '0' || unit > '9') {
        return Error::Invalid("unsupported size suffix \"" + std::string(1, unit) + "\" in \"" + raw_in +
                              "\" (use K, M or G; a plain number means MiB)");
      }
  }
  if (number.empty()) return Error::Invalid("size \"" + raw_in + "\" has no number");
  int64_t value = 0;
  for (char c : number) {
    if (c < '0' || c > '9') return Error::Invalid("size \"" + raw_in + "\" is not a whole number");
    if (value > kMaxDiskBytes) break;  // already too large; avoid overflow
    value = value * 10 + (c - '0');
  }
  if (value == 0) return Error::Invalid("size must be positive: \"" + raw_in + "\"");
  if (value > kMaxDiskBytes / mult) {
    return Error::Invalid("size \"" + raw_in + "\" exceeds the maximum of 128G");
  }
  return value * mult;
}

std::string FormatSizeBytes(int64_t bytes) {
  if (bytes != 0 && bytes % kGiB == 0) return std::to_string(bytes / kGiB) + "G";
  if (bytes != 0 && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + "M";
  if (bytes != 0 && bytes % 1024 == 0) return std::to_string(bytes / 1024) + "K";
  return std::to_string(bytes);
}

namespace {

// "<what> name is empty", or "invalid <what> name \"x\": <rule>" when `re` does not match.
Status CheckName(const char* what, const std::string& name, const std::regex& re, const char* rule) {
  if (name.empty()) return Error::Invalid(std::string(what) + " name is empty");
  if (!std::regex_match(name, re))
    return Error::Invalid("invalid " + std::string(what) + " name \"" + name + "\": " + rule);
  return OkStatus();
}

}  // namespace

Status ValidateVmName(const std::string& name) {
  static const std::regex re("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$");
  BANGER_RETURN_IF_ERROR(CheckName("vm", name, re,
                                   "must be a DNS label (lowercase letters, digits and '-', 1-63 chars, "
                                   "starting and ending with a letter or digit)"));
  if (IsValidId(name)) return Error::Invalid("invalid vm name \"" + name + "\": looks like a vm id");
  return OkStatus();
}

Status ValidateImageName(const std::string& name) {
  static const std::regex re("^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$");
  return CheckName("image", name, re,
                   "use lowercase letters, digits, '.', '_' and '-', 1-63 chars, "
                   "starting and ending with a letter or digit");
}

Status ValidateLabel(const std::string& key, const std::string& value) {
  static const std::regex re("^[A-Za-z0-9._/-]{1,63}$");
  if (!std::regex_match(key, re)) {
    return Error::Invalid("invalid label key \"" + key +
                          "\": 1-63 chars of letters, digits, '.', '_', '/', '-'");
  }
  if (value.size() > 255) return Error::Invalid("label \"" + key + "\": value longer than 255 bytes");
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) return Error::Invalid("label \"" + key + "\": value has a control character");
  }
  return OkStatus();
}

Result<std::pair<std::string, std::string>> ParseLabel(const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos) return Error::Invalid("invalid label \"" + kv + "\": want key=value");
  std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
  BANGER_RETURN_IF_ERROR(ValidateLabel(k, v));
  return std::make_pair(k, v);
}

std::string GenerateVmName() {
  static const char* adjectives[] = {"brisk", "calm",  "eager", "fuzzy",  "gentle", "happy",
                                     "jolly", "keen",  "lucky", "mellow", "nimble", "plucky",
                                     "quiet", "rapid", "sunny", "witty"};
  static const char* nouns[] = {"otter",  "falcon", "badger", "heron", "lynx", "marten", "orca", "panda",
                                "quokka", "raven",  "seal",   "tapir", "vole", "walrus", "yak",  "zebra"};
  std::random_device rd;
  std::string id = NewId();
  return std::string(adjectives[rd() % 16]) + "-" + nouns[rd() % 16] + "-" + id.substr(0, 4);
}

Result<int64_t> ParseRate(const std::string& raw_in, const std::string& what) {
  std::string raw;
  for (char c : raw_in) {
    if (!std::isspace(static_cast<unsigned char>(c))) raw.push_back(static_cast<char>(std::toupper(c)));
  }
  if (raw.empty()) return Error::Invalid(what + " needs a value");
  int64_t mult = 1;
  switch (raw.back()) {
    case 'K':
      mult = 1024;
      break;
    case 'M':
      mult = kMiB;
      break;
    case 'G':
      mult = kGiB;
      break;
    default:
      break;
  }
  if (mult != 1) raw.pop_back();
  if (raw.empty() || raw.find_first_not_of("0123456789") != std::string::npos) {
    return Error::Invalid(what + " must be a whole number with an optional K, M or G suffix, got \"" +
                          raw_in + "\"");
  }
  int64_t value = 0;
  for (char c : raw) {
    value = value * 10 + (c - '0');
    if (value > kMaxRateLimit) break;  // already too large; avoid overflow
  }
  if (value > kMaxRateLimit / mult) {
    return Error::Invalid(what + " exceeds the maximum of " + std::to_string(kMaxRateLimit) + ": \"" +
                          raw_in + "\"");
  }
  return value * mult;
}

Status CheckRateLimits(const RateLimits& limits) {
  for (auto [what, v] : {std::pair<const char*, int64_t>{"disk bandwidth limit", limits.disk_bytes_per_sec},
                         {"disk iops limit", limits.disk_iops},
                         {"network bandwidth limit", limits.net_bytes_per_sec}}) {
    if (v < 0 || v > kMaxRateLimit) {
      return Error::Invalid(std::string(what) + " must be between 0 (unlimited) and " +
                            std::to_string(kMaxRateLimit) + ", got " + std::to_string(v));
    }
  }
  return OkStatus();
}

Status ValidateSpec(const VmSpec& spec) {
  if (spec.vcpu_count < 1 || spec.vcpu_count > kMaxVCPUCount) {
    return Error::Invalid("vcpus must be between 1 and " + std::to_string(kMaxVCPUCount) + ", got " +
                          std::to_string(spec.vcpu_count));
  }
  if (spec.memory_mib < kMinMemoryMiB || spec.memory_mib > kMaxMemoryMiB) {
    return Error::Invalid("memory must be between " + std::to_string(kMinMemoryMiB) + " and " +
                          std::to_string(kMaxMemoryMiB) + " MiB, got " + std::to_string(spec.memory_mib));
  }
  for (auto [what, v] :
       {std::pair<const char*, int64_t>{"system overlay size", spec.system_overlay_size_bytes},
        {"work disk size", spec.work_disk_size_bytes}}) {
    if (v <= 0) return Error::Invalid(std::string(what) + " must be positive");
    if (v > kMaxDiskBytes) return Error::Invalid(std::string(what) + " exceeds the maximum of 128G");
    if (v % kMiB != 0) return Error::Invalid(std::string(what) + " must be a whole number of MiB");
  }
  for (auto [what, d] : {std::pair<const char*, std::chrono::milliseconds>{"idle suspend", spec.idle_suspend},
                         {"ttl", spec.ttl}}) {
    BANGER_RETURN_IF_ERROR(CheckLifetimeDuration(what, d));
  }
  BANGER_RETURN_IF_ERROR(ValidateMounts(spec.mounts));
  return CheckRateLimits(spec.limits);
}

Status CheckLifetimeDuration(const std::string& what, std::chrono::milliseconds d) {
  if (d.count() == 0) return OkStatus();
  if (d < std::chrono::seconds(1) || d > kMaxLifetimeDuration) {
    return Error::Invalid(what + " must be 0 (off) or between 1s and 8760h, got " + FormatDuration(d));
  }
  return OkStatus();
}

}  // namespace banger
