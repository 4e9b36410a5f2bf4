// Fakes of banger's own thin OS wrappers, for daemon unit tests.
#pragma once

#include <sys/types.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/process.h"
#include "storage/disk.h"
#include "vmm/backend.h"

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

// A backend whose "VMM" is an entry in FakeProcs.
class FakeBackend : public VmmBackend {
 public:
  FakeBackend(BackendKind kind, FakeProcs& procs) : kind_(kind), procs_(procs) {}
  BackendKind kind() const override { return kind_; }
  Status CheckAvailable() override { return available; }
  Result<VmmProcess> Launch(const LaunchSpec& spec, std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> lk(mu_);
    launches.push_back(spec);
    if (!launch_error.message().empty()) return launch_error;
    pid_t pid = procs_.Add({"fake-vmm", "--api-sock", spec.control_sock_path});
    return VmmProcess{pid, spec.control_sock_path};
  }
  Status Shutdown(const VmmProcess& p, std::chrono::milliseconds graceful) override {
    std::lock_guard<std::mutex> lk(mu_);
    shutdowns.push_back(graceful);
    procs_.Kill(p.pid);
    return OkStatus();
  }
  Status Pause(const VmmProcess&) override { return OkStatus(); }
  Status Resume(const VmmProcess&) override { return OkStatus(); }
  Result<Json> Metrics(const VmmProcess& p, const std::string&) override {
    if (!procs_.Alive(p.pid)) return Error::Unavailable("vmm is gone");
    std::lock_guard<std::mutex> lk(mu_);
    ++metrics_calls;
    return metrics;
  }
  Json metrics = Json{{"vcpu", {{"exit_io_out", 7}}}};
  int metrics_calls = 0;
  Result<std::string> QueryState(const VmmProcess& p) override {
    return procs_.Alive(p.pid) ? std::string("running") : std::string("not_started");
  }

  Status available;
  Error launch_error{ErrorKind::kInternal, ""};
  std::mutex mu_;
  std::vector<LaunchSpec> launches;
  std::vector<std::chrono::milliseconds> shutdowns;

 private:
  BackendKind kind_;
  FakeProcs& procs_;
};

// Disks as plain sparse files (no mkfs).
class FakeDisks : public DiskOps {
 public:
  Status CreateExt4(const std::string& path, int64_t size, const std::string&) override;
  Status CreateFromSeed(const std::string& seed, const std::string& path, int64_t size) override;
  Status GrowExt4(const std::string& path, int64_t size) override;
  int64_t SizeOf(const std::string& path) override;
  Error fail_create{ErrorKind::kInternal, ""};
  std::map<std::string, std::string> seeded_from;  // disk path -> seed
};

}  // namespace banger::testing

// ---- device-mapper (cow_mode = "dm-snapshot") ----
#include "storage/devmapper.h"

namespace banger::testing {

// Loops and dm snapshots as in-memory kernel state. `fail` makes one
// operation fail: "attach-ro", "attach-rw", "create", "remove", "detach".
class FakeDeviceMapper : public DeviceMapperOps {
 public:
  Status Available() override;
  Result<std::string> AttachLoop(const std::string& file, bool read_only) override;
  Status DetachLoop(const std::string& dev) override;
  Result<std::string> CreateSnapshot(const std::string& name, const std::string& base_dev,
                                     const std::string& cow_dev, uint64_t sectors) override;
  Status Remove(const std::string& name) override;
  Result<std::vector<std::string>> LoopsBackedBy(const std::string& file) override;

  struct Loop {
    std::string file;
    bool read_only = false;
  };
  struct Snapshot {
    std::string base, cow;
    uint64_t sectors = 0;
  };
  // Snapshots of the state, under the lock.
  std::map<std::string, Loop> Loops();
  std::map<std::string, Snapshot> Snapshots();
  std::vector<std::string> Calls();

  Status available;
  std::map<std::string, Error> fail;

 private:
  Status Injected(const std::string& op);
  std::mutex mu_;
  int next_loop_ = 0;
  std::map<std::string, Loop> loops_;          // Guarded by mu_.
  std::map<std::string, Snapshot> snapshots_;  // Guarded by mu_.
  std::vector<std::string> calls_;             // Guarded by mu_.
};

}  // namespace banger::testing
