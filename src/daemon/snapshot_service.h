// SnapshotService: VM snapshots on disk (`vm snapshot create/list/delete`,
// `vm restore`, `vm stop --save` and the transparent resume of a saved VM on
// `vm start`). Design and crash-safety: docs/adr/0018-snapshots-on-disk.md.
//
// A snapshot is the VMM's files (VmmBackend::SaveSnapshot) plus reflinked
// or sparse copies of the VM's writable disks (system overlay, work disk),
// taken while the VM is paused; the image's shared rootfs is never copied.
// Files live in <vm_dir>/snapshots/<id16>/; they are written under
// snapshots/.tmp-<id16>/ and renamed into place, and the row (inserted
// first with complete = 0, which also reserves the name) is marked complete
// only after the rename. The startup reconcile (Reconcile below) removes
// incomplete rows and unreferenced directories, resumes a VM a dead daemon
// left paused mid-save, and finishes a disk swap a restore began.
//
// A suspend snapshot (`vm stop --save`, named "__suspend") holds only the
// VMM files: the VMM exits right after the save, so the VM's own disks stay
// as they were. The VM's row names it (runtime.saved_snapshot) in the same
// write that records it stopped; the next start resumes from it and deletes it.
//
// Concurrency: every operation runs under the VM's lock (VmService), so it
// never interleaves with start/stop/delete of the same VM.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "daemon/events.h"
#include "daemon/vm_service.h"
#include "model/types.h"
#include "store/store.h"

namespace banger {

// The name `vm stop --save` gives its snapshot; user names cannot start with "__".
inline constexpr const char* kSuspendSnapshotName = "__suspend";
// Subdirectory of a VM's directory holding its snapshots.
inline constexpr const char* kSnapshotsDirName = "snapshots";
// `vm fork`: the name prefix of its temporary snapshot of the source, the
// marker in a fork's directory until its launch and fixup are done, and the
// most forks one call makes.
inline constexpr const char* kForkSnapshotPrefix = "__fork-";
inline constexpr const char* kForkPendingName = "fork.pending";
inline constexpr int kMaxForkCount = 64;

struct SnapshotServiceDeps {
  Store* store = nullptr;
  EventLog* events = nullptr;
  VmService* vms = nullptr;
  // Bounds the VMM's save (it writes the guest memory).
  std::chrono::milliseconds save_timeout{std::chrono::minutes(5)};
  // Bounds a fork's guest fixup (waiting for its agent included).
  std::chrono::milliseconds fixup_timeout{std::chrono::seconds(60)};
  // How a fork's guest is fixed up once its VMM runs (unit tests replace
  // it); unset: FixupGuest through GuestExec with GuestFixupFor.
  std::function<Status(const VmRecord& fork)> fixup;
};

// The names of `count` forks called `name`: `name` itself for one,
// <name>-1 .. <name>-<count> for more. kInvalid for an empty name, a count
// outside 1..kMaxForkCount or a name that is not a valid VM name.
Result<std::vector<std::string>> ForkNames(const std::string& name, int count);

class SnapshotService {
 public:
  // Registers the resume of saved VMs with `deps.vms` (VmService::Start).
  explicit SnapshotService(SnapshotServiceDeps deps);

  // The VM must be running; it is paused while saving and runs on after.
  // `name` "" = "snap-<UTC time>".
  Result<VmSnapshot> Create(const std::string& vm_ref, const std::string& name);
  // Complete snapshots of the VM, oldest first.
  Result<std::vector<VmSnapshot>> List(const std::string& vm_ref);
  Status Delete(const std::string& vm_ref, const std::string& name);
  // The VM must be stopped: its writable disks become the snapshot's copies
  // and it continues from the snapshot (running afterwards). `name` "" = the
  // newest snapshot.
  Result<VmView> Restore(const std::string& vm_ref, const std::string& name);
  // `vm stop --save`: saves the running VM, stops its VMM, marks it saved.
  Result<VmView> StopAndSave(const std::string& vm_ref);

  // `vm fork` (daemon/vm_fork.cc): `count` new VMs continuing one snapshot
  // of the running or paused source (which continues as it was), each with
  // its own id, name (ForkNames), disks, network identity and fixed-up guest.
  // All or nothing. Nothing is made when a name is taken or the count is out
  // of range.
  Result<std::vector<VmView>> Fork(const std::string& src_ref, const std::string& name, int count);

  // The startup step, after VmService::ReconcileVm ran for every VM: removes
  // unfinished forks, then reconciles each VM's snapshots.
  void Reconcile();

  // The checks a restore makes before touching anything: the files are all
  // there with their recorded sizes, and backend, image, kernel, vcpus and
  // memory are the VM's current ones. One line saying what differs.
  static Status CheckRestorable(const VmSnapshot& s, const VmRecord& vm, const Image& img,
                                const std::string& dir);
  // "<path>:<size>:<mtime ns>" of a kernel file ("" if it cannot be read).
  static std::string KernelIdentity(const std::string& kernel_path);
  // <vm_dir>/snapshots/<id16>.
  static std::string DirOf(const VmRecord& vm, const VmSnapshot& s);

 private:
  // The following run under the VM's lock.
  // StopAndSave's steps; also idle suspend to disk (VmService::SetSuspendToDisk).
  Result<VmRecord> StopAndSaveLocked(VmRecord vm);
  // Saves the VM (VMM state, and with !suspend copies of its disks) as a
  // complete snapshot `name`. On success the VM is left paused for the
  // caller to resume or stop. On failure nothing of the snapshot is left and
  // the VM is as it was: a running VM resumed, a paused one still paused; a
  // full disk is one kUnavailable line naming the snapshots directory.
  Result<VmSnapshot> TakeLocked(const VmRecord& vm, const std::string& name, bool suspend);
  // TakeLocked's steps, which leave the VM paused whatever happens.
  Result<VmSnapshot> SaveLocked(const VmRecord& vm, const std::string& name, bool suspend);
  Result<VmRecord> ResumeSavedLocked(VmRecord vm);
  Result<VmRecord> RestoreLocked(VmRecord vm, const VmSnapshot& s, const Image& img);
  // A restore whose VMM launch failed (the VM is in state error): from a
  // suspend snapshot the saved state stays named for a retry; from another
  // snapshot the disks were swapped already, which the error (and the VM's
  // last_error) says, with the `vm start` that boots them cold.
  Result<VmRecord> RestoreFailedLocked(const VmRecord& vm, const VmSnapshot& s, const std::string& saved,
                                       const Error& e);
  // Copies the snapshot's disks over the VM's (via .restore-* files and the
  // restore.pending marker, so a crash midway is finished by Reconcile).
  Status SwapInDisks(const VmRecord& vm, const std::string& dir);
  Status RemoveSnapshot(const VmRecord& vm, const VmSnapshot& s);
  void ReconcileVmLocked(const VmRecord& vm, const std::vector<VmSnapshot>& snaps);
  // One fork of Fork, under the source's lock; appends it to `made` once its row exists.
  Result<VmRecord> ForkOneLocked(const VmRecord& src, const Image& img, const std::string& snap_dir,
                                 const SnapshotPaths& paths, const std::string& name,
                                 std::vector<VmRecord>& made);
  // A new VM `vm` (name, image, spec and labels set) continuing the snapshot
  // in `snap_dir` (VMM files `paths`, disk copies named as every VM's disks
  // are): its id, paths and address, its directory with the fork.pending
  // marker and copies of the disks, its row (then it is appended to `made`;
  // vm.created carries `created`), the VMM continuing the snapshot, the
  // guest fixup, the marker removed. Used by fork and by warm start
  // (TemplateService). No VM lock may be held but a source's.
  Result<VmRecord> ContinueAsNew(VmRecord vm, const Image& img, const std::string& snap_dir,
                                 const SnapshotPaths& paths, Json created, std::vector<VmRecord>& made);
  // d_.fixup, or the real guest fixup of a fork (its own lock not held).
  Status FixupFork(const VmRecord& vm);
  // Deletes the VMs whose directory still holds the fork.pending marker.
  void ReconcileForks();
  void Emit(const std::string& type, const VmRecord& vm, Json data);

  SnapshotServiceDeps d_;
  friend class TemplateService;
};

// The VMM files of a snapshot in `dir` for `backend`.
SnapshotPaths SnapshotPathsIn(BackendKind backend, const std::string& dir);

}  // namespace banger
