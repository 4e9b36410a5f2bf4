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

// A process table: pid -> argv.
class FakeProcs : public ProcessOps {
 public:
  pid_t Add(std::vector<std::string> argv) {
    std::lock_guard<std::mutex> lk(mu_);
    pid_t pid = next_++;
    procs_[pid] = std::move(argv);
    return pid;
  }
  void Kill(pid_t pid) {
    std::lock_guard<std::mutex> lk(mu_);
    procs_.erase(pid);
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
    if (sig == 9) procs_.erase(pid);
    return OkStatus();
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
  std::mutex mu_;
  pid_t next_ = 1000;
  std::map<pid_t, std::vector<std::string>> procs_;
  std::vector<std::pair<pid_t, int>> signals_;
  std::map<pid_t, ProcUsage> usage_;
};

}  // namespace banger::testing
