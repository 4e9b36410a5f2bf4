// Upkeep: the daemon's periodic background threads, started after the
// startup reconcile and stopped (joined) at shutdown:
//  - sweeper: every 2 s demotes VMs recorded running or paused whose VMM
//    exited (VmService::SweepDead), deletes finished `vm run --rm` VMs
//    (AutoRemoveSweeper), and applies ttls and idle suspend
//    (LifetimeSweeper: expired VMs stopped or deleted, idle ones paused).
//    It never waits on a guest, nor for a busy VM's lock;
//  - session poller: every 10 s asks guests about running sessions and
//    records their ends (SessionService::PollRunning; each check bounded,
//    a guest that does not answer is skipped for a while), on its own
//    thread so a slow or hostile guest never delays the sweeper;
//  - monitor: VM stats every stats_poll_interval, VMM metrics every
//    metrics_poll_interval and, when auto_stop_stale_after is set, stops idle
//    VMs (VmMonitor; checked every minute, or every quarter of the limit
//    when shorter), caps console logs every second and trims the events
//    table every 10 s.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "config/config.h"
#include "daemon/monitor.h"
#include "daemon/session_service.h"
#include "daemon/vm_service.h"

namespace banger {

class Upkeep {
 public:
  Upkeep(VmService& vms, SessionService& sessions, VmMonitor& monitor, const DaemonConfig& config);
  ~Upkeep();  // Stop()
  Upkeep(const Upkeep&) = delete;
  Upkeep& operator=(const Upkeep&) = delete;

  void Start();
  // Wakes and joins the threads; idempotent. A session check in progress
  // ends at its own deadline, or at once once the AgentPool is shut down.
  void Stop();

 private:
  // Waits up to `d`; true when a stop was requested.
  bool WaitStop(std::chrono::milliseconds d);
  bool Stopping();
  void SweepLoop();
  void SessionLoop();
  void MonitorLoop();

  VmService& vms_;
  SessionService& sessions_;
  VmMonitor& monitor_;
  DaemonConfig config_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // Guarded by mu_.
  std::thread sweeper_;
  std::thread session_poller_;
  std::thread monitor_thread_;
};

}  // namespace banger
