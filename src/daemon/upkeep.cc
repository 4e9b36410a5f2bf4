#include "daemon/upkeep.h"

#include <algorithm>

#include "daemon/guest_exec.h"
#include "daemon/vm_lifetime.h"

namespace banger {
namespace {

constexpr std::chrono::seconds kConsoleCapInterval{1};
constexpr std::chrono::seconds kEventsTrimInterval{10};

}  // namespace

Upkeep::Upkeep(VmService& vms, SessionService& sessions, VmMonitor& monitor, const DaemonConfig& config)
    : vms_(vms), sessions_(sessions), monitor_(monitor), config_(config) {}

Upkeep::~Upkeep() { Stop(); }

void Upkeep::Start() {
  sweeper_ = std::thread([this] { SweepLoop(); });
  session_poller_ = std::thread([this] { SessionLoop(); });
  monitor_thread_ = std::thread([this] { MonitorLoop(); });
}

void Upkeep::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  if (session_poller_.joinable()) session_poller_.join();
  if (monitor_thread_.joinable()) monitor_thread_.join();
}

bool Upkeep::WaitStop(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lk(mu_);
  return cv_.wait_for(lk, d, [this] { return stop_; });
}

bool Upkeep::Stopping() {
  std::lock_guard<std::mutex> lk(mu_);
  return stop_;
}

void Upkeep::SweepLoop() {
  AutoRemoveSweeper auto_remove(vms_);           // `vm run --rm` (daemon/guest_exec.h)
  LifetimeSweeper lifetime(vms_, vms_.store());  // ttl and idle suspend (daemon/vm_lifetime.h)
  while (!WaitStop(std::chrono::seconds(2))) {
    vms_.SweepDead();
    auto_remove.Sweep();
    lifetime.Sweep(Now());
  }
}

void Upkeep::SessionLoop() {
  // Sessions cost an exec each to check: every 10 s is enough to record their end.
  while (!WaitStop(std::chrono::seconds(10))) sessions_.PollRunning([this] { return Stopping(); });
}

void Upkeep::MonitorLoop() {
  using clock = std::chrono::steady_clock;
  const auto idle_after = std::chrono::duration_cast<std::chrono::seconds>(config_.auto_stop_stale_after);
  // The seed sweeps for stale VMs every minute; a shorter idle limit is checked more often.
  const auto stale_every = std::clamp<std::chrono::milliseconds>(
      config_.auto_stop_stale_after / 4, std::chrono::seconds(1), std::chrono::minutes(1));
  auto next_stats = clock::now() + config_.stats_poll_interval;
  auto next_metrics = clock::now() + config_.metrics_poll_interval;
  auto next_stale = clock::now() + stale_every;
  auto next_console = clock::now();
  auto next_trim = clock::now();
  while (!WaitStop(std::chrono::milliseconds(500))) {
    auto now = clock::now();
    // A guest can write its console as fast as the VMM copies it: checked
    // every second, the console log holds at most the cap plus one second of
    // output (docs/security.md "Files on the host").
    if (now >= next_console) {
      monitor_.CapConsoleLogs(config_.console_log_max_bytes);
      next_console = now + kConsoleCapInterval;
    }
    if (now >= next_trim) {
      monitor_.TrimEvents(config_.events_max_rows);
      next_trim = now + kEventsTrimInterval;
    }
    if (now >= next_stats) {
      monitor_.CollectStats();
      next_stats = now + config_.stats_poll_interval;
    }
    if (now >= next_metrics) {
      monitor_.CollectMetrics();
      next_metrics = now + config_.metrics_poll_interval;
    }
    if (idle_after.count() > 0 && now >= next_stale) {
      monitor_.StopStale(Now(), idle_after);
      next_stale = now + stale_every;
    }
  }
}

}  // namespace banger
