// VmService, part three: pause and resume (state `paused`: the VMM and the
// guest's memory stay, its vCPUs stop), the transparent resume before guest
// use, and the sweeper's idle suspend and ttl steps. Every step runs under
// the VM's lock; the sweeper's never wait for it.
#include <chrono>

#include "base/fault.h"
#include "base/log.h"
#include "daemon/launch_spec.h"
#include "daemon/vm_service.h"

namespace banger {
namespace {

std::chrono::seconds WholeSeconds(std::chrono::milliseconds d) {
  return std::chrono::ceil<std::chrono::seconds>(d);
}

}  // namespace

Status VmService::ApplyLifetime(VmRecord& vm, const std::optional<std::chrono::milliseconds>& idle_suspend,
                                const std::optional<std::chrono::milliseconds>& ttl,
                                const std::optional<std::string>& ttl_action,
                                const std::optional<std::string>& idle_suspend_to) {
  if (idle_suspend) vm.spec.idle_suspend = *idle_suspend;
  if (idle_suspend_to) {
    BANGER_ASSIGN_OR_RETURN(vm.spec.idle_suspend_to, ParseSuspendTarget(*idle_suspend_to));
  }
  if (ttl_action) {
    BANGER_ASSIGN_OR_RETURN(vm.spec.ttl_action, ParseTtlAction(*ttl_action));
  }
  if (ttl) {
    // A ttl given (at create, or by `vm set --ttl`) counts from now.
    vm.spec.ttl = *ttl;
    vm.runtime.expires_at = ttl->count() > 0 ? Now() + WholeSeconds(*ttl) : Timestamp{};
  }
  return ValidateSpec(vm.spec);
}

void VmService::BeginUse(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(locks_mu_);
  ++in_use_[vm_id];
}

void VmService::EndUse(const std::string& vm_id) {
  {
    std::lock_guard<std::mutex> lk(locks_mu_);
    auto it = in_use_.find(vm_id);
    if (it != in_use_.end() && --it->second <= 0) in_use_.erase(it);
  }
  // The idle clock counts from the end of the last command (the VM may be gone).
  d_.store->TouchVm(vm_id, Now()).ok();
}

bool VmService::InUse(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(locks_mu_);
  return in_use_.count(vm_id) > 0;
}

Result<VmmProcess> VmService::VmmOf(const VmRecord& vm) {
  auto h = cache_.Get(vm.id);
  if (!h || h->pid <= 0 || !VmAlive(vm)) return Error::Unavailable("vm " + vm.name + " has no running VMM");
  return VmmProcessOf(vm, *h);
}

Result<VmRecord> VmService::PauseLocked(VmRecord vm, const std::string& reason) {
  VmmBackend* backend = BackendFor(vm.spec.backend);
  if (!backend)
    return Error::Unavailable(std::string("backend ") + BackendName(vm.spec.backend) + " is not configured");
  BANGER_ASSIGN_OR_RETURN(VmmProcess p, VmmOf(vm));
  // A daemon killed between the VMM's answer and the row write leaves the
  // two apart; the startup reconcile asks the VMM and records what it says
  // (VmService::AdoptPauseStateLocked).
  BANGER_FAULT_POINT("vm.pause.begin");
  BANGER_RETURN_IF_ERROR(Annotate(backend->Pause(p), "pausing vm " + vm.name));
  BANGER_FAULT_POINT("vm.pause.vmm_paused");
  vm.runtime.paused_at = Now();
  if (auto st = SaveState(vm, VmState::kPaused, reason); !st.ok()) {
    // Not recorded: the VM must not stay frozen while the store says running.
    backend->Resume(p).ok();
    return std::move(st).error().Wrap("pausing vm " + vm.name);
  }
  BANGER_FAULT_POINT("vm.pause.state_saved");
  EmitVm("vm.paused", vm, Json{{"reason", reason}});
  spdlog::info("vm {}: paused ({})", vm.name, reason);
  return vm;
}

Result<VmRecord> VmService::ResumeLocked(VmRecord vm, const std::string& reason) {
  VmmBackend* backend = BackendFor(vm.spec.backend);
  if (!backend)
    return Error::Unavailable(std::string("backend ") + BackendName(vm.spec.backend) + " is not configured");
  BANGER_ASSIGN_OR_RETURN(VmmProcess p, VmmOf(vm));
  BANGER_FAULT_POINT("vm.resume.begin");
  BANGER_RETURN_IF_ERROR(Annotate(backend->Resume(p), "resuming vm " + vm.name));
  BANGER_FAULT_POINT("vm.resume.vmm_resumed");
  auto paused_for =
      vm.runtime.paused_at == Timestamp{} ? std::chrono::seconds(0) : Now() - vm.runtime.paused_at;
  vm.runtime.paused_at = Timestamp{};
  // Resuming is activity: the idle clock starts again.
  vm.last_touched_at = Now();
  BANGER_RETURN_IF_ERROR(Annotate(SaveState(vm, VmState::kRunning, reason), "resuming vm " + vm.name));
  BANGER_FAULT_POINT("vm.resume.state_saved");
  EmitVm("vm.resumed", vm, Json{{"reason", reason}, {"paused_seconds", paused_for.count()}});
  spdlog::info("vm {}: resumed ({}) after {} s paused", vm.name, reason, paused_for.count());
  return vm;
}

Result<VmView> VmService::Pause(const std::string& ref) {
  return WithVmLocked(ref, [this](VmRecord vm) -> Result<VmRecord> {
    DemoteIfDeadLocked(vm);
    if (vm.state == VmState::kPaused) return Error::Conflict("vm " + vm.name + " is already paused");
    if (vm.state != VmState::kRunning) {
      return Error::Conflict("vm " + vm.name + " is " + VmStateName(vm.state) +
                             ": only a running vm can be paused");
    }
    return PauseLocked(std::move(vm), "paused");
  });
}

Result<VmView> VmService::Resume(const std::string& ref) {
  return WithVmLocked(ref, [this](VmRecord vm) -> Result<VmRecord> {
    DemoteIfDeadLocked(vm);
    if (vm.state != VmState::kPaused) {
      return Error::Conflict("vm " + vm.name + " is not paused (it is " + VmStateName(vm.state) + ")");
    }
    return ResumeLocked(std::move(vm), "resumed");
  });
}

Result<bool> VmService::ResumeIfPaused(const std::string& ref, const std::string& reason) {
  // Cheap unlocked look first: nearly every exec finds its VM running.
  BANGER_ASSIGN_OR_RETURN(VmRecord seen, d_.store->GetVm(ref));
  if (seen.state == VmState::kStopped && seen.runtime.idle_saved) {
    // Idle suspend saved it to disk: guest use starts it from that state.
    bool started = false;
    auto r = WithVmLocked(seen.id, [&](VmRecord vm) -> Result<VmRecord> {
      if (vm.state != VmState::kStopped || !vm.runtime.idle_saved) return vm;  // someone else did
      started = true;
      spdlog::info("vm {}: {} (from its idle suspend to disk)", vm.name, reason);
      return StartLocked(std::move(vm));
    });
    if (!r.ok()) return std::move(r).error();
    return started;
  }
  if (seen.state != VmState::kPaused) return false;
  bool resumed = false;
  auto r = WithVmLocked(seen.id, [&](VmRecord vm) -> Result<VmRecord> {
    DemoteIfDeadLocked(vm);
    if (vm.state != VmState::kPaused) return vm;  // someone else resumed (or stopped) it
    resumed = true;
    return ResumeLocked(std::move(vm), reason);
  });
  if (!r.ok()) return std::move(r).error();
  return resumed;
}

Result<bool> VmService::TryWithVmLocked(const std::string& id,
                                        const std::function<Result<bool>(VmRecord)>& op) {
  auto lock = LockFor(id);
  if (!lock->try_lock()) return false;  // an operation is under way; next sweep
  std::lock_guard<std::mutex> lk(*lock, std::adopt_lock);
  auto vm = d_.store->GetVm(id);
  if (!vm.ok())
    return vm.error().kind() == ErrorKind::kNotFound ? Result<bool>(false) : std::move(vm).error();
  return op(std::move(*vm));
}

Result<bool> VmService::PauseIfIdle(const std::string& id, Timestamp now) {
  return TryWithVmLocked(id, [&](VmRecord vm) -> Result<bool> {
    if (vm.state != VmState::kRunning || vm.spec.idle_suspend.count() <= 0) return false;
    auto idle = WholeSeconds(vm.spec.idle_suspend);
    if (vm.last_touched_at >= now - idle || InUse(vm.id) || !VmAlive(vm)) return false;
    std::string reason = "idle-suspended: idle for " + FormatDuration(vm.spec.idle_suspend);
    // A VM with host folders cannot be saved (daemon/vm_mounts.h CheckSavable): RAM only.
    if (vm.spec.idle_suspend_to == SuspendTarget::kDisk && suspend_to_disk_ && vm.spec.mounts.empty()) {
      VmRecord to_save = vm;
      to_save.runtime.idle_saved = true;  // written with the stop, in one row write
      auto saved = suspend_to_disk_(std::move(to_save));
      if (saved.ok()) {
        spdlog::info("vm {}: {}; saved to disk", vm.name, reason);
        return true;
      }
      // A save that fails (a full disk, a snapshot error): the VM still
      // gets suspended, in RAM, rather than tried again every pass.
      spdlog::warn("vm {}: idle suspend to disk failed ({}); pausing it in RAM instead", vm.name,
                   saved.error().message());
      BANGER_ASSIGN_OR_RETURN(vm, d_.store->GetVm(id));
      DemoteIfDeadLocked(vm);
      if (vm.state != VmState::kRunning) return false;
      reason += " (in RAM: saving to disk failed)";
    }
    BANGER_RETURN_IF_ERROR(PauseLocked(std::move(vm), reason));
    return true;
  });
}

Result<bool> VmService::ExpireIfDue(const std::string& id, Timestamp now) {
  bool deleted = false;
  auto r = TryWithVmLocked(id, [&](VmRecord vm) -> Result<bool> {
    if (vm.runtime.expires_at == Timestamp{} || vm.runtime.expires_at > now) return false;
    std::string reason = "ttl of " + FormatDuration(vm.spec.ttl) + " expired";
    spdlog::info("vm {}: {}; {}", vm.name, reason, TtlActionName(vm.spec.ttl_action));
    if (vm.spec.ttl_action == TtlAction::kDelete) {
      BANGER_RETURN_IF_ERROR(DeleteLocked(std::move(vm), reason));
      deleted = true;
      return true;
    }
    // The ttl is spent: the next start sets a new deadline (StartLocked).
    vm.runtime.expires_at = Timestamp{};
    BANGER_ASSIGN_OR_RETURN(vm, StopLocked(std::move(vm), d_.config.stop_timeout, reason));
    // StopLocked saves only a state change: a VM stopped already keeps the spent deadline otherwise.
    BANGER_RETURN_IF_ERROR(d_.store->UpdateVm(vm));
    return true;
  });
  if (deleted) DropLock(id);
  return r;
}

}  // namespace banger
