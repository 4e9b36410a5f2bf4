#include "daemon/snapshot_service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>
#include <utility>

#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/scope_guard.h"
#include "daemon/launch_spec.h"
#include "storage/file_clone.h"

namespace banger {
namespace {

// In <vm_dir>: the marker of a disk swap under way (it names the snapshot),
// and the prefix of the copies waiting to be renamed over the disks.
constexpr const char* kRestorePendingName = "restore.pending";
constexpr const char* kRestorePrefix = ".restore-";
constexpr const char* kTmpPrefix = ".tmp-";

std::string SnapshotsDir(const VmRecord& vm) { return vm.runtime.vm_dir + "/" + kSnapshotsDirName; }

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

std::string BaseName(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// The VM's writable disks (the shared image rootfs is not one of them).
std::vector<std::string> WritableDisks(const VmRecord& vm) {
  return {vm.runtime.system_overlay_path, vm.runtime.work_disk_path};
}

Status ValidateSnapshotName(const std::string& name) {
  if (name.empty() || name.size() > 63) return Error::Invalid("snapshot name must be 1 to 63 characters");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.';
    if (!ok) return Error::Invalid("snapshot name " + Quoted(name) + " may hold only letters, digits, - _ .");
  }
  if (name[0] == '.' || name[0] == '-') return Error::Invalid("snapshot name must not start with . or -");
  if (name.rfind("__", 0) == 0) return Error::Invalid("snapshot names starting with __ are reserved");
  return OkStatus();
}

std::string DefaultName() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "snap-%Y%m%d-%H%M%S", &tm);
  return buf;
}

int64_t ApparentSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

}  // namespace

SnapshotPaths SnapshotPathsIn(BackendKind backend, const std::string& dir) {
  if (backend == BackendKind::kFirecracker) return {dir + "/state", dir + "/memory"};
  return {dir + "/vmstate", ""};
}

std::string SnapshotService::DirOf(const VmRecord& vm, const VmSnapshot& s) {
  return SnapshotsDir(vm) + "/" + s.id.substr(0, 16);
}

std::string SnapshotService::KernelIdentity(const std::string& kernel_path) {
  struct stat st {};
  if (kernel_path.empty() || ::stat(kernel_path.c_str(), &st) != 0) return "";
  int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return kernel_path + ":" + std::to_string(st.st_size) + ":" + std::to_string(mtime_ns);
}

Status SnapshotService::CheckRestorable(const VmSnapshot& s, const VmRecord& vm, const Image& img,
                                        const std::string& dir) {
  const std::string what = "snapshot " + s.name + " of vm " + vm.name;
  if (!s.complete) return Error::Unavailable(what + " is incomplete (its save was interrupted)");
  if (s.backend != vm.spec.backend) {
    return Error::Conflict(what + " was taken under " + BackendName(s.backend) + "; the vm now uses " +
                           BackendName(vm.spec.backend));
  }
  if (s.image_id != vm.image_id) return Error::Conflict(what + " was taken on another image than the vm's");
  if (s.vcpu_count != vm.spec.vcpu_count || s.memory_mib != vm.spec.memory_mib) {
    return Error::Conflict(what + " was taken with " + std::to_string(s.vcpu_count) + " vcpus and " +
                           std::to_string(s.memory_mib) + " MiB; the vm now has " +
                           std::to_string(vm.spec.vcpu_count) + " vcpus and " +
                           std::to_string(vm.spec.memory_mib) + " MiB");
  }
  if (KernelIdentity(img.kernel_path) != s.kernel_identity) {
    return Error::Conflict(what + " no longer matches the image's kernel " + img.kernel_path +
                           " (replaced or changed since the snapshot)");
  }
  if (!s.files.is_object() || s.files.empty()) return Error::Internal(what + " records no files");
  for (const auto& [name, size] : s.files.items()) {
    const std::string path = dir + "/" + name;
    int64_t have = ApparentSize(path);
    if (have < 0) return Error::Unavailable(what + " is damaged: " + path + " is missing");
    if (!size.is_number_integer() || have != size.get<int64_t>()) {
      return Error::Unavailable(what + " is damaged: " + path + " is " + std::to_string(have) + " bytes, " +
                                SafeDump(size) + " were saved");
    }
  }
  return OkStatus();
}

SnapshotService::SnapshotService(SnapshotServiceDeps deps) : d_(std::move(deps)) {
  d_.vms->SetResumeSaved([this](VmRecord vm) { return ResumeSavedLocked(std::move(vm)); });
  d_.vms->SetSuspendToDisk([this](VmRecord vm) { return StopAndSaveLocked(std::move(vm)); });
}

void SnapshotService::Emit(const std::string& type, const VmRecord& vm, Json data) {
  Event ev;
  ev.type = type;
  ev.vm_id = vm.id;
  ev.vm_name = vm.name;
  ev.data = std::move(data);
  d_.events->Emit(std::move(ev));
}

Result<VmSnapshot> SnapshotService::TakeLocked(const VmRecord& vm, const std::string& name, bool suspend) {
  BANGER_RETURN_IF_ERROR(CheckSavable(vm));
  auto saved = SaveLocked(vm, name, suspend);
  if (saved.ok()) return saved;
  Error e = std::move(saved).error();
  if (e.message().find(std::strerror(ENOSPC)) != std::string::npos) {
    // QEMU's, Firecracker's or a disk copy's words, with no hint where: the
    // daemon's log keeps them, the user gets where space is missing.
    spdlog::warn("vm {}: saving snapshot {}: {}", vm.name, name, e.message());
    e = Error::Unavailable("saving vm " + vm.name + ": no space left on device in " + SnapshotsDir(vm) +
                           " (free some there and retry)");
  }
  // The save paused the VM, also when it failed part-way (without a VMM
  // there is nothing to resume).
  auto h = d_.vms->cache_.Get(vm.id);
  VmmBackend* backend = d_.vms->BackendFor(vm.spec.backend);
  if (vm.state == VmState::kRunning && h && backend) {
    if (Status resumed = backend->Resume(VmmProcessOf(vm, *h)); !resumed.ok()) {
      spdlog::error("vm {}: resuming after a failed save: {}", vm.name, resumed.error().message());
      e = Error(e.kind(), e.message() + "; resuming the vm failed too: " + resumed.error().message());
    }
  }
  return e;
}

Result<VmSnapshot> SnapshotService::SaveLocked(const VmRecord& vm, const std::string& name, bool suspend) {
  VmService& vms = *d_.vms;
  auto h = vms.cache_.Get(vm.id);
  VmmBackend* backend = vms.BackendFor(vm.spec.backend);
  if (!h || !backend) return Error::Unavailable("vm " + vm.name + " has no running VMM");
  BANGER_ASSIGN_OR_RETURN(Image img, d_.store->GetImage(vm.image_id));

  VmSnapshot s;
  s.id = NewId();
  s.vm_id = vm.id;
  s.name = name;
  s.backend = vm.spec.backend;
  s.image_id = vm.image_id;
  s.kernel_identity = KernelIdentity(img.kernel_path);
  s.vcpu_count = vm.spec.vcpu_count;
  s.memory_mib = vm.spec.memory_mib;
  s.suspend = suspend;
  s.created_at = Now();
  // The row first: it reserves the name (kConflict on a duplicate) and lets
  // Reconcile find the files of a save the daemon did not live to finish.
  BANGER_RETURN_IF_ERROR(d_.store->InsertSnapshot(s));
  BANGER_FAULT_POINT("vm.snapshot.row_inserted");
  const std::string final_dir = DirOf(vm, s);
  const std::string tmp = SnapshotsDir(vm) + "/" + kTmpPrefix + s.id.substr(0, 16);
  ScopeGuard undo([&] {
    RemoveAll(tmp).ok();
    d_.store->DeleteSnapshot(s.id).ok();
  });
  BANGER_RETURN_IF_ERROR(MakeDirs(SnapshotsDir(vm), 0700));
  BANGER_RETURN_IF_ERROR(MakeDirs(tmp, 0700));

  const VmmProcess proc = VmmProcessOf(vm, *h);
  const SnapshotPaths paths = SnapshotPathsIn(s.backend, tmp);
  spdlog::info("vm {}: saving snapshot {}", vm.name, name);
  // The VM stays paused from here until the caller resumes or stops it.
  if (auto st = backend->SaveSnapshot(proc, paths, d_.save_timeout); !st.ok()) {
    return std::move(st).error().Wrap("saving vm " + vm.name);
  }
  BANGER_FAULT_POINT("vm.snapshot.vmm_saved");
  // A suspend stops the VMM right after: its own disks are the copies.
  if (!suspend) {
    // The copies keep the disks' owner and mode: a fork or template continues from them as they are.
    for (const auto& disk : WritableDisks(vm)) {
      auto copied = CloneLike(disk, tmp + "/" + BaseName(disk), disk);
      if (!copied.ok()) return std::move(copied).error().Wrap("copying the disks of vm " + vm.name);
    }
  }
  BANGER_FAULT_POINT("vm.snapshot.disks_copied");
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(tmp, ec)) {
    const std::string f = e.path().string();
    s.files[BaseName(f)] = ApparentSize(f);
    s.bytes_on_disk += AllocatedBytes(f);
  }
  if (ec) return Error::Internal("listing " + tmp + ": " + ec.message());
  BANGER_RETURN_IF_ERROR(SyncDir(tmp));
  BANGER_RETURN_IF_ERROR(RenameDurable(tmp, final_dir));
  BANGER_FAULT_POINT("vm.snapshot.renamed");
  s.complete = true;
  if (auto st = d_.store->UpdateSnapshot(s); !st.ok()) {
    RemoveAll(final_dir).ok();
    return std::move(st).error();
  }
  undo.Dismiss();
  BANGER_FAULT_POINT("vm.snapshot.complete");
  Emit("vm.snapshot.created", vm, Json{{"snapshot", s.name}, {"bytes_on_disk", s.bytes_on_disk}});
  return s;
}

Result<VmSnapshot> SnapshotService::Create(const std::string& vm_ref, const std::string& name) {
  const std::string n = name.empty() ? DefaultName() : name;
  BANGER_RETURN_IF_ERROR(ValidateSnapshotName(n));
  VmSnapshot out;
  auto r = d_.vms->WithVmLocked(vm_ref, [&](VmRecord vm) -> Result<VmRecord> {
    d_.vms->DemoteIfDeadLocked(vm);
    if (vm.state != VmState::kRunning && vm.state != VmState::kPaused) {
      return Error::Conflict("vm " + vm.name + " is " + VmStateName(vm.state) +
                             ": a snapshot needs it running (banger vm start " + vm.name + ")");
    }
    auto taken = TakeLocked(vm, n, false);
    if (!taken.ok()) return std::move(taken).error();  // the VM is as it was
    // Paused by the save: a running VM runs on, a paused one (vm pause) stays paused.
    auto h = d_.vms->cache_.Get(vm.id);
    VmmBackend* backend = d_.vms->BackendFor(vm.spec.backend);
    Status resumed =
        h && backend && vm.state == VmState::kRunning ? backend->Resume(VmmProcessOf(vm, *h)) : OkStatus();
    if (!resumed.ok()) {
      return std::move(resumed).error().Wrap("snapshot " + n + " was saved, but resuming vm " + vm.name +
                                             " failed");
    }
    out = std::move(*taken);
    return vm;
  });
  if (!r.ok()) return std::move(r).error();
  return out;
}

Result<std::vector<VmSnapshot>> SnapshotService::List(const std::string& vm_ref) {
  BANGER_ASSIGN_OR_RETURN(VmRecord vm, d_.store->GetVm(vm_ref));
  BANGER_ASSIGN_OR_RETURN(auto all, d_.store->ListSnapshots(vm.id));
  std::erase_if(all, [](const VmSnapshot& s) { return !s.complete; });
  return all;
}

Status SnapshotService::RemoveSnapshot(const VmRecord& vm, const VmSnapshot& s) {
  // Row first: a crash after it leaves a directory Reconcile removes.
  BANGER_RETURN_IF_ERROR(d_.store->DeleteSnapshot(s.id));
  if (auto st = RemoveAll(DirOf(vm, s)); !st.ok()) {
    spdlog::warn("vm {}: removing snapshot {}: {}", vm.name, s.name, st.error().message());
  }
  return OkStatus();
}

Status SnapshotService::Delete(const std::string& vm_ref, const std::string& name) {
  auto r = d_.vms->WithVmLocked(vm_ref, [&](VmRecord vm) -> Result<VmRecord> {
    BANGER_ASSIGN_OR_RETURN(VmSnapshot s, d_.store->GetSnapshot(vm.id, name));
    if (!s.complete) return Error::NotFound("snapshot " + Quoted(name) + " not found");
    if (vm.runtime.saved_snapshot == s.id) {
      // Discarding the saved state: the next start boots cold.
      vm.runtime.saved_snapshot.clear();
      vm.updated_at = Now();
      BANGER_RETURN_IF_ERROR(d_.store->UpdateVm(vm));
    }
    BANGER_RETURN_IF_ERROR(RemoveSnapshot(vm, s));
    Emit("vm.snapshot.deleted", vm, Json{{"snapshot", s.name}});
    return vm;
  });
  if (!r.ok()) return std::move(r).error();
  return OkStatus();
}

Status SnapshotService::SwapInDisks(const VmRecord& vm, const std::string& dir) {
  const std::string& d = vm.runtime.vm_dir;
  std::vector<std::pair<std::string, std::string>> moves;  // staged copy -> disk
  ScopeGuard undo([&] {
    for (const auto& [staged, disk] : moves) RemoveFile(staged).ok();
  });
  for (const auto& disk : WritableDisks(vm)) {
    const std::string staged = d + "/" + kRestorePrefix + BaseName(disk);
    RemoveFile(staged).ok();
    // The copy gets the owner and mode of the disk it replaces.
    auto copied = CloneLike(dir + "/" + BaseName(disk), staged, disk);
    if (!copied.ok()) return std::move(copied).error().Wrap("restoring the disks of vm " + vm.name);
    moves.emplace_back(staged, disk);
  }
  BANGER_RETURN_IF_ERROR(SyncDir(d));
  // From the marker on, Reconcile finishes the swap should the daemon die.
  BANGER_RETURN_IF_ERROR(WriteFileAtomic(d + "/" + kRestorePendingName, dir + "\n"));
  undo.Dismiss();
  BANGER_FAULT_POINT("vm.restore.disks_staged");
  for (const auto& [staged, disk] : moves) BANGER_RETURN_IF_ERROR(RenameDurable(staged, disk));
  return RemoveFile(d + "/" + kRestorePendingName);
}

Result<VmRecord> SnapshotService::RestoreLocked(VmRecord vm, const VmSnapshot& s, const Image& img) {
  VmService& vms = *d_.vms;
  const std::string dir = DirOf(vm, s);
  BANGER_RETURN_IF_ERROR(CheckRestorable(s, vm, img, dir));
  BANGER_RETURN_IF_ERROR(vms.CheckBootable(vm, img));
  // Leftovers of an earlier run must not confuse this one.
  vms.CleanupRuntime(vm, vms.cache_.Get(vm.id));
  if (!s.suspend) BANGER_RETURN_IF_ERROR(SwapInDisks(vm, dir));
  BANGER_RETURN_IF_ERROR(vms.EnsureDisks(vm, img));
  const SnapshotPaths paths = SnapshotPathsIn(s.backend, dir);
  const std::string saved = vm.runtime.saved_snapshot;
  // The running state and the end of any saved state are one row write.
  vm.runtime.saved_snapshot.clear();
  auto booted = vms.BootLocked(vm, img, &paths);
  if (!booted.ok()) return RestoreFailedLocked(vm, s, saved, booted.error());
  BANGER_FAULT_POINT("vm.restore.running");
  // A saved state is spent once the VM runs on (from it or from another snapshot).
  if (!saved.empty()) {
    if (auto old = d_.store->GetSnapshot(vm.id, saved); old.ok()) RemoveSnapshot(vm, *old).ok();
  }
  Emit("vm.restored", *booted, Json{{"snapshot", s.name}});
  return booted;
}

Result<VmRecord> SnapshotService::RestoreFailedLocked(const VmRecord& vm, const VmSnapshot& s,
                                                      const std::string& saved, const Error& e) {
  // BootLocked recorded the VM in state error, its VMM gone.
  auto again = d_.store->GetVm(vm.id);
  if (s.suspend) {
    // Resuming `vm stop --save`: the disks are untouched and the saved state
    // is still there to retry with; keep naming it.
    if (!saved.empty() && again.ok()) {
      again->runtime.saved_snapshot = saved;
      d_.store->UpdateVm(*again).ok();
    }
    return e;
  }
  // The disks were swapped before the launch: they are the snapshot's now,
  // and a saved state of the VM no longer matches them (it goes, as after a
  // restore that worked). The next `vm start` boots those disks cold.
  std::string msg = "restoring snapshot " + s.name + " of vm " + vm.name + ": " + e.message() +
                    "; its disks are the snapshot's now: banger vm start " + vm.name + " boots them cold";
  if (again.ok()) {
    again->runtime.last_error = msg;
    if (auto st = d_.store->UpdateVm(*again); !st.ok()) {
      spdlog::warn("vm {}: recording the failed restore: {}", vm.name, st.error().message());
    }
  }
  if (!saved.empty()) {
    if (auto old = d_.store->GetSnapshot(vm.id, saved); old.ok()) RemoveSnapshot(vm, *old).ok();
  }
  spdlog::warn("vm {}: {}", vm.name, msg);
  return Error(e.kind(), msg);
}

Result<VmRecord> SnapshotService::ResumeSavedLocked(VmRecord vm) {
  auto s = d_.store->GetSnapshot(vm.id, vm.runtime.saved_snapshot);
  auto img = d_.store->GetImage(vm.image_id);
  if (!img.ok()) return std::move(img).error().Wrap("image of vm " + vm.name);
  const std::string discard =
      "; to boot it cold instead, discard the saved state: banger vm snapshot delete " + vm.name + " " +
      kSuspendSnapshotName;
  if (!s.ok()) return Error::Unavailable("vm " + vm.name + ": its saved state is gone" + discard);
  if (auto st = CheckRestorable(*s, vm, *img, DirOf(vm, *s)); !st.ok()) {
    return Error(st.error().kind(), st.error().message() + discard);
  }
  spdlog::info("vm {}: resuming its saved state", vm.name);
  return RestoreLocked(std::move(vm), *s, *img);
}

Result<VmView> SnapshotService::Restore(const std::string& vm_ref, const std::string& name) {
  return d_.vms->WithVmLocked(vm_ref, [&](VmRecord vm) -> Result<VmRecord> {
    d_.vms->DemoteIfDeadLocked(vm);
    if (vm.state == VmState::kRunning || vm.state == VmState::kPaused) {
      return Error::Conflict("vm " + vm.name + " is " + VmStateName(vm.state) +
                             ": stop it first (banger vm stop " + vm.name + "), then restore");
    }
    VmSnapshot s;
    if (name.empty()) {
      BANGER_ASSIGN_OR_RETURN(auto all, d_.store->ListSnapshots(vm.id));
      std::erase_if(all, [](const VmSnapshot& x) { return !x.complete || x.suspend; });
      if (all.empty()) return Error::NotFound("vm " + vm.name + " has no snapshots");
      s = all.back();
    } else {
      auto found = d_.store->GetSnapshot(vm.id, name);
      if (!found.ok() || !found->complete) {
        return Error::NotFound("vm " + vm.name + " has no snapshot " + Quoted(name));
      }
      s = std::move(*found);
    }
    if (s.suspend) {
      return Error::Invalid("snapshot " + s.name +
                            " is the saved state of `vm stop --save`: banger vm start " + vm.name +
                            " resumes it");
    }
    BANGER_ASSIGN_OR_RETURN(Image img, d_.store->GetImage(vm.image_id));
    spdlog::info("vm {}: restoring snapshot {}", vm.name, s.name);
    return RestoreLocked(std::move(vm), s, img);
  });
}

Result<VmView> SnapshotService::StopAndSave(const std::string& vm_ref) {
  return d_.vms->WithVmLocked(vm_ref, [&](VmRecord vm) -> Result<VmRecord> {
    vm.runtime.idle_saved = false;  // saved by hand: it waits for `vm start`
    return StopAndSaveLocked(std::move(vm));
  });
}

Result<VmRecord> SnapshotService::StopAndSaveLocked(VmRecord vm) {
  VmService& vms = *d_.vms;
  vms.DemoteIfDeadLocked(vm);
  if (vm.state != VmState::kRunning && vm.state != VmState::kPaused) {
    return Error::Conflict("vm " + vm.name + " is " + VmStateName(vm.state) +
                           ": only a running or paused vm can be saved");
  }
  // A suspend snapshot no row names is what a killed earlier attempt left.
  if (auto stale = d_.store->GetSnapshot(vm.id, kSuspendSnapshotName); stale.ok()) {
    BANGER_RETURN_IF_ERROR(RemoveSnapshot(vm, *stale));
  }
  // A failed save leaves the VM as it was (running, or paused by vm pause).
  auto taken = TakeLocked(vm, kSuspendSnapshotName, true);
  if (!taken.ok()) return std::move(taken).error();
  BANGER_FAULT_POINT("vm.suspend.saved");
  // Stopped and marked saved in one row write; the VMM goes first.
  vm.runtime.saved_snapshot = taken->id;
  auto stopped = vms.StopLocked(std::move(vm), std::chrono::milliseconds(0), "saved");
  if (!stopped.ok()) return stopped;
  spdlog::info("vm {}: saved to disk and stopped", stopped->name);
  return stopped;
}

void SnapshotService::ReconcileVmLocked(const VmRecord& vm, const std::vector<VmSnapshot>& snaps) {
  VmService& vms = *d_.vms;
  const std::string& d = vm.runtime.vm_dir;
  // A disk swap the daemon did not finish: the staged copies are complete
  // (the marker is written after them), so the swap rolls forward.
  if (PathExists(d + "/" + kRestorePendingName)) {
    for (const auto& disk : WritableDisks(vm)) {
      const std::string staged = d + "/" + kRestorePrefix + BaseName(disk);
      if (PathExists(staged)) RenameDurable(staged, disk).ok();
    }
    RemoveFile(d + "/" + kRestorePendingName).ok();
    spdlog::info("reconcile: vm {}: finished an interrupted restore of its disks", vm.name);
  }
  for (const auto& disk : WritableDisks(vm)) RemoveFile(d + "/" + kRestorePrefix + BaseName(disk)).ok();

  std::set<std::string> keep;
  for (const auto& s : snaps) {
    bool orphan_suspend = (s.suspend && vm.runtime.saved_snapshot != s.id) ||
                          s.name.rfind(kForkSnapshotPrefix, 0) == 0;  // a fork's, never kept
    if (s.complete && !orphan_suspend) {
      keep.insert(s.id.substr(0, 16));
      continue;
    }
    spdlog::info("reconcile: vm {}: removing {} snapshot {}", vm.name, s.complete ? "unused" : "incomplete",
                 s.name);
    RemoveSnapshot(vm, s).ok();
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(SnapshotsDir(vm), ec)) {
    const std::string n = e.path().filename().string();
    if (keep.count(n)) continue;
    spdlog::info("reconcile: vm {}: removing leftover snapshot files {}", vm.name, n);
    RemoveAll(e.path().string()).ok();
  }
  // A VM recorded running runs: a daemon that died between a save's pause
  // and its resume left it paused.
  auto h = vms.cache_.Get(vm.id);
  VmmBackend* backend = vms.BackendFor(vm.spec.backend);
  if (vm.state == VmState::kRunning && h && backend && vms.VmAlive(vm)) {
    const VmmProcess proc = VmmProcessOf(vm, *h);
    auto state = backend->QueryState(proc);
    if (state.ok() && *state != "running") {
      spdlog::info("reconcile: vm {} was left {} by an interrupted save; resuming it", vm.name, *state);
      if (auto st = backend->Resume(proc); !st.ok()) {
        spdlog::warn("reconcile: vm {}: resuming: {}", vm.name, st.error().message());
      }
    }
  }
}

void SnapshotService::Reconcile() {
  ReconcileForks();
  auto vms = d_.store->ListVms();
  auto snaps = d_.store->ListSnapshots("");
  if (!vms.ok() || !snaps.ok()) {
    spdlog::error("reconcile: snapshots: {}", !vms.ok() ? vms.error().message() : snaps.error().message());
    return;
  }
  for (const auto& vm : *vms) {
    std::vector<VmSnapshot> mine;
    for (const auto& s : *snaps) {
      if (s.vm_id == vm.id) mine.push_back(s);
    }
    auto lock = d_.vms->LockFor(vm.id);
    std::lock_guard<std::mutex> lk(*lock);
    auto fresh = d_.store->GetVm(vm.id);
    if (fresh.ok()) ReconcileVmLocked(*fresh, mine);
  }
}

}  // namespace banger
