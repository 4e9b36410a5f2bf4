// FcClient: typed calls to one Firecracker process's REST API (HTTP/1.1 on
// its --api-sock Unix socket, one connection per call). It only translates
// between C++ values and FC's JSON; the boot order lives in fc_backend.cc.
//
// Errors: a transport failure keeps UnixHttpCall's error; a non-2xx answer
// becomes "PUT /drives/rootfs: HTTP 400: <FC's fault_message>".
//
// Thread-safety: holds no mutable state; calls may run concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "model/json.h"
#include "vmm/backend.h"
#include "vmm/launch_util.h"

namespace banger {

// GET / (FC's InstanceInfo).
struct FcInstanceInfo {
  std::string id;
  std::string state;  // "Not started", "Running" or "Paused"
  std::string vmm_version;
};

class FcClient {
 public:
  // Each call waits at most `call_timeout`, and never past `deadline`.
  FcClient(std::string socket_path, std::chrono::milliseconds call_timeout,
           std::optional<Deadline> deadline = std::nullopt)
      : socket_path_(std::move(socket_path)), call_timeout_(call_timeout), deadline_(deadline) {}

  Result<FcInstanceInfo> DescribeInstance();

  // Pre-boot configuration, in the order Firecracker's docs use.
  Status PutLogger(const std::string& log_path, const std::string& level);
  Status PutMetrics(const std::string& metrics_path);
  Status PutMachineConfig(int vcpu_count, int mem_size_mib);
  // initrd_path may be empty.
  Status PutBootSource(const std::string& kernel_image_path, const std::string& initrd_path,
                       const std::string& boot_args);
  // Never a root device: guests find their root by LABEL/UUID themselves.
  // With a rate_limiter when `limits` has a disk limit.
  Status PutDrive(const DriveSpec& drive, const RateLimits& limits = {});
  // With rx_/tx_rate_limiter when `limits` has a network limit.
  Status PutNetworkInterface(const std::string& iface_id, const std::string& host_dev_name,
                             const std::string& guest_mac, const RateLimits& limits = {});
  // Post-boot: PATCH the limiters (both buckets, so zero turns one off).
  Status PatchDriveRateLimiter(const std::string& drive_id, const RateLimits& limits);
  Status PatchNetworkRateLimiters(const std::string& iface_id, const RateLimits& limits);
  Status PutVsock(uint32_t guest_cid, const std::string& uds_path);

  // PUT /actions.
  Status InstanceStart();
  Status SendCtrlAltDel();

  // PATCH /vm (post-boot only).
  Status PauseVm();
  Status ResumeVm();
  // PUT /snapshot/create, a full snapshot (the VM must be paused).
  Status CreateSnapshot(const std::string& snapshot_path, const std::string& mem_file_path);
  // PUT /snapshot/load into a fresh process (only logger/metrics set before),
  // memory from a file; `tap_device` non-empty: network_overrides for eth0.
  Status LoadSnapshot(const std::string& snapshot_path, const std::string& mem_file_path, bool resume_vm,
                      const std::string& iface_id, const std::string& tap_device);
  // GET /vm/config: the configuration FC runs with (after a snapshot load:
  // the devices the snapshot recorded, e.g. drives[].path_on_host).
  Result<Json> GetVmConfig();
  // PUT /actions FlushMetrics: FC appends one JSON line to its metrics file.
  Status FlushMetrics();

 private:
  // Sends one request; a non-2xx status becomes an error.
  Result<std::string> Call(const std::string& method, const std::string& path, const Json* body);
  Status Send(const std::string& method, const std::string& path, const Json& body);

  std::string socket_path_;
  std::chrono::milliseconds call_timeout_;
  std::optional<Deadline> deadline_;
};

// The newest complete line of a Firecracker metrics file's tail (FC writes
// one JSON object and '\n' per flush; a line being written is ignored, and
// NULs, the hole a truncated file keeps before FC's next write, separate).
Result<Json> NewestMetricsLine(const std::string& tail);

}  // namespace banger
