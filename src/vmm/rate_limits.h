// Rate limits in each VMM's terms (pure functions; safe from any thread).
//
//  - Firecracker: a `rate_limiter` object of two token buckets, bandwidth
//    (bytes) and ops, each {"size": N, "refill_time": 1000} so N refills
//    every second; FC treats size 0 as "no bucket". Drives take one at
//    PUT/PATCH /drives/{id}, NICs an rx_ and a tx_ one at
//    PUT/PATCH /network-interfaces/{id}.
//  - QEMU: block throttling per drive, `throttling.bps-total` and
//    `throttling.iops-total` on -drive at launch, `block_set_io_throttle`
//    over QMP live (all zeros = off). QEMU has no network limit here: a
//    net limit on a QEMU VM is refused (RateLimitSupportOf).
#pragma once

#include <string>

#include "model/json.h"
#include "model/types.h"

namespace banger {

// {"bandwidth": {...}, "ops": {...}} with both buckets always present (a
// PATCH with size 0 turns a bucket off; a missing one would keep it).
Json FcRateLimiter(int64_t bytes_per_sec, int64_t ops_per_sec);

// ",throttling.bps-total=N,throttling.iops-total=M" (only the non-zero
// ones), appended to a -drive option list; "" when the disk is unlimited.
std::string QemuDriveThrottleOptions(const RateLimits& limits);

// The arguments of QMP block_set_io_throttle for the -drive `drive_id`.
Json QemuBlockThrottleArgs(const std::string& drive_id, const RateLimits& limits);

}  // namespace banger
