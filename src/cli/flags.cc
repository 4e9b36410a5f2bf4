#include "cli/flags.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>

#include "base/fs.h"
#include "http/http.h"
#include "model/mounts.h"

namespace banger {
namespace {

Status PutSize(std::optional<int64_t>& out, const std::optional<std::string>& raw) {
  if (!raw) return OkStatus();
  BANGER_ASSIGN_OR_RETURN(out, ParseSize(*raw));
  return OkStatus();
}

Status PutCount(std::optional<int>& out, const std::string& flag, const std::optional<int>& v) {
  if (!v) return OkStatus();
  BANGER_RETURN_IF_ERROR(CheckPositive(flag, *v));
  out = v;
  return OkStatus();
}

Status PutMemory(std::optional<int>& out, const std::optional<std::string>& raw) {
  if (!raw) return OkStatus();
  BANGER_ASSIGN_OR_RETURN(out, ParseMemoryFlag(*raw));
  return OkStatus();
}

Status PutRate(std::optional<int64_t>& out, const std::string& flag, const std::optional<std::string>& raw) {
  if (!raw) return OkStatus();
  BANGER_ASSIGN_OR_RETURN(out, ParseRate(*raw, flag));
  return OkStatus();
}

Status PutCounter(std::optional<int64_t>& out, const std::string& flag,
                  const std::optional<std::string>& raw) {
  if (!raw) return OkStatus();
  if (raw->empty() || raw->size() > 15 || raw->find_first_not_of("0123456789") != std::string::npos) {
    return Error::Invalid(flag + " must be a whole number (0 = unlimited), got \"" + *raw + "\"");
  }
  out = std::stoll(*raw);
  if (*out > kMaxRateLimit)
    return Error::Invalid(flag + " exceeds the maximum of " + std::to_string(kMaxRateLimit));
  return OkStatus();
}

template <typename Req>
Status PutRates(Req& r, const RateFlags& f) {
  BANGER_RETURN_IF_ERROR(PutRate(r.disk_bw_bytes_per_sec, "--disk-bw", f.disk_bw));
  BANGER_RETURN_IF_ERROR(PutCounter(r.disk_iops, "--disk-iops", f.disk_iops));
  BANGER_RETURN_IF_ERROR(PutRate(r.net_bw_bytes_per_sec, "--net-bw", f.net_bw));
  return OkStatus();
}

Status PutDuration(std::optional<std::chrono::milliseconds>& out, const std::string& flag,
                   const std::optional<std::string>& raw) {
  if (!raw) return OkStatus();
  if (*raw == "off") {
    out = std::chrono::milliseconds(0);
    return OkStatus();
  }
  auto d = ParseDuration(*raw);
  if (!d.ok()) return Error::Invalid(flag + ": " + d.error().message() + "; 0 or off = never");
  BANGER_RETURN_IF_ERROR(CheckLifetimeDuration(flag, *d));
  out = *d;
  return OkStatus();
}

template <typename Req>
Status PutLifetime(Req& r, const LifetimeFlags& f) {
  BANGER_RETURN_IF_ERROR(PutDuration(r.idle_suspend, "--idle-suspend", f.idle_suspend));
  BANGER_RETURN_IF_ERROR(PutDuration(r.ttl, "--ttl", f.ttl));
  if (f.ttl_action) {
    BANGER_RETURN_IF_ERROR(Annotate(ParseTtlAction(*f.ttl_action), "--ttl-action"));
    r.ttl_action = *f.ttl_action;
  }
  if (f.idle_suspend_to) {
    BANGER_RETURN_IF_ERROR(Annotate(ParseSuspendTarget(*f.idle_suspend_to), "--idle-suspend-to"));
    r.idle_suspend_to = *f.idle_suspend_to;
  }
  return OkStatus();
}

// Optional paths stay "" (the API's "none"); given ones become absolute.
std::string AbsoluteOrEmpty(const std::string& path) { return path.empty() ? "" : AbsolutePath(path); }

}  // namespace

Result<int> ParseMemoryFlag(const std::string& raw) {
  const auto bad = [&raw](const std::string& why) {
    return Error::Invalid("--memory \"" + raw + "\": " + why);
  };
  std::string s;
  for (char c : raw) s.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  if (digits == 0 || digits > 15) {
    return bad("want a whole number with an optional K, M, G or T suffix (2G, 512M; a bare number is MiB)");
  }
  int64_t value = std::stoll(s.substr(0, digits));
  std::string unit = s.substr(digits);
  if (unit.size() == 3 && unit.substr(1) == "ib") {
    unit.resize(1);  // "gib" -> "g"
  } else if (unit.size() == 2 && unit.back() == 'b') {
    unit.pop_back();  // "gb" -> "g" (binary units all the same, as docker reads them)
  }
  int shift = 20;  // bare number: MiB
  if (unit == "b") {
    shift = 0;
  } else if (unit == "k") {
    shift = 10;
  } else if (unit == "m" || unit.empty()) {
    shift = 20;
  } else if (unit == "g") {
    shift = 30;
  } else if (unit == "t") {
    shift = 40;
  } else {
    return bad("want a whole number with an optional K, M, G or T suffix (2G, 1536M, not 1.5G)");
  }
  if (value <= 0) return bad("must be more than 0");
  // In KiB, so that 1536K (not a whole MiB) is told apart from an overflow.
  if (shift >= 20) {
    int64_t mib = value;
    for (int i = 20; i < shift; i += 10) {
      if (mib > (int64_t{1} << 31)) break;
      mib *= 1024;
    }
    if (mib > std::numeric_limits<int>::max()) return bad("too large");
    return static_cast<int>(mib);
  }
  int64_t bytes = value << shift;
  if (bytes % (int64_t{1} << 20) != 0) return bad("not a whole number of MiB");
  return static_cast<int>(bytes >> 20);
}

Status CheckPositive(const std::string& flag, int value) {
  if (value <= 0) return Error::Invalid(flag + " must be a positive integer, got " + std::to_string(value));
  return OkStatus();
}

Result<Labels> ParseLabelFlags(const std::vector<std::string>& raw) {
  Labels out;
  for (const auto& kv : raw) {
    BANGER_ASSIGN_OR_RETURN(auto label, ParseLabel(kv));
    out[label.first] = label.second;
  }
  return out;
}

std::string LabelQuery(const Labels& labels) {
  if (labels.empty()) return "";
  std::string joined;
  for (const auto& [k, v] : labels) joined += (joined.empty() ? "" : ",") + k + "=" + v;
  return "?label=" + UrlEncode(joined);
}

namespace {

bool EnvNameOk(const std::string& key) {
  return !key.empty() && !std::isdigit(static_cast<unsigned char>(key[0])) &&
         std::all_of(key.begin(), key.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

}  // namespace

Result<std::map<std::string, std::string>> ParseEnvFile(
    const std::string& file, const std::string& text,
    const std::function<std::optional<std::string>(const std::string&)>& lookup) {
  std::map<std::string, std::string> env;
  size_t start = 0;
  for (int line_no = 1; start < text.size(); ++line_no) {
    size_t end = text.find('\n', start);
    std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? text.size() : end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    line.erase(0, first);
    const std::string where = file + ":" + std::to_string(line_no) + ": ";
    size_t eq = line.find('=');
    std::string key = line.substr(0, eq);
    if (!EnvNameOk(key)) {
      return Error::Invalid(where + "variable name \"" + key +
                            "\" must be letters, digits and _ (not starting with a digit)");
    }
    if (eq != std::string::npos) {
      env[key] = line.substr(eq + 1);
    } else if (auto v = lookup(key)) {
      env[key] = *v;
    }
  }
  return env;
}

Result<std::map<std::string, std::string>> ParseEnvFlags(const std::vector<std::string>& raw) {
  std::map<std::string, std::string> env;
  for (const auto& kv : raw) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error::Invalid("--env wants KEY=VALUE, got \"" + kv + "\"");
    std::string key = kv.substr(0, eq);
    if (!EnvNameOk(key)) {
      return Error::Invalid("--env name \"" + key +
                            "\" must be letters, digits and _ (not starting with a digit)");
    }
    env[key] = kv.substr(eq + 1);
  }
  return env;
}

namespace {

std::optional<std::string> FromEnvironment(const std::string& key) {
  const char* v = std::getenv(key.c_str());  // NOLINT(concurrency-mt-unsafe): the CLI is single-threaded here
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

template <typename Req>
Status PutCommandFields(Req& r, const GuestCommandFlags& f) {
  std::map<std::string, std::string> env;
  for (const auto& file : f.env_files) {
    auto text = ReadFile(file);
    if (!text.ok()) return Error::Invalid("--env-file " + file + ": " + text.error().message());
    BANGER_ASSIGN_OR_RETURN(auto vars, ParseEnvFile(file, *text, FromEnvironment));
    for (auto& [k, v] : vars) env[k] = std::move(v);
  }
  BANGER_ASSIGN_OR_RETURN(auto flags_env, ParseEnvFlags(f.env));
  for (auto& [k, v] : flags_env) env[k] = std::move(v);
  r.env = std::move(env);
  if (!f.cwd.empty() && f.cwd[0] != '/') {
    return Error::Invalid("--workdir must be an absolute path in the guest, got \"" + f.cwd + "\"");
  }
  if (!f.user.empty() && !ValidateGuestUser(f.user).ok()) {
    return Error::Invalid("--user \"" + f.user + "\" must be NAME, UID, UID:GID or NAME:GROUP");
  }
  r.argv = f.argv;
  r.cwd = f.cwd;
  r.user = f.user;
  r.no_image_env = f.no_image_env;
  // What is left (a NUL in an argument) as the daemon would say it.
  return ValidateRequest(r);
}

}  // namespace

Status PutGuestCommand(ExecVmRequest& r, const GuestCommandFlags& f) { return PutCommandFields(r, f); }
Status PutGuestCommand(StartSessionRequest& r, const GuestCommandFlags& f) { return PutCommandFields(r, f); }

Result<CreateVmRequest> BuildCreateRequest(const CreateFlags& f) {
  CreateVmRequest r;
  if (!f.name.empty()) BANGER_RETURN_IF_ERROR(ValidateVmName(f.name));
  r.name = f.name;
  r.image = f.image;
  BANGER_RETURN_IF_ERROR(PutCount(r.vcpu_count, "--vcpus", f.vcpus));
  BANGER_RETURN_IF_ERROR(PutMemory(r.memory_mib, f.memory));
  BANGER_RETURN_IF_ERROR(PutSize(r.system_overlay_size_bytes, f.system_overlay_size));
  BANGER_RETURN_IF_ERROR(PutSize(r.work_disk_size_bytes, f.work_disk_size));
  // Without --nat the daemon's vm_defaults decide.
  if (f.nat) r.nat_enabled = true;
  r.no_start = f.no_start;
  if (!f.backend.empty()) {
    BANGER_RETURN_IF_ERROR(ParseBackend(f.backend));
    r.backend = f.backend;
  }
  BANGER_ASSIGN_OR_RETURN(r.labels, ParseLabelFlags(f.labels));
  r.request_id = f.request_id;
  BANGER_RETURN_IF_ERROR(PutRates(r, f.rates));
  BANGER_RETURN_IF_ERROR(PutLifetime(r, f.lifetime));
  r.cold = f.cold;
  for (const auto& spec : f.ports) {
    BANGER_ASSIGN_OR_RETURN(PortMapping m, ParsePortMapping(spec));
    r.ports.push_back(m.Spec());
  }
  for (const std::string& flag : f.mounts) {
    BANGER_ASSIGN_OR_RETURN(VmMount m, ParseMountFlag(flag));
    // The daemon resolves it again and checks it as the caller.
    m.host_path = AbsolutePath(m.host_path);
    r.mounts.push_back(std::move(m));
  }
  BANGER_RETURN_IF_ERROR(ValidateRequest(r));  // e.g. a host port given twice, overlapping mounts
  return r;
}

Result<CreateTemplateRequest> BuildTemplateRequest(const TemplateFlags& f) {
  CreateTemplateRequest r;
  r.image = f.image;
  BANGER_RETURN_IF_ERROR(PutCount(r.vcpu_count, "--vcpus", f.vcpus));
  BANGER_RETURN_IF_ERROR(PutMemory(r.memory_mib, f.memory));
  BANGER_RETURN_IF_ERROR(PutSize(r.system_overlay_size_bytes, f.system_overlay_size));
  BANGER_RETURN_IF_ERROR(PutSize(r.work_disk_size_bytes, f.work_disk_size));
  if (!f.backend.empty()) {
    BANGER_RETURN_IF_ERROR(ParseBackend(f.backend));
    r.backend = f.backend;
  }
  return r;
}

Result<SetVmRequest> BuildSetRequest(const SetFlags& f) {
  SetVmRequest r;
  BANGER_RETURN_IF_ERROR(PutCount(r.vcpu_count, "--vcpus", f.vcpus));
  BANGER_RETURN_IF_ERROR(PutMemory(r.memory_mib, f.memory));
  BANGER_RETURN_IF_ERROR(PutSize(r.work_disk_size_bytes, f.work_disk_size));
  if (f.nat && f.no_nat) return Error::Invalid("--nat and --no-nat contradict each other");
  if (f.nat || f.no_nat) r.nat_enabled = f.nat;
  BANGER_RETURN_IF_ERROR(PutRates(r, f.rates));
  BANGER_RETURN_IF_ERROR(PutLifetime(r, f.lifetime));
  if (!r.vcpu_count && !r.memory_mib && !r.work_disk_size_bytes && !r.nat_enabled && !f.rates.any() &&
      !f.lifetime.any()) {
    return Error::Invalid(
        "nothing to change: give --vcpus, --memory, --work-disk-size, --nat, --no-nat, --disk-bw, "
        "--disk-iops, --net-bw, --idle-suspend, --ttl or --ttl-action");
  }
  return r;
}

Result<ImportImageRequest> BuildImportRequest(const ImportFlags& f) {
  BANGER_RETURN_IF_ERROR(ValidateImageName(f.name));
  if (f.kernel.empty()) return Error::Invalid("--kernel is required");
  if (f.rootfs.empty()) return Error::Invalid("--rootfs is required");
  return ImportImageRequest{f.name,
                            AbsolutePath(f.kernel),
                            AbsolutePath(f.rootfs),
                            AbsoluteOrEmpty(f.initrd),
                            AbsoluteOrEmpty(f.modules),
                            AbsoluteOrEmpty(f.work_seed)};
}

Result<StopVmRequest> BuildStopRequest(std::optional<int> timeout_seconds) {
  StopVmRequest r;
  if (!timeout_seconds) return r;
  if (*timeout_seconds < 0) {
    return Error::Invalid("--timeout must be zero or more seconds, got " + std::to_string(*timeout_seconds));
  }
  r.timeout = std::chrono::seconds(*timeout_seconds);
  return r;
}

}  // namespace banger
