// Process plumbing shared by the Firecracker and QEMU backends: deadlines,
// waiting for a VMM to vanish, quoting what it logged when it died, and the
// guard that undoes a half-done launch.
//
// A VMM is spawned detached (never our child), so "gone" is judged through
// ProcessOps::Alive, which treats a zombie waiting for init as gone.
//
// Thread-safety: free functions are reentrant; LaunchGuard and LogMark are
// single-owner values.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/process.h"
#include "base/result.h"
#include "vmm/backend.h"

namespace banger {

// How often launch and shutdown loops look at the process and its socket.
inline constexpr std::chrono::milliseconds kVmmPollInterval{10};
// How long a SIGKILLed VMM may take to disappear before we call it stuck.
inline constexpr std::chrono::milliseconds kVmmKillWait{5000};

// A point in time an operation must finish by.
class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds budget) : end_(std::chrono::steady_clock::now() + budget) {}
  // Time left, never negative.
  std::chrono::milliseconds Remaining() const;
  bool Expired() const { return Remaining().count() == 0; }

 private:
  std::chrono::steady_clock::time_point end_;
};

// Polls until the process `who` is gone (or its pid is someone else's);
// false if it is still there after `timeout`.
bool WaitUntilGone(ProcessOps& ops, const ProcIdentity& who, std::chrono::milliseconds timeout);

// SIGKILLs `who` (only if its pid still is that process) and waits up to
// `timeout` for it to disappear.
Status KillAndWait(ProcessOps& ops, const ProcIdentity& who, std::chrono::milliseconds timeout);

// The identity of a just-spawned VMM, with `uid` the one it runs as after
// dropping privileges. A process already gone is kUnavailable.
Result<ProcIdentity> IdentifySpawned(ProcessOps& ops, pid_t pid, uid_t uid);

// /dev/kvm must open read-write for a VMM to create a VM.
Status CheckKvmUsable();

// Whether `who` may open `path` read-write, tried for real in a forked child
// that takes those credentials (so mode bits, groups and ACLs all count):
// 0, or the errno of the failed open. An error only when the probe itself
// failed.
Result<int> OpenErrnoAs(const std::string& path, const Credentials& who);

// The devices Firecracker opens itself when it runs as the VMM user without
// the jailer (/dev/kvm; /dev/net/tun when the VM has a NIC), checked before
// it is spawned: a refusal is one line naming the fixes instead of FC's
// "Error creating KVM object: Permission denied" at InstanceStart. QEMU needs
// no such check: it opens them as root before -runas drops privileges.
Status CheckFirecrackerDevices(const BackendOptions& opts, bool has_nic);

// Lets group `gid` read `path`, a read-only input (kernel, initrd, image
// rootfs) of a VMM running as a user of that group: chgrp and g+r. The
// daemon takes group bits away under its home at every start (app SecureHome),
// so this is done again at every launch.
Status GrantGroupRead(const std::string& path, gid_t gid);

// A Unix socket path must fit sockaddr_un::sun_path (107 bytes + NUL); a
// longer one would only fail later, inside the VMM, with a vaguer message.
Status CheckSocketPath(const std::string& what, const std::string& path);

// Removes each path, ignoring ones already gone.
void RemovePaths(const std::vector<std::string>& paths);

// Remembers how long a log file was, so an error can quote only what a
// process wrote after the mark (the logs are appended to across boots).
class LogMark {
 public:
  explicit LogMark(std::string path);
  // The last `max_bytes` written since the mark, trimmed; "" if nothing.
  std::string NewText(size_t max_bytes = 2048) const;

 private:
  std::string path_;
  int64_t offset_ = 0;
};

// If `who` has exited, appends what it wrote to `logs` since they were
// marked: a VMM that dies during launch says why there. A live one leaves
// err as is.
Error WithExitOutput(Error err, ProcessOps& ops, const ProcIdentity& who, const std::vector<LogMark>& logs);

// Owns a VMM process from spawn until Launch succeeds. Unless Release()d,
// destruction SIGKILLs it, waits for it to vanish and removes the given
// paths (its sockets), so a failed launch leaks nothing.
class LaunchGuard {
 public:
  LaunchGuard(ProcessOps& ops, ProcIdentity who, std::vector<std::string> cleanup_paths)
      : ops_(ops), who_(who), cleanup_paths_(std::move(cleanup_paths)) {}
  ~LaunchGuard();
  LaunchGuard(const LaunchGuard&) = delete;
  LaunchGuard& operator=(const LaunchGuard&) = delete;

  pid_t pid() const { return who_.pid; }
  // The launch succeeded: the process now belongs to the caller.
  void Release() { released_ = true; }

 private:
  ProcessOps& ops_;
  ProcIdentity who_;
  bool released_ = false;
  std::vector<std::string> cleanup_paths_;
};

}  // namespace banger
