#include "daemon/vm_service.h"

#include <signal.h>

#include <cstdlib>
#include <functional>
#include <set>

#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/scope_guard.h"
#include "daemon/launch_spec.h"
#include "model/json.h"
#include "model/mounts.h"
#include "storage/file_sync.h"

namespace banger {
namespace {

// sun_path holds 107 characters plus the NUL.
constexpr size_t kMaxSocketPath = 107;
// Firecracker appends "_<port>" (up to 11 chars) to the vsock path.
constexpr size_t kVsockSuffixRoom = 11;

}  // namespace

VmService::VmService(VmServiceDeps deps) : d_(std::move(deps)) {
  if (!d_.cow) {
    own_cow_ = MakeCowRoot("overlay", nullptr, *d_.disks, *d_.store);
    d_.cow = own_cow_.get();
  }
}

std::shared_ptr<std::mutex> VmService::LockFor(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(locks_mu_);
  auto& m = locks_[vm_id];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

void VmService::DropLock(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(locks_mu_);
  locks_.erase(vm_id);
  run_claimed_.erase(vm_id);
}

bool VmService::ClaimRunCommand(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(locks_mu_);
  return run_claimed_.insert(vm_id).second;
}

bool VmService::RunCommandClaimed(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(locks_mu_);
  return run_claimed_.count(vm_id) > 0;
}

VmmBackend* VmService::BackendFor(BackendKind k) {
  auto it = d_.backends.find(k);
  return it == d_.backends.end() ? nullptr : it->second;
}

void VmService::EmitVm(const std::string& type, const VmRecord& vm, Json data) {
  Event ev;
  ev.type = type;
  ev.vm_id = vm.id;
  ev.vm_name = vm.name;
  ev.data = std::move(data);
  d_.events->Emit(std::move(ev));
}

Status VmService::EnsureDisks(const VmRecord& vm, const Image& img) {
  BANGER_RETURN_IF_ERROR(MakeDirs(vm.runtime.vm_dir, 0700));
  BANGER_RETURN_IF_ERROR(d_.cow->PrepareStore(vm));
  if (!PathExists(vm.runtime.work_disk_path)) {
    if (!img.work_seed_path.empty()) {
      BANGER_RETURN_IF_ERROR(d_.disks->CreateFromSeed(img.work_seed_path, vm.runtime.work_disk_path,
                                                      vm.spec.work_disk_size_bytes));
    } else {
      BANGER_RETURN_IF_ERROR(
          d_.disks->CreateExt4(vm.runtime.work_disk_path, vm.spec.work_disk_size_bytes, "banger-work"));
    }
  }
  return OkStatus();
}

// ---------------------------------------------------------------- vms

Result<VmRecord> VmService::NewRecord(const CreateVmRequest& req) {
  VmRecord vm;
  vm.name = req.name.empty() ? GenerateVmName() : req.name;
  BANGER_RETURN_IF_ERROR(ValidateVmName(vm.name));
  for (const auto& [k, v] : req.labels) BANGER_RETURN_IF_ERROR(ValidateLabel(k, v));
  const auto& def = d_.config.vm_defaults;
  vm.spec.vcpu_count = req.vcpu_count.value_or(def.vcpu_count);
  vm.spec.memory_mib = req.memory_mib.value_or(def.memory_mib);
  vm.spec.system_overlay_size_bytes = req.system_overlay_size_bytes.value_or(def.system_overlay_size_bytes);
  vm.spec.work_disk_size_bytes = req.work_disk_size_bytes.value_or(def.work_disk_size_bytes);
  vm.spec.nat_enabled = req.nat_enabled.value_or(def.nat_enabled);
  vm.spec.auto_remove = req.auto_remove;
  vm.spec.limits = MergeRateLimits(RateLimits{}, req);
  vm.spec.idle_suspend = def.idle_suspend;
  vm.spec.idle_suspend_to = def.idle_suspend_to;
  vm.spec.ttl_action = def.ttl_action;
  BANGER_RETURN_IF_ERROR(ApplyLifetime(vm, req.idle_suspend, req.ttl ? req.ttl : std::optional(def.ttl),
                                       req.ttl_action, req.idle_suspend_to));
  BANGER_RETURN_IF_ERROR(CheckNatRequest(req.nat_enabled));
  vm.spec.backend = d_.default_backend;
  if (req.backend) {
    BANGER_ASSIGN_OR_RETURN(vm.spec.backend, ParseBackend(*req.backend));
  }
  BANGER_RETURN_IF_ERROR(ValidateSpec(vm.spec));
  BANGER_RETURN_IF_ERROR(CheckRateLimitSupport(vm.spec.backend, vm.spec.limits));
  BANGER_RETURN_IF_ERROR(CheckMountBackend(vm.spec.backend, req.mounts));
  if (!BackendFor(vm.spec.backend)) {
    return Error::Unavailable(std::string("backend ") + BackendName(vm.spec.backend) + " is not configured");
  }
  vm.labels = req.labels;
  vm.request_id = req.request_id;
  vm.created_at = vm.updated_at = vm.last_touched_at = Now();
  vm.state = vm.runtime.state = VmState::kCreated;
  vm.runtime.dns_name = vm.name + ".vm";
  return vm;
}

Result<Image> VmService::ResolveImage(const std::string& ref) {
  std::string image_ref = ref.empty() ? d_.config.default_image_name : ref;
  if (image_ref.empty()) return Error::Invalid("no image given and no default_image_name configured");
  auto img = d_.store->GetImage(image_ref);
  if (!img.ok() && img.error().kind() == ErrorKind::kNotFound) {
    return Error::NotFound("image \"" + image_ref + "\" not found (see `banger image list`)");
  }
  return img;
}

Status VmService::AssignIdAndPaths(VmRecord& vm) {
  // A fresh id whose directory is free (the directory is named by a prefix).
  do {
    vm.id = NewId();
  } while (PathExists(d_.home.VmDir(vm.id)));
  if (d_.network) {
    BANGER_ASSIGN_OR_RETURN(auto all, d_.store->ListVms());
    std::set<std::string> in_use;
    for (const auto& other : all) {
      if (!other.runtime.guest_ip.empty()) in_use.insert(other.runtime.guest_ip);
    }
    BANGER_ASSIGN_OR_RETURN(vm.runtime.guest_ip, d_.network->AllocateIp(in_use));
  }
  FillRuntimePaths(d_.home, vm);
  if (vm.runtime.vsock_path.size() + kVsockSuffixRoom > kMaxSocketPath ||
      vm.runtime.api_sock_path.size() > kMaxSocketPath) {
    return Error::Invalid("home directory path " + d_.home.root + " is too long for Unix socket paths");
  }
  return OkStatus();
}

Status VmService::SyncFilesInto(const VmRecord& vm) {
  if (d_.config.file_sync.empty()) return OkStatus();
  std::vector<SyncEntry> entries;
  for (const auto& e : d_.config.file_sync) entries.push_back({e.host, e.guest, e.mode});
  const char* home = std::getenv("HOME");
  auto warnings = SyncIntoExt4(vm.runtime.work_disk_path, entries, home ? home : "/root");
  if (!warnings.ok()) return std::move(warnings).error().Wrap("vm " + vm.name);
  for (const auto& w : *warnings) spdlog::warn("vm {}: {}", vm.name, w);
  return OkStatus();
}

Result<CreateResult> VmService::Create(const CreateVmRequest& req, const std::optional<Credentials>& caller) {
  if (!req.request_id.empty()) {
    if (req.request_id.size() > 128) return Error::Invalid("request_id longer than 128 bytes");
    BANGER_ASSIGN_OR_RETURN(auto prior, d_.store->FindVmByRequestId(req.request_id));
    if (prior) return CreateResult{ViewOf(*prior), false};
  }
  BANGER_ASSIGN_OR_RETURN(VmRecord vm, NewRecord(req));
  const MountOps& mount_ops = d_.mount_ops ? *d_.mount_ops : RealMountOps();
  BANGER_ASSIGN_OR_RETURN(vm.spec.mounts, CheckMountsForCaller(req.mounts, caller, mount_ops));
  BANGER_ASSIGN_OR_RETURN(Image img, ResolveImage(req.image));
  BANGER_RETURN_IF_ERROR(CheckImageMounts(img, vm.spec.mounts));
  vm.image_id = img.id;
  // Templates have no host folders: a VM with some always boots.
  if (!req.no_start && !req.cold && warm_start_ && vm.spec.mounts.empty()) {
    if (auto warm = warm_start_(vm, img)) {
      if (warm->ok()) return CreateResult{ViewOf(**warm), true};
      spdlog::warn("vm {}: warm start failed, booting it: {}", vm.name, warm->error().message());
    }
  }
  // Serialized: two creates must not pick the same address.
  std::unique_lock<std::mutex> ip_lock(create_mu_);
  BANGER_RETURN_IF_ERROR(AssignIdAndPaths(vm));
  BANGER_FAULT_POINT("vm.create.id_assigned");

  // Files first, then the row: a crash in between leaves an orphan
  // directory, which Reconcile removes; never a row without its files.
  auto lock = LockFor(vm.id);
  std::lock_guard<std::mutex> lk(*lock);
  ScopeGuard undo_dir([&] { RemoveAll(vm.runtime.vm_dir).ok(); });
  BANGER_RETURN_IF_ERROR(Annotate(EnsureDisks(vm, img), "creating disks for vm " + vm.name));
  BANGER_RETURN_IF_ERROR(SyncFilesInto(vm));
  BANGER_FAULT_POINT("vm.create.disks_made");
  auto ins = d_.store->InsertVm(vm);
  if (!ins.ok()) {
    if (ins.error().kind() == ErrorKind::kConflict && !req.request_id.empty()) {
      // A concurrent create with the same key won the race: answer with its VM.
      auto prior = d_.store->FindVmByRequestId(req.request_id);
      if (prior.ok() && *prior) return CreateResult{ViewOf(**prior), false};
    }
    return std::move(ins).error();
  }
  undo_dir.Dismiss();
  BANGER_FAULT_POINT("vm.create.row_written");
  ip_lock.unlock();  // the address is recorded now
  EmitVm("vm.created", vm, Json{{"image_id", vm.image_id}});
  spdlog::info("created vm {} ({})", vm.name, vm.id);
  if (req.no_start) return CreateResult{ViewOf(vm), true};
  // The image is resolved and the disks are fresh: boot straight away.
  auto booted = [&]() -> Result<VmRecord> {
    if (auto st = CheckBootable(vm, img); !st.ok()) return FailStart(vm, std::move(st).error());
    return BootLocked(vm, img);
  }();
  if (!booted.ok()) return std::move(booted).error();
  return CreateResult{ViewOf(*booted), true};
}

Status VmService::SaveState(VmRecord& vm, VmState to, const std::string& reason) {
  VmState from = vm.state;
  vm.state = vm.runtime.state = to;
  if (to != VmState::kPaused) vm.runtime.paused_at = Timestamp{};
  vm.updated_at = Now();
  BANGER_RETURN_IF_ERROR(d_.store->UpdateVm(vm));
  if (from != to) {
    Json data{{"from", VmStateName(from)}, {"to", VmStateName(to)}};
    if (!vm.runtime.boot_id.empty()) data["boot_id"] = vm.runtime.boot_id;
    if (!reason.empty()) data["reason"] = reason;
    EmitVm("vm.state", vm, std::move(data));
    if (state_hook_) state_hook_(vm, from);
  }
  return OkStatus();
}

Result<VmRecord> VmService::FailStart(VmRecord& vm, Error e) {
  vm.runtime.last_error = e.message();
  if (auto st = SaveState(vm, VmState::kError, e.message()); !st.ok()) {
    spdlog::error("vm {}: recording start failure: {}", vm.name, st.error().message());
  }
  spdlog::warn("vm {}: start failed: {}", vm.name, e.message());
  return std::move(e).Wrap("starting vm " + vm.name);
}

Status VmService::CheckBootable(const VmRecord& vm, const Image& img) {
  VmmBackend* backend = BackendFor(vm.spec.backend);
  if (!backend)
    return Error::Unavailable(std::string("backend ") + BackendName(vm.spec.backend) + " is not configured");
  for (const auto& [what, path] : {std::pair<const char*, std::string>{"kernel", img.kernel_path},
                                   {"rootfs", img.rootfs_path},
                                   {"initrd", img.initrd_path}}) {
    if (!path.empty() && !IsRegularFile(path)) {
      return Error::Unavailable(std::string("image ") + img.name + ": " + what + " " + path + " is missing");
    }
  }
  BANGER_RETURN_IF_ERROR(backend->CheckAvailable());
  if (!vm.spec.mounts.empty()) {
    BANGER_RETURN_IF_ERROR(CheckMountBackend(vm.spec.backend, vm.spec.mounts));
    BANGER_RETURN_IF_ERROR(CheckMountsAtBoot(vm.spec.mounts, d_.mount_ops ? *d_.mount_ops : RealMountOps()));
    BANGER_RETURN_IF_ERROR(CheckImageMounts(img, vm.spec.mounts));
  }
  return d_.cow->CheckAvailable();
}

Result<VmRecord> VmService::StartLocked(VmRecord vm) {
  if (vm.state == VmState::kRunning && VmAlive(vm)) return vm;
  vm.runtime.idle_saved = false;  // any start ends an idle suspend to disk
  // Starting a paused VM continues it: its memory is the VM's state.
  if (vm.state == VmState::kPaused && VmAlive(vm)) return ResumeLocked(std::move(vm), "resumed by start");
  // `vm stop --save` left a saved state: the start continues it.
  if (!vm.runtime.saved_snapshot.empty() && resume_saved_) return resume_saved_(std::move(vm));
  auto img = d_.store->GetImage(vm.image_id);
  if (!img.ok()) return FailStart(vm, std::move(img).error().Wrap("image of vm"));
  if (auto st = CheckBootable(vm, *img); !st.ok()) return FailStart(vm, std::move(st).error());
  BANGER_FAULT_POINT("vm.start.begin");
  // Leftovers of an earlier run (a crash mid-start) must not confuse this one.
  CleanupRuntime(vm, cache_.Get(vm.id));
  if (auto st = EnsureDisks(vm, *img); !st.ok()) return FailStart(vm, std::move(st).error());
  return BootLocked(std::move(vm), *img);
}

Status VmService::RecordHandles(const VmRecord& vm, const VmHandles& h) {
  cache_.Set(vm.id, h);
  return WriteHandlesFile(vm.runtime.vm_dir, h);
}

Status VmService::AttachBootDevices(const VmRecord& vm, const Image& img, VmHandles& h, BootDevices& dev) {
  BANGER_ASSIGN_OR_RETURN(h, d_.cow->Attach(vm, img, dev.root_dev));
  BANGER_FAULT_POINT("vm.start.root_attached");
  // Recorded before the VMM runs: should the daemon die from here on, the
  // scratch file names the devices and Reconcile tears them down.
  if (!h.empty()) BANGER_RETURN_IF_ERROR(RecordHandles(vm, h));
  if (d_.network) {
    BANGER_ASSIGN_OR_RETURN(NicLease nic, Annotate(d_.network->Attach(vm), "network"));
    h.tap_device = dev.tap_device = nic.tap;
    BANGER_FAULT_POINT("vm.start.tap_leased");
    dev.net_kernel_args = d_.network->KernelArgs(vm);
    BANGER_RETURN_IF_ERROR(RecordHandles(vm, h));
  }
  return OkStatus();
}

Result<VmRecord> VmService::BootLocked(VmRecord vm, const Image& img, const SnapshotPaths* from) {
  VmmBackend* backend = BackendFor(vm.spec.backend);
  VmHandles h;  // what this boot holds: transient, never in the store
  ScopeGuard undo([&] { UndoBoot(vm, h); });
  BootDevices dev;
  if (auto st = AttachBootDevices(vm, img, h, dev); !st.ok()) return FailStart(vm, std::move(st).error());
  BANGER_FAULT_POINT("vm.start.devices_recorded");

  LaunchSpec spec = BuildLaunchSpec(vm, img, dev);
  if (d_.cgroups) {
    // Made before the VMM runs and joined by it before exec; the undo above
    // and CleanupRuntime remove it, Reconcile removes one nobody owns.
    auto procs = d_.cgroups->Create(CgroupName(vm), CgroupLimitsFor(vm.spec));
    if (!procs.ok()) {
      RemoveCgroup(vm);
      return FailStart(vm, std::move(procs).error());
    }
    spec.cgroup_procs_files = std::move(*procs);
  }
  spdlog::info("vm {}: starting ({})", vm.name, BackendName(vm.spec.backend));
  // Recorded the moment the VMM exists: a daemon that dies during the boot
  // leaves a scratch file naming exactly that process for Reconcile.
  spec.on_spawn = [&](const ProcIdentity& who) {
    SetVmmIdentity(h, who);
    return RecordHandles(vm, h);
  };
  auto proc = from ? backend->LaunchFromSnapshot(spec, *from, /*resume=*/true, d_.launch_timeout)
                   : backend->Launch(spec, d_.launch_timeout);
  if (!proc.ok()) return FailStart(vm, std::move(proc).error());
  SetVmmIdentity(h, proc->identity);
  BANGER_FAULT_POINT("vm.start.vmm_launched");
  if (auto st = RecordHandles(vm, h); !st.ok()) {
    // Without the scratch file a crashed daemon could not tear this down; refuse to run so.
    backend->Shutdown(*proc, std::chrono::milliseconds(0)).ok();
    return FailStart(vm, std::move(st).error());
  }
  BANGER_FAULT_POINT("vm.start.handles_written");
  vm.runtime.boot_id = NewId().substr(0, 32);
  vm.runtime.started_at = Now();
  vm.runtime.last_error.clear();
  vm.last_touched_at = Now();
  // A ttl spent by a stop (or set while stopped) counts again from this start.
  if (vm.spec.ttl.count() > 0 && vm.runtime.expires_at == Timestamp{}) {
    vm.runtime.expires_at = Now() + std::chrono::ceil<std::chrono::seconds>(vm.spec.ttl);
  }
  if (auto st = SaveState(vm, VmState::kRunning, from ? "restored" : "started"); !st.ok()) {
    backend->Shutdown(*proc, std::chrono::milliseconds(0)).ok();
    undo.Dismiss();  // CleanupRuntime tears down the root and gives the tap back
    CleanupRuntime(vm, h);
    return std::move(st).error().Wrap("starting vm " + vm.name);
  }
  undo.Dismiss();
  BANGER_FAULT_POINT("vm.start.state_saved");
  spdlog::info("vm {}: running, pid {}, boot {}", vm.name, h.pid, vm.runtime.boot_id);
  return vm;
}

Result<VmRecord> VmService::StopLocked(VmRecord vm, std::chrono::milliseconds graceful,
                                       const std::string& reason) {
  auto handles = cache_.Get(vm.id);
  if (handles && handles->pid > 0 && VmAlive(vm)) {
    VmmBackend* backend = BackendFor(vm.spec.backend);
    if (!backend)
      return Error::Unavailable(std::string("backend ") + BackendName(vm.spec.backend) +
                                " is not configured");
    if (vm.state == VmState::kPaused && graceful.count() > 0) {
      // A paused guest cannot shut down: continue it first, or force the stop.
      if (auto st = backend->Resume(VmmProcessOf(vm, *handles)); !st.ok()) {
        spdlog::warn("vm {}: resuming before stop: {}; forcing it", vm.name, st.error().message());
        graceful = std::chrono::milliseconds(0);
      }
    }
    spdlog::info("vm {}: stopping pid {} (graceful {}ms)", vm.name, handles->pid, graceful.count());
    BANGER_FAULT_POINT("vm.stop.begin");
    auto st = backend->Shutdown(VmmProcessOf(vm, *handles), graceful);
    if (!st.ok()) return std::move(st).error().Wrap("stopping vm " + vm.name);
    BANGER_FAULT_POINT("vm.stop.vmm_stopped");
  }
  CleanupRuntime(vm, handles);
  BANGER_FAULT_POINT("vm.stop.cleaned_up");
  if (vm.state != VmState::kStopped && vm.state != VmState::kCreated) {
    BANGER_RETURN_IF_ERROR(SaveState(vm, VmState::kStopped, reason));
  }
  BANGER_FAULT_POINT("vm.stop.state_saved");
  return vm;
}

Result<VmView> VmService::WithVmLocked(const std::string& ref,
                                       const std::function<Result<VmRecord>(VmRecord)>& op) {
  BANGER_ASSIGN_OR_RETURN(VmRecord vm, d_.store->GetVm(ref));
  auto lock = LockFor(vm.id);
  std::lock_guard<std::mutex> lk(*lock);
  // Re-read under the lock: the operation before us may have changed it.
  BANGER_ASSIGN_OR_RETURN(vm, d_.store->GetVm(vm.id));
  BANGER_ASSIGN_OR_RETURN(vm, op(std::move(vm)));
  return ViewOf(vm);
}

Result<VmView> VmService::Start(const std::string& ref) {
  return WithVmLocked(ref, [this](VmRecord vm) { return StartLocked(std::move(vm)); });
}

Result<VmView> VmService::Stop(const std::string& ref, std::optional<std::chrono::milliseconds> graceful) {
  return WithVmLocked(ref, [&](VmRecord vm) -> Result<VmRecord> {
    if (vm.state == VmState::kStopped && vm.runtime.idle_saved) {
      // Suspended to disk by idle suspend: a stop keeps it stopped (its saved
      // state stays for `vm start`) instead of starting on the next use.
      vm.runtime.idle_saved = false;
      BANGER_RETURN_IF_ERROR(d_.store->UpdateVm(vm));
      return vm;
    }
    return StopLocked(std::move(vm), graceful.value_or(d_.config.stop_timeout), "stopped");
  });
}

Result<bool> VmService::StopIfIdle(const std::string& id, Timestamp cutoff, const std::string& reason) {
  bool stopped = false;
  auto r = WithVmLocked(id, [&](VmRecord vm) -> Result<VmRecord> {
    if (!VmStateHasVmm(vm.state) || vm.last_touched_at >= cutoff) return vm;
    stopped = true;
    return StopLocked(std::move(vm), d_.config.stop_timeout, reason);
  });
  if (!r.ok()) return std::move(r).error();
  return stopped;
}

Result<VmView> VmService::Restart(const std::string& ref, std::optional<std::chrono::milliseconds> graceful) {
  return WithVmLocked(ref, [&](VmRecord vm) -> Result<VmRecord> {
    BANGER_ASSIGN_OR_RETURN(
        vm, StopLocked(std::move(vm), graceful.value_or(d_.config.stop_timeout), "restarting"));
    return StartLocked(std::move(vm));
  });
}

Result<std::string> VmService::Delete(const std::string& ref, bool missing_ok) {
  auto found = d_.store->GetVm(ref);
  if (!found.ok()) {
    if (missing_ok && found.error().kind() == ErrorKind::kNotFound) return std::string();
    return std::move(found).error();
  }
  VmRecord vm = std::move(*found);
  auto lock = LockFor(vm.id);
  {
    std::lock_guard<std::mutex> lk(*lock);
    auto again = d_.store->GetVm(vm.id);
    if (!again.ok()) {
      if (again.error().kind() == ErrorKind::kNotFound && missing_ok) return std::string();
      return std::move(again).error();
    }
    vm = std::move(*again);
    BANGER_RETURN_IF_ERROR(DeleteLocked(vm, ""));
  }
  DropLock(vm.id);
  return vm.id;
}

Status VmService::DeleteLocked(VmRecord vm, const std::string& reason) {
  BANGER_ASSIGN_OR_RETURN(vm, StopLocked(std::move(vm), std::chrono::milliseconds(0), "deleting"));
  BANGER_FAULT_POINT("vm.delete.stopped");
  // Row first: a crash after it leaves an orphan dir that Reconcile removes.
  BANGER_RETURN_IF_ERROR(d_.store->DeleteVm(vm.id));
  BANGER_FAULT_POINT("vm.delete.row_deleted");
  if (auto st = RemoveAll(vm.runtime.vm_dir); !st.ok()) {
    spdlog::warn("vm {}: removing {}: {}", vm.name, vm.runtime.vm_dir, st.error().message());
  }
  BANGER_FAULT_POINT("vm.delete.files_removed");
  EmitVm("vm.deleted", vm, reason.empty() ? Json::object() : Json{{"reason", reason}});
  spdlog::info("deleted vm {} ({}){}", vm.name, vm.id, reason.empty() ? "" : ": " + reason);
  return OkStatus();
}

Result<VmView> VmService::Set(const std::string& ref, const SetVmRequest& req) {
  return WithVmLocked(ref, [&](VmRecord vm) { return SetLocked(std::move(vm), req); });
}

Result<VmRecord> VmService::SetLocked(VmRecord vm, const SetVmRequest& req) {
  DemoteIfDeadLocked(vm);
  // A paused VM has its VMM: it changes like a running one.
  bool running = VmStateHasVmm(vm.state);
  VmSpec next = vm.spec;
  std::vector<std::string> needs_stop;
  if (req.vcpu_count && *req.vcpu_count != vm.spec.vcpu_count) {
    next.vcpu_count = *req.vcpu_count;
    needs_stop.push_back("vcpus");
  }
  if (req.memory_mib && *req.memory_mib != vm.spec.memory_mib) {
    next.memory_mib = *req.memory_mib;
    needs_stop.push_back("memory");
  }
  if (req.work_disk_size_bytes && *req.work_disk_size_bytes != vm.spec.work_disk_size_bytes) {
    if (*req.work_disk_size_bytes < vm.spec.work_disk_size_bytes) {
      return Error::Invalid("work disk of vm " + vm.name + " cannot shrink (" +
                            FormatSizeBytes(vm.spec.work_disk_size_bytes) + " -> " +
                            FormatSizeBytes(*req.work_disk_size_bytes) + "); only growing is supported");
    }
    next.work_disk_size_bytes = *req.work_disk_size_bytes;
    needs_stop.push_back("work disk size");
  }
  if (req.nat_enabled) next.nat_enabled = *req.nat_enabled;
  next.limits = MergeRateLimits(vm.spec.limits, req);
  if (req.idle_suspend) next.idle_suspend = *req.idle_suspend;
  if (req.ttl) next.ttl = *req.ttl;
  if (req.ttl_action) BANGER_RETURN_IF_ERROR(ParseTtlAction(*req.ttl_action));
  if (req.idle_suspend_to) BANGER_RETURN_IF_ERROR(ParseSuspendTarget(*req.idle_suspend_to));
  BANGER_RETURN_IF_ERROR(CheckNatRequest(req.nat_enabled));
  BANGER_RETURN_IF_ERROR(ValidateSpec(next));
  BANGER_RETURN_IF_ERROR(CheckRateLimitSupport(next.backend, next.limits));
  if (!vm.runtime.saved_snapshot.empty() && !needs_stop.empty()) {
    // The saved guest knows its vCPUs, memory and disks: changing them under
    // it would break (or corrupt) the resume.
    return Error::Conflict("vm " + vm.name +
                           " has a saved state (vm stop --save): start it first, or discard it "
                           "with banger vm snapshot delete " +
                           vm.name + " __suspend");
  }
  if (running && !needs_stop.empty()) {
    std::string what;
    for (const auto& n : needs_stop) what += (what.empty() ? "" : ", ") + n;
    return Error::Conflict("vm " + vm.name + " is running: changing " + what +
                           " needs it stopped first (banger vm stop " + vm.name + ")");
  }
  if (next.work_disk_size_bytes != vm.spec.work_disk_size_bytes && PathExists(vm.runtime.work_disk_path)) {
    BANGER_RETURN_IF_ERROR(Annotate(d_.disks->GrowExt4(vm.runtime.work_disk_path, next.work_disk_size_bytes),
                                    "growing work disk of vm " + vm.name));
  }
  if (running && d_.network && next.nat_enabled != vm.spec.nat_enabled) {
    // NAT changes live: the rules follow the flag at once.
    BANGER_RETURN_IF_ERROR(Annotate(d_.network->SetNat(vm, next.nat_enabled), "NAT for vm " + vm.name));
  }
  if (running && next.limits != vm.spec.limits) {
    // Live: the VMM's limiters change now; a stopped VM gets them at boot.
    BANGER_RETURN_IF_ERROR(Annotate(ApplyRateLimits(vm, next.limits), "rate limits of vm " + vm.name));
  }
  vm.spec = next;
  BANGER_RETURN_IF_ERROR(ApplyLifetime(vm, req.idle_suspend, req.ttl, req.ttl_action, req.idle_suspend_to));
  vm.updated_at = Now();
  BANGER_RETURN_IF_ERROR(d_.store->UpdateVm(vm));
  EmitVm("vm.updated", vm, Json{{"spec", ToJson(vm.spec)}});
  return vm;
}

Status VmService::CheckNatRequest(std::optional<bool> nat) const {
  if (nat.value_or(false) && !d_.network) {
    return Error::Invalid(
        "NAT needs host networking, which is off: set network = \"on\" in the daemon's config.toml and "
        "restart it (banger daemon stop)");
  }
  return OkStatus();
}

}  // namespace banger
