#include "cli/flags.h"

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

Result<std::map<std::string, std::string>> ParseEnvFlags(const std::vector<std::string>& raw) {
  std::map<std::string, std::string> env;
  for (const auto& kv : raw) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error::Invalid("--env wants KEY=VALUE, got \"" + kv + "\"");
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

Result<CreateVmRequest> BuildCreateRequest(const CreateFlags& f) {
  CreateVmRequest r;
  if (!f.name.empty()) BANGER_RETURN_IF_ERROR(ValidateVmName(f.name));
  r.name = f.name;
  r.image = f.image;
  BANGER_RETURN_IF_ERROR(PutCount(r.vcpu_count, "--vcpus", f.vcpus));
  BANGER_RETURN_IF_ERROR(PutCount(r.memory_mib, "--memory", f.memory_mib));
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
  BANGER_RETURN_IF_ERROR(PutCount(r.memory_mib, "--memory", f.memory_mib));
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
  BANGER_RETURN_IF_ERROR(PutCount(r.memory_mib, "--memory", f.memory_mib));
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
