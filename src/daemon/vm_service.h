// VmService: the VM lifecycle use cases (create/start/stop/restart/delete/
// set, get/list, console logs) and the per-VM lock; the VM's liveness
// (VmAlive), teardown and the per-VM reconcile step (vm_runtime.cc). Images
// are ImageService (image_service.h); the startup reconcile is reconcile.h;
// the copy-on-write root is a CowRoot (cow_root.h); the launch spec is
// launch_spec.h. The API layer calls these; they never see JSON.
//
// Concurrency: operations on one VM are serialized by a per-VM mutex (never
// interleaved); different VMs proceed in parallel. The Store and HandleCache
// are internally synchronized. Lock order: per-VM mutex, then anything else.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/client.h"
#include "base/process.h"
#include "config/config.h"
#include "daemon/agent_pool.h"
#include "daemon/cow_root.h"
#include "daemon/events.h"
#include "daemon/handle_cache.h"
#include "daemon/launch_spec.h"
#include "daemon/network.h"
#include "daemon/vm_mounts.h"
#include "model/json.h"
#include "model/requests.h"
#include "storage/disk.h"
#include "store/store.h"
#include "vmm/backend.h"

namespace banger {

// A VM as the API shows it: the record plus current handles.
struct VmView {
  VmRecord vm;
  std::optional<VmHandles> handles;
  std::vector<PortMapping> ports;  // published ports (daemon/port_service.h)
};

struct CreateResult {
  VmView view;
  bool created = true;  // false when an earlier create with the same request_id answered
};

struct LogChunk {
  std::string data;
  int64_t next_offset = 0;
  VmState state = VmState::kStopped;
};

struct VmServiceDeps {
  HomeLayout home;
  DaemonConfig config;
  Store* store = nullptr;
  EventLog* events = nullptr;
  ProcessOps* procs = nullptr;
  DiskOps* disks = nullptr;
  // The copy-on-write root (config cow_mode, chosen at wiring: MakeCowRoot);
  // null: the overlay root without device-mapper.
  CowRoot* cow = nullptr;
  AgentPool* agents = nullptr;   // null: no guest agent access (some unit tests)
  VmNetwork* network = nullptr;  // null: VMs get no NIC (config network = "off")
  std::map<BackendKind, VmmBackend*> backends;
  BackendKind default_backend = BackendKind::kQemu;
  // Per-VM cgroups (config vm_cgroups); null: off, or not writable here.
  const VmCgroups* cgroups = nullptr;
  // The OS calls behind host-folder checks (daemon/vm_mounts.h); null: the real ones.
  const MountOps* mount_ops = nullptr;
  // Bounds one VMM launch (spawn + configure + boot start).
  std::chrono::milliseconds launch_timeout{std::chrono::seconds(60)};
};

class VmService {
 public:
  explicit VmService(VmServiceDeps deps);

  // `caller`: who asked, as the local API socket saw it (SO_PEERCRED); host
  // folders (req.mounts) are checked against it and refused without it.
  Result<CreateResult> Create(const CreateVmRequest& req,
                              const std::optional<Credentials>& caller = std::nullopt);
  Result<VmView> Start(const std::string& ref);
  Result<VmView> Stop(const std::string& ref, std::optional<std::chrono::milliseconds> graceful);
  // Auto-stop: stops the VM if, under its lock, it still runs and was last
  // touched before `cutoff`. Returns whether it stopped it.
  Result<bool> StopIfIdle(const std::string& id, Timestamp cutoff, const std::string& reason);
  Result<VmView> Restart(const std::string& ref, std::optional<std::chrono::milliseconds> graceful);
  // Returns the deleted id, or "" when missing_ok and the VM does not exist.
  Result<std::string> Delete(const std::string& ref, bool missing_ok);
  Result<VmView> Set(const std::string& ref, const SetVmRequest& req);

  // Pause and resume (daemon/vm_pause.cc). Pause stops a running VM's vCPUs
  // (its VMM and memory stay): kConflict when it is not running or already
  // paused. Resume continues a paused VM: kConflict when it is not paused.
  Result<VmView> Pause(const std::string& ref);
  Result<VmView> Resume(const std::string& ref);
  // Transparent resume before guest use (exec, ssh, session, workspace):
  // resumes the VM if it is paused; whether it did. Anything else is left
  // as it is (the caller reports a VM that is not running).
  Result<bool> ResumeIfPaused(const std::string& ref, const std::string& reason);
  // Idle suspend (the sweeper): pauses the VM if, under its lock, it still
  // runs, has an idle_suspend and was last touched before now minus it.
  // Never waits for the VM's lock: a busy VM is skipped (false).
  Result<bool> PauseIfIdle(const std::string& id, Timestamp now);
  // TTL (the sweeper): runs the VM's ttl_action if, under its lock, its
  // expires_at has passed. Skips a busy VM (false) like PauseIfIdle.
  Result<bool> ExpireIfDue(const std::string& id, Timestamp now);
  Result<VmView> Get(const std::string& ref);
  Result<std::vector<VmView>> List(const Labels& selector);
  // Console log bytes from `offset` (at most max_bytes), waiting up to
  // `wait` for new bytes when there are none.
  Result<LogChunk> ReadLogs(const std::string& ref, int64_t offset, size_t max_bytes,
                            std::chrono::milliseconds wait);
  // Where ReadLogs should start so that nothing the VM wrote to its console
  // after `since_ms` (unix ms) is left out: from the log's time index
  // (daemon/console_times.h), so up to ~1 s of older output comes too.
  Result<int64_t> LogOffsetSince(const std::string& ref, int64_t since_ms);

  // The agent pool and store for GuestExec (daemon/guest_exec.h), which
  // waits for agents and runs commands in guests.
  AgentPool* agents() const { return d_.agents; }
  Store& store() const { return *d_.store; }
  // spec.auto_remove: marks the VM's run command as started; false when it
  // already was (only the first exec of an auto-remove VM is its run command).
  bool ClaimRunCommand(const std::string& vm_id);
  bool RunCommandClaimed(const std::string& vm_id);
  // Guest commands in progress (GuestCommand): a VM running one is in use,
  // so idle suspend leaves it alone; the end of one counts as activity.
  void BeginUse(const std::string& vm_id);
  void EndUse(const std::string& vm_id);
  bool InUse(const std::string& vm_id);

  // The single source of truth for liveness: a cached pid whose process is
  // alive and whose argv names this VM's control socket.
  bool VmAlive(const VmRecord& vm);

  // The per-VM steps of the startup reconcile (reconcile.h). ReconcileVm,
  // under the VM's lock: a VM recorded running whose VMM (found by its
  // control socket in the process table) lives is re-adopted, else torn down
  // and demoted; a VM not running loses any leftovers of an interrupted start.
  void ReconcileVm(VmRecord vm);
  // Tears down what an orphan VM directory (no row) names, then removes it.
  void RemoveOrphanDir(const std::string& dir);
  // Removes per-VM cgroups no running VM owns (after ReconcileVm for all).
  void RemoveStaleCgroups();
  // The cached transient handles of a VM (nullopt: none).
  std::optional<VmHandles> HandlesOf(const std::string& vm_id) const;
  // Periodic check: running VMs whose VMM exited are demoted to stopped.
  void SweepDead();

  int CountRunning();
  // Set once at wiring by SnapshotService: how StartLocked resumes a VM
  // whose row names a saved state (runtime.saved_snapshot). Unset: such a
  // VM boots cold.
  void SetResumeSaved(std::function<Result<VmRecord>(VmRecord)> fn) { resume_saved_ = std::move(fn); }
  // Registered by SnapshotService: saves a running or paused VM (the VM's
  // lock held) and stops its VMM, as `vm stop --save`; idle suspend to disk.
  void SetSuspendToDisk(std::function<Result<VmRecord>(VmRecord)> fn) { suspend_to_disk_ = std::move(fn); }
  // Registered by TemplateService (warm start): makes the new VM `vm` (its
  // record validated, no id yet) continue a template snapshot of `img` and
  // its spec. nullopt: no usable template, Create boots it; an error: the
  // attempt failed and left nothing, Create boots it.
  using WarmStartFn = std::function<std::optional<Result<VmRecord>>(const VmRecord& vm, const Image& img)>;
  void SetWarmStart(WarmStartFn fn) { warm_start_ = std::move(fn); }
  // Set once at wiring by PortService: called after every recorded state
  // change, the VM's lock held (published ports follow the VMM). Must not
  // take a VM's lock.
  void SetStateHook(std::function<void(const VmRecord& vm, VmState from)> fn) { state_hook_ = std::move(fn); }
  // Makes waiting reads (ReadLogs) return promptly: the daemon is stopping.
  void BeginShutdown() { stopping_ = true; }

 private:
  std::shared_ptr<std::mutex> LockFor(const std::string& vm_id);
  void DropLock(const std::string& vm_id);
  VmmBackend* BackendFor(BackendKind k);
  VmView ViewOf(const VmRecord& vm);
  VmView ViewOf(const VmRecord& vm, std::vector<PortMapping> ports);
  // Create's steps: the validated record, its image, a free id, its paths
  // and guest address (under create_mu_), the config's file_sync copies.
  Result<VmRecord> NewRecord(const CreateVmRequest& req);
  Result<Image> ResolveImage(const std::string& ref);
  Status AssignIdAndPaths(VmRecord& vm);
  Status SyncFilesInto(const VmRecord& vm);
  // The VM directory, the system overlay (CowRoot) and the work disk; idempotent.
  Status EnsureDisks(const VmRecord& vm, const Image& img);
  // Asking for NAT (--nat) when host networking is off is an error, not a no-op.
  Status CheckNatRequest(std::optional<bool> nat) const;
  // Resolves `ref`, takes the VM's mutex, re-reads the record and runs `op`.
  Result<VmView> WithVmLocked(const std::string& ref, const std::function<Result<VmRecord>(VmRecord)>& op);
  // The following require the VM's mutex held.
  // Start of an existing VM: resolves its image, checks, clears leftovers of
  // an earlier run and ensures its disks, then BootLocked.
  Result<VmRecord> StartLocked(VmRecord vm);
  // Backend, image files, VMM and copy-on-write root usable.
  Status CheckBootable(const VmRecord& vm, const Image& img);
  // Boots a VM whose image is resolved, checked and whose disks exist:
  // root, NIC, VMM; every step rolled back (UndoBoot) when a later one fails.
  // With `from`, the VMM continues that snapshot instead of booting.
  Result<VmRecord> BootLocked(VmRecord vm, const Image& img, const SnapshotPaths* from = nullptr);
  Status AttachBootDevices(const VmRecord& vm, const Image& img, VmHandles& h, BootDevices& dev);
  // Caches `h` and writes the scratch file.
  Status RecordHandles(const VmRecord& vm, const VmHandles& h);
  // Gives back what a failed boot set up (tap, root, cache, scratch file).
  void UndoBoot(const VmRecord& vm, const VmHandles& h);
  // Records the failure on the VM (state error, last_error) and returns it.
  Result<VmRecord> FailStart(VmRecord& vm, Error e);
  Result<VmRecord> SetLocked(VmRecord vm, const SetVmRequest& req);
  Result<VmRecord> StopLocked(VmRecord vm, std::chrono::milliseconds graceful, const std::string& reason);
  // Everything of Delete after its lock is taken (the record re-read).
  Status DeleteLocked(VmRecord vm, const std::string& reason);
  // Pause/resume of a VM whose VMM lives (vm_pause.cc).
  Result<VmRecord> PauseLocked(VmRecord vm, const std::string& reason);
  Result<VmRecord> ResumeLocked(VmRecord vm, const std::string& reason);
  // The VMM process of a VM that has one, or kUnavailable.
  Result<VmmProcess> VmmOf(const VmRecord& vm);
  // Like WithVmLocked, but gives up (false) when the VM's lock is held.
  Result<bool> TryWithVmLocked(const std::string& id, const std::function<Result<bool>(VmRecord)>& op);
  // The lifetime fields of a create/set request applied to `spec` (the
  // config's vm_defaults at create) and the ttl deadline they give.
  Status ApplyLifetime(VmRecord& vm, const std::optional<std::chrono::milliseconds>& idle_suspend,
                       const std::optional<std::chrono::milliseconds>& ttl,
                       const std::optional<std::string>& ttl_action,
                       const std::optional<std::string>& idle_suspend_to);
  // Tears down everything transient the handles name, then forgets them.
  void CleanupRuntime(const VmRecord& vm, const std::optional<VmHandles>& handles);
  // Removes the VM's cgroup (its VMM must be gone); logs a failure.
  void RemoveCgroup(const VmRecord& vm);
  // Applies `next` limits to a running VM's VMM.
  Status ApplyRateLimits(const VmRecord& vm, const RateLimits& next);
  Status SaveState(VmRecord& vm, VmState to, const std::string& reason);
  void EmitVm(const std::string& type, const VmRecord& vm, Json data = Json::object());
  // Demotes a VM recorded running or paused whose VMM is gone (caller holds its mutex).
  void DemoteIfDeadLocked(VmRecord& vm);
  // Reconcile of a re-adopted VM: records running or paused as its VMM says.
  void AdoptPauseStateLocked(VmRecord& vm, const VmHandles& h);

  // The snapshot use cases (snapshot_service.h) run under this class's
  // per-VM lock and reuse its boot, stop and liveness steps.
  friend class SnapshotService;
  // Template snapshots (template_service.h): made from a VM it creates, continued by Create.
  friend class TemplateService;

  VmServiceDeps d_;
  std::function<Result<VmRecord>(VmRecord)> resume_saved_;     // set once at wiring
  std::function<Result<VmRecord>(VmRecord)> suspend_to_disk_;  // set once at wiring
  WarmStartFn warm_start_;                                     // set once at wiring
  std::function<void(const VmRecord&, VmState)> state_hook_;   // set once at wiring
  std::unique_ptr<CowRoot> own_cow_;                           // when deps named none
  HandleCache cache_;
  std::atomic<bool> stopping_{false};
  std::mutex create_mu_;  // serializes guest IP allocation
  std::mutex locks_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;  // Guarded by locks_mu_.
  std::set<std::string> run_claimed_;                         // Guarded by locks_mu_.
  std::map<std::string, int> in_use_;                         // Guarded by locks_mu_.
};

}  // namespace banger
