// FakeProcs: an in-memory process table (pid -> argv) behind ProcessOps, for
// unit tests here and above. Test-only (banger_base_fakes); thread-safe.
#pragma once

#include <sys/types.h>

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/process.h"

namespace banger::testing {

// A process table: pid -> argv, plus each process's identity (uid, start
// time, executable). By default a process runs as kVmmUid from kVmmExe.
class FakeProcs : public ProcessOps {
 public:
  static constexpr uid_t kVmmUid = 4242;
  static constexpr uint64_t kVmmExe = 77;

  pid_t Add(std::vector<std::string> argv) { return AddAs(std::move(argv), kVmmUid, kVmmExe); }
  // A process of user `uid` running executable (inode) `exe_ino`.
  pid_t AddAs(std::vector<std::string> argv, uid_t uid, uint64_t exe_ino) {
    std::lock_guard<std::mutex> lk(mu_);
    pid_t pid = next_++;
    Place(pid, std::move(argv), uid, exe_ino);
    return pid;
  }
  // pid is recycled: a new process (another start time) takes it.
  void Recycle(pid_t pid, std::vector<std::string> argv, uid_t uid, uint64_t exe_ino) {
    std::lock_guard<std::mutex> lk(mu_);
    Place(pid, std::move(argv), uid, exe_ino);
  }
  void Kill(pid_t pid) {
    std::lock_guard<std::mutex> lk(mu_);
    procs_.erase(pid);
    ids_.erase(pid);
  }
  bool Alive(pid_t pid) override {
    std::lock_guard<std::mutex> lk(mu_);
    return procs_.count(pid) > 0;
  }
  std::vector<std::string> Cmdline(pid_t pid) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = procs_.find(pid);
    return it == procs_.end() ? std::vector<std::string>{} : it->second;
  }
  std::vector<pid_t> FindByArg(const std::string& arg) override {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<pid_t> out;
    for (const auto& [pid, argv] : procs_) {
      if (CmdlineMentions(argv, arg)) out.push_back(pid);
    }
    return out;
  }
  Status Signal(pid_t pid, int sig) override {
    std::lock_guard<std::mutex> lk(mu_);
    signals_.emplace_back(pid, sig);
    if (sig == 9) {
      procs_.erase(pid);
      ids_.erase(pid);
    }
    return OkStatus();
  }
  Result<ProcIdentity> Identify(pid_t pid) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = ids_.find(pid);
    if (it == ids_.end()) return Error::NotFound("process " + std::to_string(pid) + " is gone");
    return it->second;
  }
  Status SignalIf(const ProcIdentity& who, int sig) override {
    {
      std::lock_guard<std::mutex> lk(mu_);
      auto it = ids_.find(who.pid);
      if (it == ids_.end()) return OkStatus();
      if (!IdentityMatches(who, it->second)) {
        refused_.push_back(who.pid);
        return Error::Conflict("pid " + std::to_string(who.pid) + " is someone else now");
      }
    }
    return Signal(who.pid, sig);
  }
  // The identity of pid as recorded at spawn (what a backend reports).
  ProcIdentity IdentityOf(pid_t pid) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = ids_.find(pid);
    return it == ids_.end() ? ProcIdentity{} : it->second;
  }
  // Pids SignalIf refused because they were someone else.
  std::vector<pid_t> refused() {
    std::lock_guard<std::mutex> lk(mu_);
    return refused_;
  }
  Result<ProcUsage> Usage(pid_t pid) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (!procs_.count(pid)) return Error::NotFound("process " + std::to_string(pid) + " is gone");
    auto it = usage_.find(pid);
    return it == usage_.end() ? ProcUsage{} : it->second;
  }
  void SetUsage(pid_t pid, ProcUsage u) {
    std::lock_guard<std::mutex> lk(mu_);
    usage_[pid] = u;
  }
  size_t Count() {
    std::lock_guard<std::mutex> lk(mu_);
    return procs_.size();
  }
  std::vector<std::pair<pid_t, int>> signals() {
    std::lock_guard<std::mutex> lk(mu_);
    return signals_;
  }

 private:
  void Place(pid_t pid, std::vector<std::string> argv, uid_t uid, uint64_t exe_ino) {
    procs_[pid] = std::move(argv);
    ids_[pid] = ProcIdentity{pid, uid, ++clock_, 1, exe_ino};
  }

  std::mutex mu_;
  pid_t next_ = 1000;
  uint64_t clock_ = 5000;
  std::map<pid_t, std::vector<std::string>> procs_;
  std::map<pid_t, ProcIdentity> ids_;
  std::vector<pid_t> refused_;
  std::vector<std::pair<pid_t, int>> signals_;
  std::map<pid_t, ProcUsage> usage_;
};

}  // namespace banger::testing
