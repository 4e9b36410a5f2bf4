// SnapshotService::Fork (`banger vm fork`): one snapshot of a running or
// paused VM, continued by N new VMs. Design and crash-safety: the "Fork"
// section of docs/adr/0018-snapshots-on-disk.md.
//
// Steps: names checked (all free, count 1..kMaxForkCount) before anything is
// made; under the source's lock one internal snapshot "__fork-<id>" (memory +
// point-in-time copies of its writable disks), the source continues as it
// was; then per fork: a new record (the source's image and spec, a new id,
// paths and guest address), its directory with a fork.pending marker and
// reflink/sparse copies of the snapshot's disks, its row, the VMM continuing
// the snapshot (BootLocked), the guest fixup (hostname, vm id, clock,
// entropy, NIC), the marker removed. All or nothing: a fork that fails
// removes every fork of the call. The snapshot is removed at the end.
//
// Both VMMs: QEMU takes the drive paths from the fork's command line, and
// Firecracker is given names relative to the VM directory it runs in (its
// snapshot continues on the fork's disks and, with network_overrides, tap;
// vmm/firecracker/fc_snapshot.h).
//
// The source's sessions are not copied: forks get no session rows (the
// processes a session ran keep running in the fork's memory, unmanaged).
#include <set>

#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/scope_guard.h"
#include "daemon/guest_exec.h"
#include "daemon/guest_fixup.h"
#include "daemon/launch_spec.h"
#include "daemon/snapshot_service.h"
#include "storage/file_clone.h"

namespace banger {
namespace {

std::string BaseNameOf(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

Result<std::vector<std::string>> ForkNames(const std::string& name, int count) {
  if (name.empty()) return Error::Invalid("a fork needs a name (--name)");
  if (count < 1 || count > kMaxForkCount) {
    return Error::Invalid("fork count must be 1 to " + std::to_string(kMaxForkCount) + ", not " +
                          std::to_string(count));
  }
  std::vector<std::string> names;
  if (count == 1) {
    names.push_back(name);
  } else {
    for (int i = 1; i <= count; ++i) names.push_back(name + "-" + std::to_string(i));
  }
  for (const auto& n : names) BANGER_RETURN_IF_ERROR(ValidateVmName(n));
  return names;
}

Result<std::vector<VmView>> SnapshotService::Fork(const std::string& src_ref, const std::string& name,
                                                  int count) {
  BANGER_ASSIGN_OR_RETURN(auto names, ForkNames(name, count));
  VmService& vms = *d_.vms;
  std::vector<VmRecord> made;  // forks of this call, removed on failure
  std::vector<VmView> out;
  auto r = vms.WithVmLocked(src_ref, [&](VmRecord src) -> Result<VmRecord> {
    vms.DemoteIfDeadLocked(src);
    if (src.state != VmState::kRunning && src.state != VmState::kPaused) {
      return Error::Conflict("vm " + src.name + " is " + VmStateName(src.state) +
                             ": a fork needs it running or paused (banger vm start " + src.name + ")");
    }
    {
      BANGER_ASSIGN_OR_RETURN(auto all, d_.store->ListVms());
      std::set<std::string> taken;
      for (const auto& v : all) taken.insert(v.name);
      for (const auto& n : names) {
        if (taken.count(n)) return Error::Conflict("a vm named \"" + n + "\" already exists");
      }
    }
    BANGER_ASSIGN_OR_RETURN(Image img, d_.store->GetImage(src.image_id));
    BANGER_RETURN_IF_ERROR(vms.CheckBootable(src, img));

    // One snapshot; the source continues as it was (running, or paused).
    auto snap = TakeLocked(src, std::string(kForkSnapshotPrefix) + NewId().substr(0, 8), false);
    if (!snap.ok()) return std::move(snap).error().Wrap("forking vm " + src.name);  // src as it was
    {
      auto h = vms.cache_.Get(src.id);
      VmmBackend* backend = vms.BackendFor(src.spec.backend);
      Status resumed = h && backend && src.state == VmState::kRunning ? backend->Resume(VmmProcessOf(src, *h))
                                                                      : OkStatus();
      if (!resumed.ok())
        spdlog::warn("vm {}: resuming after the fork's save: {}", src.name, resumed.error().message());
    }
    ScopeGuard drop_snap([&] { RemoveSnapshot(src, *snap).ok(); });
    BANGER_FAULT_POINT("vm.fork.snapshot_taken");
    const std::string snap_dir = DirOf(src, *snap);
    const SnapshotPaths paths = SnapshotPathsIn(snap->backend, snap_dir);

    for (size_t i = 0; i < names.size(); ++i) {
      auto one = ForkOneLocked(src, img, snap_dir, paths, names[i], made);
      if (!one.ok()) {
        return Error(one.error().kind(), "fork " + names[i] + " (" + std::to_string(i + 1) + " of " +
                                             std::to_string(names.size()) + ") of vm " + src.name +
                                             " failed: " + one.error().message() +
                                             (made.empty() ? "" : "; the forks made were removed"));
      }
      out.push_back(vms.ViewOf(*one));
    }
    return src;
  });
  if (!r.ok()) {
    for (auto it = made.rbegin(); it != made.rend(); ++it) {
      if (auto st = vms.Delete(it->id, true); !st.ok()) {
        spdlog::warn("fork rollback: deleting vm {}: {}", it->name, st.error().message());
      }
    }
    return std::move(r).error();
  }
  return out;
}

Result<VmRecord> SnapshotService::ForkOneLocked(const VmRecord& src, const Image& img,
                                                const std::string& snap_dir, const SnapshotPaths& paths,
                                                const std::string& name, std::vector<VmRecord>& made) {
  VmRecord vm;
  vm.name = name;
  vm.image_id = src.image_id;
  vm.spec = src.spec;
  vm.labels = src.labels;
  BANGER_ASSIGN_OR_RETURN(
      vm, ContinueAsNew(std::move(vm), img, snap_dir, paths, Json{{"forked_from", src.id}}, made));
  spdlog::info("vm {}: forked from {}", vm.name, src.name);
  Emit("vm.forked", vm, Json{{"source", src.name}, {"source_id", src.id}});
  return vm;
}

Result<VmRecord> SnapshotService::ContinueAsNew(VmRecord vm, const Image& img, const std::string& snap_dir,
                                                const SnapshotPaths& paths, Json created,
                                                std::vector<VmRecord>& made) {
  VmService& vms = *d_.vms;
  vm.created_at = vm.updated_at = vm.last_touched_at = Now();
  vm.state = vm.runtime.state = VmState::kCreated;
  vm.runtime.dns_name = vm.name + ".vm";

  std::unique_lock<std::mutex> ip_lock(vms.create_mu_);
  BANGER_RETURN_IF_ERROR(vms.AssignIdAndPaths(vm));
  auto lock = vms.LockFor(vm.id);
  std::unique_lock<std::mutex> lk(*lock);
  // Files first, then the row (as VmService::Create): a crash in between
  // leaves an orphan directory, which the startup reconcile removes.
  ScopeGuard undo_dir([&] { RemoveAll(vm.runtime.vm_dir).ok(); });
  BANGER_RETURN_IF_ERROR(MakeDirs(vm.runtime.vm_dir, 0700));
  // The marker makes Reconcile delete a VM whose launch and fixup a dead
  // daemon did not finish (it would carry the snapshot's identity).
  BANGER_RETURN_IF_ERROR(
      WriteFileAtomic(vm.runtime.vm_dir + "/" + kForkPendingName, SafeDump(created) + "\n"));
  // The snapshot's copies are named as the disks of every VM are.
  for (const std::string& mine : {vm.runtime.system_overlay_path, vm.runtime.work_disk_path}) {
    const std::string from = snap_dir + "/" + BaseNameOf(mine);
    auto st = CloneLike(from, mine, from);
    if (!st.ok()) return std::move(st).error().Wrap("copying the snapshot's disks");
  }
  BANGER_RETURN_IF_ERROR(vms.EnsureDisks(vm, img));
  BANGER_FAULT_POINT("vm.fork.disks_copied");
  BANGER_RETURN_IF_ERROR(d_.store->InsertVm(vm));
  undo_dir.Dismiss();
  made.push_back(vm);
  ip_lock.unlock();  // the address is recorded now
  BANGER_FAULT_POINT("vm.fork.row_written");
  created["image_id"] = vm.image_id;
  vms.EmitVm("vm.created", vm, std::move(created));

  BANGER_ASSIGN_OR_RETURN(vm, vms.BootLocked(vm, img, &paths));
  BANGER_FAULT_POINT("vm.fork.launched");
  // The fixup goes through GuestExec, which takes this VM's lock itself.
  lk.unlock();
  BANGER_RETURN_IF_ERROR(Annotate(FixupFork(vm), "guest fixup"));
  BANGER_FAULT_POINT("vm.fork.fixed_up");
  BANGER_RETURN_IF_ERROR(RemoveFile(vm.runtime.vm_dir + "/" + kForkPendingName));
  auto fresh = d_.store->GetVm(vm.id);
  return fresh.ok() ? *fresh : vm;
}

Status SnapshotService::FixupFork(const VmRecord& vm) {
  if (d_.fixup) return d_.fixup(vm);
  GuestExec exec(*d_.vms);
  auto fixed = FixupGuest(exec, vm, GuestFixupFor(vm, d_.vms->d_.network), d_.fixup_timeout);
  if (!fixed.ok()) return std::move(fixed).error();
  spdlog::info("vm {}: guest fixup took {} ms", vm.name, fixed->took.count());
  return OkStatus();
}

void SnapshotService::ReconcileForks() {
  auto vms = d_.store->ListVms();
  if (!vms.ok()) return;
  for (const auto& vm : *vms) {
    if (vm.runtime.vm_dir.empty() || !PathExists(vm.runtime.vm_dir + "/" + kForkPendingName)) continue;
    spdlog::info("reconcile: vm {}: removing a fork the daemon did not finish", vm.name);
    if (auto st = d_.vms->Delete(vm.id, true); !st.ok()) {
      spdlog::warn("reconcile: removing unfinished fork {}: {}", vm.name, st.error().message());
    }
  }
}

}  // namespace banger
