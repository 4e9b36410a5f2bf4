// VmService, part two: the transient side of a VM (its VMM process, tap,
// copy-on-write root, sockets and scratch file): teardown, the liveness
// rule, demotion of dead VMs, and the per-VM step of the startup reconcile.
#include <signal.h>
#include <sys/stat.h>

#include <ctime>
#include <set>
#include <thread>

#include "base/fs.h"
#include "base/log.h"
#include "daemon/launch_spec.h"
#include "daemon/vm_service.h"
#include "vmm/firecracker/jailer.h"

namespace banger {
namespace {

// Seconds a fresh cgroup is left alone by RemoveStaleCgroups.
constexpr time_t kCgroupGrace = 120;
// RemoveCgroup retries every 20 ms for up to 2 s.
constexpr int kCgroupRemoveTries = 100;

}  // namespace

void VmService::CleanupRuntime(const VmRecord& vm, const std::optional<VmHandles>& handles) {
  // Only the process recorded at spawn, and only while it is still that
  // process: never one found by its argv (anyone can name our sockets), never
  // a recycled pid. SignalIf checks and signals through a pidfd.
  if (handles && handles->pid > 0) {
    ProcIdentity who = VmmIdentityOf(*handles);
    if (IsSameProcess(*d_.procs, who)) {
      spdlog::warn("vm {}: killing leftover vmm process {}", vm.name, who.pid);
      if (auto st = d_.procs->SignalIf(who, SIGKILL); !st.ok()) {
        spdlog::warn("vm {}: {}", vm.name, st.error().message());
      }
      for (int i = 0; i < 250 && IsSameProcess(*d_.procs, who); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
  if (d_.agents) d_.agents->Drop(vm.id);
  RemoveCgroup(vm);
  if (d_.network && handles && !handles->tap_device.empty()) d_.network->Detach(vm, handles->tap_device);
  // The VMM is gone, so the copy-on-write root is closed and can go.
  VmHandles dm_left = d_.cow->Release(vm, handles);
  if (!vm.runtime.vm_dir.empty()) {
    for (const char* f : {kControlSockName, kAgentSockName, kVsockSockName}) {
      RemoveFile(vm.runtime.vm_dir + "/" + f).ok();
    }
    // Firecracker's chroot under the jailer (vmm/firecracker/jailer.h).
    if (auto st = RemoveJail(vm.runtime.vm_dir); !st.ok())
      spdlog::warn("vm {}: {}", vm.name, st.error().message());
    RemoveHandlesFile(vm.runtime.vm_dir).ok();
    if (!dm_left.empty()) {
      // Keep naming what is still there, so a later cleanup (or Reconcile) retries.
      spdlog::warn("vm {}: dm-snapshot devices left behind ({} {} {}); will retry", vm.name, dm_left.dm_name,
                   dm_left.cow_loop, dm_left.base_loop);
      WriteHandlesFile(vm.runtime.vm_dir, dm_left).ok();
    }
  }
  cache_.Erase(vm.id);
}

void VmService::UndoBoot(const VmRecord& vm, const VmHandles& h) {
  RemoveCgroup(vm);
  if (d_.network && !h.tap_device.empty()) d_.network->Detach(vm, h.tap_device);
  VmHandles left = d_.cow->Release(vm, h);
  cache_.Erase(vm.id);
  if (left.empty()) {
    RemoveHandlesFile(vm.runtime.vm_dir).ok();
  } else {
    WriteHandlesFile(vm.runtime.vm_dir, left).ok();
  }
}

void VmService::RemoveCgroup(const VmRecord& vm) {
  if (!d_.cgroups || vm.id.empty()) return;
  // A VMM counts as gone once its main thread is a zombie; its other threads
  // may still be leaving the group (rmdir says EBUSY) for a few milliseconds.
  Status st = d_.cgroups->Remove(CgroupName(vm));
  for (int i = 0; i < kCgroupRemoveTries && !st.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    st = d_.cgroups->Remove(CgroupName(vm));
  }
  if (!st.ok()) spdlog::warn("vm {}: {}", vm.name, st.error().message());
}

void VmService::RemoveStaleCgroups() {
  if (!d_.cgroups) return;
  auto vms = d_.store->ListVms();
  if (!vms.ok()) return;
  std::set<std::string> live;
  for (const auto& vm : *vms) {
    if (VmStateHasVmm(vm.state) && cache_.Get(vm.id)) live.insert(CgroupName(vm));
  }
  for (const auto& name : d_.cgroups->List()) {
    if (live.count(name)) continue;
    // Another daemon (another home) may be about to start a VMM in a group
    // it has just made: only groups older than that window count as stale.
    struct stat st {};
    auto dirs = d_.cgroups->GroupDirs(name);
    if (dirs.empty() || ::stat(dirs[0].c_str(), &st) != 0 || ::time(nullptr) - st.st_mtime < kCgroupGrace) {
      continue;
    }
    spdlog::info("reconcile: removing stale cgroup banger/{}", name);
    if (auto st = d_.cgroups->Remove(name); !st.ok()) spdlog::warn("reconcile: {}", st.error().message());
  }
}

Status VmService::ApplyRateLimits(const VmRecord& vm, const RateLimits& next) {
  auto h = cache_.Get(vm.id);
  if (!h || h->pid <= 0) return Error::Unavailable("vm " + vm.name + " has no running VMM");
  VmmBackend* backend = BackendFor(vm.spec.backend);
  if (!backend)
    return Error::Unavailable(std::string("backend ") + BackendName(vm.spec.backend) + " is not configured");
  return backend->SetRateLimits(VmmProcessOf(vm, *h), DriveIds(!h->dm_name.empty()), !h->tap_device.empty(),
                                next);
}

bool VmService::VmAlive(const VmRecord& vm) {
  auto h = cache_.Get(vm.id);
  return h && IsSameProcess(*d_.procs, VmmIdentityOf(*h));
}

void VmService::DemoteIfDeadLocked(VmRecord& vm) {
  if (!VmStateHasVmm(vm.state) || VmAlive(vm)) return;
  spdlog::info("vm {}: vmm process is gone; marking stopped", vm.name);
  CleanupRuntime(vm, cache_.Get(vm.id));
  if (auto st = SaveState(vm, VmState::kStopped, "vmm exited"); !st.ok()) {
    spdlog::error("vm {}: {}", vm.name, st.error().message());
  }
}

void VmService::SweepDead() {
  auto vms = d_.store->ListVms();
  if (!vms.ok()) return;
  for (auto& vm : *vms) {
    if (!VmStateHasVmm(vm.state) || VmAlive(vm)) continue;
    auto lock = LockFor(vm.id);
    if (!lock->try_lock()) continue;  // an operation is under way; it owns the state
    std::lock_guard<std::mutex> lk(*lock, std::adopt_lock);
    auto fresh = d_.store->GetVm(vm.id);
    if (fresh.ok()) DemoteIfDeadLocked(*fresh);
  }
}

void VmService::ReconcileVm(VmRecord vm) {
  auto lock = LockFor(vm.id);
  std::lock_guard<std::mutex> lk(*lock);
  auto scratch = ReadHandlesFile(vm.runtime.vm_dir);
  std::optional<VmHandles> handles;
  if (scratch.ok()) {
    handles = *scratch;
  } else {
    spdlog::warn("vm {}: ignoring unreadable scratch file: {}", vm.name, scratch.error().message());
  }
  if (VmStateHasVmm(vm.state)) {
    // Adopt only the process recorded at spawn, and only if it still is that
    // process (pid, uid, start time, executable): a process someone else
    // started naming our sockets, or a recycled pid, is not ours.
    if (handles && IsSameProcess(*d_.procs, VmmIdentityOf(*handles))) {
      cache_.Set(vm.id, *handles);
      spdlog::info("reconcile: vm {} is alive (pid {}), re-adopted {}", vm.name, handles->pid,
                   VmStateName(vm.state));
      AdoptPauseStateLocked(vm, *handles);
      return;
    }
    spdlog::info("reconcile: vm {} was {} but its vmm is gone; cleaning up", vm.name, VmStateName(vm.state));
    CleanupRuntime(vm, handles);
    vm.runtime.last_error.clear();
    if (auto st = SaveState(vm, VmState::kStopped, "vmm exited while the daemon was down"); !st.ok()) {
      spdlog::error("reconcile: vm {}: {}", vm.name, st.error().message());
    }
    return;
  }
  // Not running: anything left from an interrupted start goes (the launch
  // records the VMM's identity right after spawning it).
  if (handles) {
    spdlog::info("reconcile: vm {} ({}): removing leftovers of an interrupted operation", vm.name,
                 VmStateName(vm.state));
    CleanupRuntime(vm, handles);
  }
}

void VmService::RemoveOrphanDir(const std::string& dir) {
  VmRecord ghost;
  ghost.id = dir.substr(dir.rfind('/') + 1);
  ghost.name = ghost.id;
  ghost.runtime.vm_dir = dir;
  ghost.runtime.api_sock_path = dir + "/" + kControlSockName;
  ghost.runtime.system_overlay_path = dir + "/" + kOverlayDiskName;
  auto handles = ReadHandlesFile(dir);
  CleanupRuntime(ghost, handles.ok() ? *handles : std::nullopt);
  spdlog::info("reconcile: removing orphan vm directory {}", dir);
  RemoveAll(dir).ok();
}

void VmService::AdoptPauseStateLocked(VmRecord& vm, const VmHandles& h) {
  // The daemon may have died between a pause or resume and recording it:
  // the VMM's own answer decides. An unanswered query keeps the record.
  VmmBackend* backend = BackendFor(vm.spec.backend);
  if (!backend) return;
  auto state = backend->QueryState(VmmProcessOf(vm, h));
  if (!state.ok()) {
    spdlog::warn("reconcile: vm {}: asking its vmm for its state: {}", vm.name, state.error().message());
    return;
  }
  VmState now = vm.state;
  if (*state == "paused" && vm.state == VmState::kRunning) now = VmState::kPaused;
  if (*state == "running" && vm.state == VmState::kPaused) now = VmState::kRunning;
  if (now == vm.state) return;
  if (now == VmState::kPaused) vm.runtime.paused_at = Now();
  spdlog::info("reconcile: vm {} is {} per its vmm; recorded {}", vm.name, VmStateName(now),
               VmStateName(vm.state));
  if (auto st = SaveState(vm, now, "reconcile: the vmm reports " + *state); !st.ok()) {
    spdlog::error("reconcile: vm {}: {}", vm.name, st.error().message());
  }
}

std::optional<VmHandles> VmService::HandlesOf(const std::string& vm_id) const { return cache_.Get(vm_id); }

}  // namespace banger
