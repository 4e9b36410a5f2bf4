// banger's data model: values only, no I/O.
//
// The durable/transient split is the rule: VmRecord (spec, runtime, stats)
// is what a VM IS and lives in SQLite; VmHandles is what is CURRENTLY TRUE
// about it (pid, tap, loops, dm names) and lives only in the daemon's
// HandleCache and the per-VM handles.json scratch file.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/time.h"

namespace banger {

inline constexpr const char* kDefaultBridgeName = "br-fc";
inline constexpr const char* kDefaultBridgeIP = "172.16.0.1";
inline constexpr const char* kDefaultCIDR = "24";
inline constexpr const char* kDefaultDNS = "1.1.1.1";
inline constexpr int64_t kGiB = 1024LL * 1024 * 1024;
inline constexpr int64_t kMiB = 1024LL * 1024;
inline constexpr int64_t kDefaultSystemOverlaySize = 8 * kGiB;
inline constexpr int64_t kDefaultWorkDiskSize = 8 * kGiB;
inline constexpr int kDefaultMemoryMiB = 2048;
inline constexpr int kDefaultVCPUCount = 2;
inline constexpr int64_t kMaxDiskBytes = 128 * kGiB;
inline constexpr int kMaxVCPUCount = 32;
inline constexpr int kMinMemoryMiB = 128;
inline constexpr int kMaxMemoryMiB = 1024 * 1024;

// kPaused (extension): the VMM lives and keeps the guest's memory, its
// vCPUs are stopped (`vm pause`, idle suspend); exec/ssh/session resume it.
enum class VmState { kCreated, kRunning, kStopped, kError, kPaused };
const char* VmStateName(VmState s);
Result<VmState> ParseVmState(const std::string& s);
// Whether a VM in state `s` has a VMM process: running or paused.
inline bool VmStateHasVmm(VmState s) { return s == VmState::kRunning || s == VmState::kPaused; }

// What a VM's ttl does at expiry (extension: `--ttl-action`).
enum class TtlAction { kStop, kDelete };
const char* TtlActionName(TtlAction a);
Result<TtlAction> ParseTtlAction(const std::string& s);
// Where idle suspend puts a VM (extension: `--idle-suspend-to`): paused in
// RAM, or saved to disk with its VMM gone (as `vm stop --save`).
enum class SuspendTarget { kRam, kDisk };
const char* SuspendTargetName(SuspendTarget t);
Result<SuspendTarget> ParseSuspendTarget(const std::string& s);
// Longest idle-suspend time and ttl accepted: a year.
inline constexpr std::chrono::milliseconds kMaxLifetimeDuration{365LL * 24 * 3600 * 1000};

enum class BackendKind { kFirecracker, kQemu };
const char* BackendName(BackendKind b);
Result<BackendKind> ParseBackend(const std::string& s);

enum class GuestSessionStatus { kStarting, kRunning, kExited, kFailed, kStopping };
const char* GuestSessionStatusName(GuestSessionStatus s);
Result<GuestSessionStatus> ParseGuestSessionStatus(const std::string& s);

using Labels = std::map<std::string, std::string>;

// extension: the image config of an OCI image (its config blob's
// `config` object), kept so VMs of the image run as the image intends:
// `vm run` with no command runs entrypoint + cmd, and `vm exec` defaults to
// its env, working dir and user (model/image_defaults.h).
struct OciImageConfig {
  std::vector<std::string> env;  // "KEY=VALUE", in order
  std::string working_dir;       // absolute; "" = unset
  std::string user;              // "", "name", "uid", "uid:gid", "name:group"
  std::vector<std::string> entrypoint, cmd;
  std::vector<std::string> exposed_ports;  // "80/tcp", "53/udp", sorted
  bool operator==(const OciImageConfig&) const = default;
};

// extension: where an image came from (`image list` SOURCE, `image show`).
struct ImageSource {
  // "profile" (image build --profile), "import" (image import), "oci" (image
  // pull, image build --from-oci), "rootfs" (image build --from-rootfs: ref is
  // the directory); "" for images made before this was kept.
  std::string kind;
  std::string profile;  // kind profile: minimal | debian
  // kind oci: the reference pulled ("docker.io/library/busybox:1.36",
  // "localhost:5000/t@sha256:...") or the archive/layout path built from.
  std::string ref;
  std::string digest;  // kind oci: the manifest's digest, "sha256:<64 hex>"
  // kind oci: the layer blobs (compressed, as in the registry) in the shared
  // layer cache, in order; a blob no image names is removed (image prune).
  std::vector<std::string> layers;
  std::optional<OciImageConfig> config;  // kind oci
  bool operator==(const ImageSource&) const = default;
};

struct Image {
  std::string id;
  std::string name;
  bool managed = false;
  std::string artifact_dir;
  std::string rootfs_path;
  std::string work_seed_path;
  std::string kernel_path;
  std::string initrd_path;
  std::string modules_dir;
  std::string build_size;
  std::string seeded_ssh_public_key_fingerprint;
  bool docker = false;
  // extension, not stored: read from modules_dir when the image is shown
  // (daemon/image_kernel.h). "cloud" | "generic" | "" (unknown), and
  // whether the kernel can mount host folders (has 9p over virtio).
  std::string kernel_flavour;
  bool kernel_9p = false;
  ImageSource source;      // extension (migration 6)
  int64_t size_bytes = 0;  // extension: bytes the image's files take on disk (0 = unknown)
  Timestamp created_at{};
  Timestamp updated_at{};
};

// Per-VM I/O rate limits (extension); 0 = unlimited. The disk limits apply
// to each of the VM's disks; the network limit to each direction of its NIC.
struct RateLimits {
  int64_t disk_bytes_per_sec = 0;
  int64_t disk_iops = 0;
  int64_t net_bytes_per_sec = 0;
  bool operator==(const RateLimits&) const = default;
  bool any() const { return disk_bytes_per_sec > 0 || disk_iops > 0 || net_bytes_per_sec > 0; }
};

// The largest rate limit accepted (1 TiB/s, or 2^40 operations/s).
inline constexpr int64_t kMaxRateLimit = 1LL << 40;

// extension: a host folder shared with the guest (`vm create --mount`,
// QEMU only, over virtio-9p; model/mounts.h). host_path is the resolved
// absolute path the daemon checked at create; the guest init mounts it at
// guest_path on every boot.
struct VmMount {
  std::string host_path;
  std::string guest_path;
  bool read_only = false;
  bool operator==(const VmMount&) const = default;
};

struct VmSpec {
  int vcpu_count = kDefaultVCPUCount;
  int memory_mib = kDefaultMemoryMiB;
  int64_t system_overlay_size_bytes = kDefaultSystemOverlaySize;
  int64_t work_disk_size_bytes = kDefaultWorkDiskSize;
  bool nat_enabled = false;
  BackendKind backend = BackendKind::kQemu;  // extension: per-VM VMM backend
  // extension (`vm run --rm`): the daemon deletes the VM when its run command
  // ends or it stops (daemon/guest_exec.h).
  bool auto_remove = false;
  RateLimits limits;  // extension: `vm create/set --disk-bw --disk-iops --net-bw`
  // extension: pause in RAM after this long without activity (0 = never).
  std::chrono::milliseconds idle_suspend{0};
  SuspendTarget idle_suspend_to = SuspendTarget::kRam;
  // extension: stop or delete the VM this long after its creation, its
  // next start after a ttl stop, or `vm set --ttl` (0 = never; see
  // VmRuntime::expires_at).
  std::chrono::milliseconds ttl{0};
  TtlAction ttl_action = TtlAction::kStop;
  // extension: host folders (`--mount`), in mount order; [] = none.
  std::vector<VmMount> mounts;
};

// Durable runtime state: identity, declared state and deterministic paths.
struct VmRuntime {
  VmState state = VmState::kCreated;
  std::string guest_ip;
  std::string api_sock_path;  // Firecracker API socket, or QEMU's QMP socket
  std::string vsock_path;
  uint32_t vsock_cid = 0;
  std::string log_path;  // the guest console log
  std::string metrics_path;
  std::string dns_name;
  std::string vm_dir;
  std::string system_overlay_path;
  std::string work_disk_path;
  std::string last_error;
  std::string boot_id;     // extension: new on every start, "" when never started
  Timestamp started_at{};  // extension: when the current/last boot began
  Timestamp paused_at{};   // extension: when it was paused (zero unless paused)
  // extension: when spec.ttl_action runs (zero: no ttl, or spent by a stop).
  Timestamp expires_at{};
  // extension: the suspend snapshot (`vm stop --save`) the next start resumes
  // from; "" = none. Set together with state stopped, in one row write.
  std::string saved_snapshot;
  // extension: the saved state is idle suspend's (--idle-suspend-to disk),
  // so the next guest use starts the VM again; a `vm stop --save` waits for
  // `vm start`. Cleared by any start.
  bool idle_saved = false;
};

struct VmStats {
  Timestamp collected_at{};
  double cpu_percent = 0;
  int64_t rss_bytes = 0;
  int64_t vsz_bytes = 0;
  int64_t system_overlay_bytes = 0;
  int64_t work_disk_bytes = 0;
  nlohmann::json metrics_raw = nlohmann::json::object();
};

struct VmRecord {
  std::string id;
  std::string name;
  std::string image_id;
  VmState state = VmState::kCreated;
  Timestamp created_at{};
  Timestamp updated_at{};
  Timestamp last_touched_at{};
  VmSpec spec;
  VmRuntime runtime;
  VmStats stats;
  Labels labels;           // extension: key=value labels, list filters by them
  std::string request_id;  // extension: idempotency key for create, "" if none
};

// A snapshot of a VM on disk (extension: `vm snapshot create`, `vm stop
// --save`): the VMM's state and memory files plus point-in-time copies of
// the VM's writable disks, in `<vm_dir>/snapshots/<id>/`. What it was taken
// under (backend, image, kernel, vcpus, memory) must still hold to restore it.
struct VmSnapshot {
  std::string id;
  std::string vm_id;
  std::string name;  // unique per VM
  BackendKind backend = BackendKind::kQemu;
  std::string image_id;
  std::string kernel_identity;  // "<path>:<size>:<mtime ns>" of the image kernel at save time
  int vcpu_count = 0;
  int memory_mib = 0;
  nlohmann::json files = nlohmann::json::object();  // file name -> apparent size in bytes
  int64_t bytes_on_disk = 0;                        // blocks allocated by all files
  bool suspend = false;                             // made by `vm stop --save`; consumed by the next start
  bool complete = false;  // files written and renamed into place; only complete ones are listed
  Timestamp created_at{};
};

// extension: a template snapshot (warm start, `banger image template`): a
// booted, idle guest of one image and spec, saved once; `vm create`/`vm run`
// with the same image and spec continue it instead of booting. Files live in
// <home>/templates/<id16>/ (the VMM's files plus copies of the template VM's
// writable disks).
struct VmTemplate {
  std::string id;
  std::string image_id;
  std::string image_name;  // at creation, for display
  BackendKind backend = BackendKind::kQemu;
  int vcpu_count = 0;
  int memory_mib = 0;
  int64_t system_overlay_size_bytes = 0;
  int64_t work_disk_size_bytes = 0;
  bool nic = false;  // made with a network device (the daemon's networking on)
  // What the guest was built from: the image's kernel, initrd and rootfs and
  // the config's file_sync sources ("<path>:<size>:<mtime ns>" each). A
  // template whose inputs changed is stale and removed when next looked at.
  std::string inputs_identity;
  nlohmann::json files = nlohmann::json::object();  // file name -> apparent size in bytes
  int64_t bytes_on_disk = 0;
  bool complete = false;  // files in place; only complete templates are used or listed
  Timestamp created_at{};
  Timestamp last_used_at{};
  int64_t uses = 0;
};

// Transient kernel/process handles. Never in SQLite.
struct VmHandles {
  int pid = 0;
  std::string tap_device;
  std::string base_loop;
  std::string cow_loop;
  std::string dm_name;
  std::string dm_dev;
  // Who the VMM process is, recorded at spawn: it is adopted or signalled
  // only while all of these still match (base/process.h ProcIdentity).
  int64_t vmm_uid = 0;
  int64_t vmm_start_time = 0;  // /proc/PID/stat field 22
  int64_t vmm_exe_dev = 0;     // device and inode of /proc/PID/exe
  int64_t vmm_exe_ino = 0;
  bool empty() const {
    return pid == 0 && vmm_start_time == 0 && tap_device.empty() && base_loop.empty() && cow_loop.empty() &&
           dm_name.empty() && dm_dev.empty();
  }
};

struct GuestSession {
  std::string id;
  std::string vm_id;
  std::string name;
  std::string backend;
  std::string attach_backend;
  std::string attach_mode;
  std::string command;
  std::vector<std::string> args;
  std::string cwd;
  std::map<std::string, std::string> env;
  std::string stdin_mode = "closed";  // closed | pipe
  GuestSessionStatus status = GuestSessionStatus::kStarting;
  std::optional<int> exit_code;
  int guest_pid = 0;
  std::string guest_state_dir;
  std::string stdout_log_path;
  std::string stderr_log_path;
  std::map<std::string, std::string> tags;
  std::string last_error;
  bool attachable = false;
  bool reattachable = false;
  std::string launch_stage;
  std::string launch_message;
  std::string launch_raw_log;
  Timestamp created_at{};
  Timestamp started_at{};
  Timestamp updated_at{};
  Timestamp ended_at{};
};

enum class WorkspacePrepareMode { kShallowOverlay, kFullCopy, kMetadataOnly };
const char* WorkspacePrepareModeName(WorkspacePrepareMode m);
Result<WorkspacePrepareMode> ParseWorkspacePrepareMode(const std::string& s);

struct WorkspacePrepareResult {
  std::string vm_id;
  std::string source_path;
  std::string repo_root;
  std::string repo_name;
  std::string guest_path;
  WorkspacePrepareMode mode = WorkspacePrepareMode::kShallowOverlay;
  bool readonly = false;
  std::string head_commit;
  std::string current_branch;
  std::string branch_name;
  std::string base_commit;
  Timestamp prepared_at{};
};

// What `workspace export` brought back: `commit` is `base_commit` plus the
// guest's commits plus (if there were uncommitted changes) one commit of
// them; equal to base_commit when nothing changed.
struct WorkspaceExportResult {
  std::string vm_id;
  std::string repo_root;
  std::string guest_path;
  std::string base_commit;   // HEAD when the workspace was prepared
  std::string guest_head;    // the guest's HEAD ("" = the guest has no git)
  std::string commit;        // the tip of the exported history
  int64_t commits = 0;       // commits in base_commit..commit
  bool uncommitted = false;  // the last commit holds the guest's uncommitted changes
  std::string branch;        // the branch created, "" = none
  int64_t bytes = 0;         // bytes that came back from the guest
};

// A state change or session exit, as carried by the events stream.
struct Event {
  int64_t seq = 0;  // the resumable cursor; strictly increasing
  Timestamp at{};
  std::string type;  // "vm.state", "vm.created", "vm.deleted", "image.*", ...
  std::string vm_id;
  std::string vm_name;
  nlohmann::json data = nlohmann::json::object();
};

// 64 lowercase hex chars from a CSPRNG (the seed's NewId).
std::string NewId();
bool IsValidId(const std::string& id);

// The seed's ParseSize: "512M", "8G", "1024K", plain number = MiB; capped at 128G.
Result<int64_t> ParseSize(const std::string& raw);
std::string FormatSizeBytes(int64_t bytes);
// A rate: "10M" (binary K/M/G suffixes, per second), a plain number is
// bytes; 0 = unlimited; at most kMaxRateLimit. `what` names it in errors.
Result<int64_t> ParseRate(const std::string& raw, const std::string& what);
// Checks a rate limit's range: 0..kMaxRateLimit.
Status CheckRateLimits(const RateLimits& limits);

// A VM name is a DNS label: [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?
Status ValidateVmName(const std::string& name);
// Image names: same grammar as VM names plus '.' and '_' inside.
Status ValidateImageName(const std::string& name);
// Label keys: [a-z0-9A-Z._/-]{1,63}; values: printable, at most 255 bytes.
Status ValidateLabel(const std::string& key, const std::string& value);
// Parses "k=v".
Result<std::pair<std::string, std::string>> ParseLabel(const std::string& kv);
// Generates a friendly name like "brisk-otter-3f2a".
std::string GenerateVmName();

Status ValidateSpec(const VmSpec& spec);
// An idle-suspend time or ttl: 0 (off) or 1s..kMaxLifetimeDuration; `what` names it.
Status CheckLifetimeDuration(const std::string& what, std::chrono::milliseconds d);

}  // namespace banger
