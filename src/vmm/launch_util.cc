#include "vmm/launch_util.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "base/fs.h"
#include "base/log.h"
#include "base/unique_fd.h"

namespace banger {

std::chrono::milliseconds Deadline::Remaining() const {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end_ - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

bool WaitUntilGone(ProcessOps& ops, const ProcIdentity& who, std::chrono::milliseconds timeout) {
  Deadline deadline(timeout);
  while (IsSameProcess(ops, who)) {
    if (deadline.Expired()) return false;
    std::this_thread::sleep_for(kVmmPollInterval);
  }
  return true;
}

Status KillAndWait(ProcessOps& ops, const ProcIdentity& who, std::chrono::milliseconds timeout) {
  if (!IsSameProcess(ops, who)) return OkStatus();
  BANGER_RETURN_IF_ERROR(ops.SignalIf(who, SIGKILL));
  if (!WaitUntilGone(ops, who, timeout)) {
    return Error::Timeout("process " + std::to_string(who.pid) + " still alive " +
                          std::to_string(timeout.count()) + "ms after SIGKILL");
  }
  return OkStatus();
}

uid_t VmmUid(const BackendOptions& opts) { return opts.vmm_user ? opts.vmm_user->uid : ::geteuid(); }

Result<ProcIdentity> IdentifySpawned(ProcessOps& ops, pid_t pid, uid_t uid) {
  auto id = ops.Identify(pid);
  if (!id.ok()) return Error::Unavailable("the vmm exited right after it started");
  id->uid = uid;
  return *id;
}

Status CheckKvmUsable() {
  UniqueFd fd(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return Error::FromErrno("open /dev/kvm read-write");
  return OkStatus();
}

Result<int> OpenErrnoAs(const std::string& path, const Credentials& who) {
  return ProbeErrnoAs(
      who, path,
      [](const char* p, int) {
        int fd = ::open(p, O_RDWR | O_CLOEXEC);
        return fd >= 0 ? 0 : errno;
      },
      0);
}

Status CheckFirecrackerDevices(const BackendOptions& opts, bool has_nic) {
  // The jailer makes its own device nodes for the jail's uid; without a
  // VMM user, firecracker runs as the daemon (CheckAvailable covers that).
  if (!opts.jailer_bin.empty() || !opts.vmm_user) return OkStatus();
  const UserAccount& u = *opts.vmm_user;
  Credentials who{u.uid, u.gid, u.groups};
  std::vector<std::pair<std::string, std::string>> devices = {{"/dev/kvm", "add it to group kvm"}};
  if (has_nic) devices.emplace_back("/dev/net/tun", "make /dev/net/tun mode 0666 as Debian ships it");
  for (const auto& [dev, fix] : devices) {
    BANGER_ASSIGN_OR_RETURN(int err, opts.open_as ? opts.open_as(dev, who) : OpenErrnoAs(dev, who));
    if (err == 0) continue;
    if (err != EACCES && err != EPERM) {
      return Error::Unavailable("firecracker: " + dev + ": " + std::strerror(err));
    }
    return Error::Unavailable("firecracker: " + dev + " is not accessible to vmm_user " + u.name + " (" +
                              fix + ", or set jailer_bin, or vmm_user = \"root\")");
  }
  return OkStatus();
}

Status GrantGroupRead(const std::string& path, gid_t gid) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return Error::FromErrno("open " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::FromErrno("stat " + path);
  if (st.st_gid != gid && ::fchown(fd.get(), static_cast<uid_t>(-1), gid) != 0) {
    return Error::FromErrno("chgrp " + path);
  }
  if ((st.st_mode & S_IRGRP) == 0 && ::fchmod(fd.get(), (st.st_mode & 07777) | S_IRGRP) != 0) {
    return Error::FromErrno("chmod g+r " + path);
  }
  return OkStatus();
}

Status CheckSocketPath(const std::string& what, const std::string& path) {
  if (path.empty()) return Error::Invalid(what + " path is empty");
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Error::Invalid(what + " path is too long for a Unix socket (" + std::to_string(path.size()) +
                          " bytes, at most " + std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                          "): " + path);
  }
  return OkStatus();
}

void RemovePaths(const std::vector<std::string>& paths) {
  for (const auto& path : paths) {
    if (path.empty()) continue;
    auto st = RemoveFile(path);
    if (!st.ok()) spdlog::warn("vmm: removing {}: {}", path, st.error().message());
  }
}

namespace {

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

std::string Trim(std::string s) {
  auto is_space = [](char c) { return c == '\n' || c == '\r' || c == ' ' || c == '\t'; };
  while (!s.empty() && is_space(s.back())) s.pop_back();
  size_t start = 0;
  while (start < s.size() && is_space(s[start])) ++start;
  return s.substr(start);
}

}  // namespace

LogMark::LogMark(std::string path) : path_(std::move(path)), offset_(path_.empty() ? 0 : FileSize(path_)) {}

std::string LogMark::NewText(size_t max_bytes) const {
  if (path_.empty()) return "";
  int64_t grown = FileSize(path_) - offset_;
  if (grown <= 0) return "";
  return Trim(TailFile(path_, std::min(max_bytes, static_cast<size_t>(grown))));
}

Error WithExitOutput(Error err, ProcessOps& ops, const ProcIdentity& who, const std::vector<LogMark>& logs) {
  if (IsSameProcess(ops, who)) return err;
  std::string out;
  for (const auto& log : logs) {
    std::string text = log.NewText();
    if (!text.empty()) out += (out.empty() ? "" : "\n") + text;
  }
  return Error(err.kind(), err.message() + (out.empty() ? "; it printed nothing" : "; its output:\n" + out));
}

LaunchGuard::~LaunchGuard() {
  if (released_) return;
  auto st = KillAndWait(ops_, who_, kVmmKillWait);
  if (!st.ok()) spdlog::error("vmm: abandoning failed launch: {}", st.error().message());
  RemovePaths(cleanup_paths_);
}

}  // namespace banger
