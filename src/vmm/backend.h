// VmmBackend: the one interface over the two VMMs banger drives.
//
//  - Firecracker (vmm/firecracker): spawned with --api-sock, configured over
//    its REST API on that Unix socket, started with InstanceStart.
//  - QEMU -M microvm (vmm/qemu): spawned with a full argv and a QMP socket.
//
// Every VMM process is started detached in its own session (base/process.h
// SpawnDetached), so it outlives the daemon; liveness is judged by the
// daemon from the process identity recorded at spawn (pid, uid, start time,
// executable: base/process.h ProcIdentity), never by parenthood or argv.
//
// Least privilege: when the daemon runs as root and BackendOptions names a
// VMM user, QEMU drops to it with -runas (after opening its files) under
// -sandbox; Firecracker is started as that user (or through its jailer when
// jailer_bin is set). Every VMM starts with only stdin/stdout/stderr open.
//
// Thread-safety: implementations hold no per-VM state; calls for different
// VMs may run concurrently. The daemon serializes calls for one VM.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/account.h"
#include "base/process.h"
#include "base/result.h"
#include "model/json.h"
#include "model/types.h"

namespace banger {

struct DriveSpec {
  std::string id;    // [A-Za-z0-9_]+ ("rootfs", "overlay", "work")
  std::string path;  // raw image file on the host
  bool read_only = false;
};

// A host folder exported to the guest over virtio-9p (QEMU only:
// Firecracker has no file-system sharing and refuses a spec with any).
struct ShareSpec {
  std::string tag;        // the 9p mount tag the guest mounts ("banger0")
  std::string host_path;  // resolved absolute directory
  bool read_only = false;
};

// Everything needed to boot one VM. Paths are absolute.
struct LaunchSpec {
  std::string vm_id;
  std::string vm_name;
  int vcpu_count = 1;
  int memory_mib = 256;
  std::string kernel_path;  // FC: ELF vmlinux (or bzImage on FC >= 1.17); QEMU: either
  std::string initrd_path;  // optional
  // The guest part of the kernel command line (console, root, hostname, ip...).
  // Backends append only what their VMM needs (FC appends its own items
  // itself; QEMU under TCG adds timer calibration hints).
  std::string kernel_cmdline;
  std::vector<DriveSpec> drives;  // in guest order: vda, vdb, ...
  std::vector<ShareSpec> shares;  // host folders (QEMU virtio-9p); [] = none
  std::string tap_device;         // empty = no NIC
  std::string guest_mac;          // "06:00:ac:10:00:02" when tap_device is set
  std::string vm_dir;             // the VM's private directory
  std::string control_sock_path;  // FC API socket / QEMU QMP socket
  std::string vsock_path;         // FC hybrid vsock UDS (empty = none)
  uint32_t vsock_cid = 0;
  std::string agent_sock_path;   // QEMU virtio-serial agent socket (empty = none)
  std::string console_log_path;  // guest serial console output (appended)
  std::string vmm_log_path;      // the VMM's own log (appended)
  std::string metrics_path;      // FC metrics file (empty = none)
  // Called right after the VMM process exists, with its identity (uid: the
  // one it runs as once privileges are dropped), before the launch waits for
  // it: the daemon records it in handles.json so a daemon that dies during
  // the launch still finds and kills it. An error aborts the launch.
  std::function<Status(const ProcIdentity&)> on_spawn;
  // Disk limits apply to every drive, the network limit to each direction
  // of the NIC (FC only: QEMU refuses a network limit).
  RateLimits limits;
  // cgroup.procs files the VMM joins before exec (vmm/cgroup.h); [] = none.
  std::vector<std::string> cgroup_procs_files;
};

// What identifies a running VMM process. Sockets come from the VM's
// directory (the daemon's layout), never from the process's argv.
struct VmmProcess {
  pid_t pid = 0;
  std::string control_sock_path;
  ProcIdentity identity;        // as recorded at spawn; signals go only to this process
  std::string agent_sock_path;  // QEMU agent socket, removed at shutdown ("" = none)
};

// Where a snapshot's VMM files are (absolute paths, chosen by the daemon
// under the VM's directory; never user input). Disks are not part of it:
// the daemon copies the VM's writable disks while the VM is paused.
struct SnapshotPaths {
  // FC: the device-state file (PUT /snapshot/create snapshot_path).
  // QEMU: the whole migration stream (device state and guest memory; zero
  // pages are not written).
  std::string state_path;
  // FC: the guest memory file (mem_file_path). QEMU: "" (unused).
  std::string memory_path;
};

class VmmBackend {
 public:
  virtual ~VmmBackend() = default;
  virtual BackendKind kind() const = 0;

  // Cheap check that the VMM can be launched at all (binary resolvable,
  // devices present). The message says what is missing and how to fix it.
  virtual Status CheckAvailable() = 0;

  // Spawns and boots the VM. Returns once the VMM runs the guest (FC: after
  // InstanceStart succeeded; QEMU: QMP answers and reports "running").
  // On any failure, the process is killed and its sockets removed before
  // returning; the error says why (including the tail of the VMM's log when
  // it exited on its own). `timeout` bounds the whole call.
  virtual Result<VmmProcess> Launch(const LaunchSpec& spec, std::chrono::milliseconds timeout) = 0;

  // Asks the guest to shut down (FC: SendCtrlAltDel; QEMU: system_powerdown),
  // waits up to `graceful` for the process to exit, then forces it (QEMU:
  // QMP quit; both: SIGKILL). Returns once the process is gone. A process
  // that is already gone is success. Removes the control socket.
  virtual Status Shutdown(const VmmProcess& p, std::chrono::milliseconds graceful) = 0;

  // Pause / resume the vCPUs (FC: PATCH /vm; QEMU: stop / cont).
  virtual Status Pause(const VmmProcess& p) = 0;
  virtual Status Resume(const VmmProcess& p) = 0;

  // Snapshot to disk: pauses the VM and writes `out`'s files (which must not
  // exist yet; their directory must). The VM stays paused on return, on
  // success and on failure alike (as long as the VMM lives), so the caller
  // can copy the writable disks at the same point in time, then Resume or
  // Shutdown it. On failure the partly written files may remain: the caller
  // owns their directory. `timeout` bounds the whole call.
  virtual Status SaveSnapshot(const VmmProcess& p, const SnapshotPaths& out,
                              std::chrono::milliseconds timeout) = 0;

  // Starts a new VMM process that continues the VM saved in `in`, instead of
  // booting `spec`'s kernel. `spec` must describe the same VM as at save time
  // (same vcpus/memory/devices and drive paths: both VMMs reopen the disks at
  // the paths they had when saved, so the caller puts the snapshot's disk
  // copies there first). Returns with the VM running when `resume`, else
  // paused. Cleanup on failure as Launch.
  virtual Result<VmmProcess> LaunchFromSnapshot(const LaunchSpec& spec, const SnapshotPaths& in, bool resume,
                                                std::chrono::milliseconds timeout) = 0;

  // Asks the VMM itself for the VM state: "running", "paused", "not_started".
  virtual Result<std::string> QueryState(const VmmProcess& p) = 0;
  // The VMM's own counters, as it reports them (the seed's MetricsRaw).
  // FC: FlushMetrics, then the newest line of `metrics_path` (its counters
  // are deltas since the previous flush); QEMU: QMP query-blockstats, as
  // {"blockstats": [...]} (cumulative). kUnavailable when there are none.
  virtual Result<Json> Metrics(const VmmProcess& p, const std::string& metrics_path) = 0;

  // Changes a running VM's rate limits: `drive_ids` are its drives' ids
  // (LaunchSpec::drives), `has_nic` whether it has a NIC (id "eth0"). FC:
  // PATCH /drives/{id} and /network-interfaces/eth0; QEMU:
  // block_set_io_throttle per drive. kInvalidArgument for what the backend
  // cannot limit (RateLimitSupport).
  virtual Status SetRateLimits(const VmmProcess& p, const std::vector<std::string>& drive_ids, bool has_nic,
                               const RateLimits& limits) = 0;
};

// What a backend can rate-limit: `banger doctor` prints it, create/set
// refuse the rest with one line.
struct RateLimitSupport {
  bool disk = false;
  bool net = false;
  std::string note;  // one line for doctor
};
RateLimitSupport RateLimitSupportOf(BackendKind kind);
// OK, or the one-line refusal of a limit `kind` cannot apply.
Status CheckRateLimitSupport(BackendKind kind, const RateLimits& limits);

struct BackendOptions {
  std::string firecracker_bin = "firecracker";  // name in PATH or absolute path
  std::string qemu_bin = "qemu-system-x86_64";
  std::string qemu_accel = "kvm";  // "kvm" | "tcg"
  // The unprivileged user VMMs run as (config vmm_user); unset = the
  // daemon's own user (the daemon is not root, or vmm_user = "root").
  std::optional<UserAccount> vmm_user;
  // Firecracker's jailer (config jailer_bin); "" = run firecracker directly.
  std::string jailer_bin;
  // Whether a user may open a device read-write: 0 or the open's errno
  // (tests substitute it); unset = OpenErrnoAs (vmm/launch_util.h).
  std::function<Result<int>(const std::string& path, const Credentials& who)> open_as;
};

// The uid a VMM ends up running as under `opts`.
uid_t VmmUid(const BackendOptions& opts);

std::unique_ptr<VmmBackend> MakeFirecrackerBackend(const BackendOptions& opts, ProcessOps& ops);
std::unique_ptr<VmmBackend> MakeQemuBackend(const BackendOptions& opts, ProcessOps& ops);

}  // namespace banger
