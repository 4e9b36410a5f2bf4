// FakeBackend: a VmmBackend whose "VMM" is an entry in a FakeProcs table; it
// records launches and shutdowns. Test-only (banger_vmm_fakes).
#pragma once

#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <vector>

#include "base/testing/fake_process_ops.h"
#include "vmm/backend.h"

namespace banger::testing {

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
    ProcIdentity who = procs_.IdentityOf(pid);
    if (spec.on_spawn) {
      if (auto st = spec.on_spawn(who); !st.ok()) {
        procs_.Kill(pid);
        return std::move(st).error();
      }
    }
    return VmmProcess{pid, spec.control_sock_path, who, spec.agent_sock_path};
  }
  Status Shutdown(const VmmProcess& p, std::chrono::milliseconds graceful) override {
    std::lock_guard<std::mutex> lk(mu_);
    shutdowns.push_back(graceful);
    procs_.Kill(p.pid);
    return OkStatus();
  }
  // Pause/Resume record the call and the pid's state (QueryState reports it).
  Status Pause(const VmmProcess& p) override {
    std::lock_guard<std::mutex> lk(mu_);
    ++pause_calls;
    if (!pause_error.message().empty()) return pause_error;
    if (!procs_.Alive(p.pid)) return Error::Unavailable("vmm is gone");
    paused_pids.insert(p.pid);
    return OkStatus();
  }
  Status Resume(const VmmProcess& p) override {
    std::lock_guard<std::mutex> lk(mu_);
    ++resume_calls;
    if (!procs_.Alive(p.pid)) return Error::Unavailable("vmm is gone");
    paused_pids.erase(p.pid);
    return OkStatus();
  }
  int pause_calls = 0;
  int resume_calls = 0;
  std::set<pid_t> paused_pids;
  Error pause_error{ErrorKind::kInternal, ""};
  // Snapshots: the "files" are written with `snapshot_bytes` bytes each, so
  // the daemon's size checks see real files.
  Status SaveSnapshot(const VmmProcess& p, const SnapshotPaths& out, std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> lk(mu_);
    ++saves;
    if (!save_error.message().empty()) return save_error;
    if (!procs_.Alive(p.pid)) return Error::Unavailable("vmm is gone");
    for (const auto& f : {out.state_path, out.memory_path}) {
      if (f.empty()) continue;
      std::FILE* fp = std::fopen(f.c_str(), "wx");
      if (!fp) return Error::FromErrno("creating " + f);
      std::string bytes(static_cast<size_t>(snapshot_bytes), 'S');
      std::fwrite(bytes.data(), 1, bytes.size(), fp);
      std::fclose(fp);
    }
    return OkStatus();
  }
  Result<VmmProcess> LaunchFromSnapshot(const LaunchSpec& spec, const SnapshotPaths& in, bool,
                                        std::chrono::milliseconds timeout) override {
    {
      std::lock_guard<std::mutex> lk(mu_);
      restores.push_back(in);
    }
    return Launch(spec, timeout);
  }
  int saves = 0;
  int64_t snapshot_bytes = 4096;
  Error save_error{ErrorKind::kInternal, ""};
  std::vector<SnapshotPaths> restores;
  Result<Json> Metrics(const VmmProcess& p, const std::string&) override {
    if (!procs_.Alive(p.pid)) return Error::Unavailable("vmm is gone");
    std::lock_guard<std::mutex> lk(mu_);
    ++metrics_calls;
    return metrics;
  }
  Json metrics = Json{{"vcpu", {{"exit_io_out", 7}}}};
  Status SetRateLimits(const VmmProcess& p, const std::vector<std::string>& drive_ids, bool has_nic,
                       const RateLimits& limits) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (!procs_.Alive(p.pid)) return Error::Unavailable("vmm is gone");
    rate_limit_calls.push_back({drive_ids, has_nic, limits});
    return OkStatus();
  }
  struct RateLimitCall {
    std::vector<std::string> drive_ids;
    bool has_nic = false;
    RateLimits limits;
  };
  std::vector<RateLimitCall> rate_limit_calls;
  int metrics_calls = 0;
  Result<std::string> QueryState(const VmmProcess& p) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (!procs_.Alive(p.pid)) return std::string("not_started");
    return std::string(paused_pids.count(p.pid) ? "paused" : "running");
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

}  // namespace banger::testing
