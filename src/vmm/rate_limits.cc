#include "vmm/rate_limits.h"

#include "vmm/backend.h"

namespace banger {
namespace {

// Each bucket refills completely once a second: its size is the rate.
constexpr int64_t kRefillMs = 1000;

Json Bucket(int64_t size) { return Json{{"size", size}, {"refill_time", kRefillMs}}; }

}  // namespace

Json FcRateLimiter(int64_t bytes_per_sec, int64_t ops_per_sec) {
  return Json{{"bandwidth", Bucket(bytes_per_sec)}, {"ops", Bucket(ops_per_sec)}};
}

std::string QemuDriveThrottleOptions(const RateLimits& limits) {
  std::string out;
  if (limits.disk_bytes_per_sec > 0)
    out += ",throttling.bps-total=" + std::to_string(limits.disk_bytes_per_sec);
  if (limits.disk_iops > 0) out += ",throttling.iops-total=" + std::to_string(limits.disk_iops);
  return out;
}

Json QemuBlockThrottleArgs(const std::string& drive_id, const RateLimits& limits) {
  // Every rate is required; zero means "no limit" for that one.
  return Json{{"device", drive_id}, {"bps", limits.disk_bytes_per_sec}, {"bps_rd", 0},
              {"bps_wr", 0},        {"iops", limits.disk_iops},         {"iops_rd", 0},
              {"iops_wr", 0}};
}

RateLimitSupport RateLimitSupportOf(BackendKind kind) {
  if (kind == BackendKind::kFirecracker) {
    return {true, true, "disk bandwidth+iops and network bandwidth (token buckets), at boot and live"};
  }
  return {true, false, "disk bandwidth+iops (block throttling), at boot and live; no network limit"};
}

Status CheckRateLimitSupport(BackendKind kind, const RateLimits& limits) {
  RateLimitSupport s = RateLimitSupportOf(kind);
  if (!s.net && limits.net_bytes_per_sec > 0) {
    return Error::Invalid(std::string("--net-bw is not supported by the ") + BackendName(kind) +
                          " backend (only firecracker limits network bandwidth)");
  }
  if (!s.disk && (limits.disk_bytes_per_sec > 0 || limits.disk_iops > 0)) {
    return Error::Invalid(std::string("--disk-bw/--disk-iops are not supported by the ") + BackendName(kind) +
                          " backend");
  }
  return OkStatus();
}

}  // namespace banger
