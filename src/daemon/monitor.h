// VmMonitor: the daemon's periodic upkeep of running VMs beyond liveness
// (the seed's StatsPollInterval, MetricsPollInterval, AutoStopStaleAfter):
//  - stats: CPU % (of one core, docker-style: 2 busy vCPUs = 200 %), RSS and
//    VSZ of each running VM's VMM process, and the bytes its system overlay
//    and work disk hold on the host (sparse files: allocated, not apparent);
//    each pass's samples also go to a bounded in-memory history per VM
//    (daemon/stats_history.h) for charts;
//  - metrics: the VMM's own counters (VmmBackend::Metrics) as stats.metrics_raw;
//  - auto-stop: running or paused VMs untouched (no exec, ssh, session,
//    start, resume) for auto_stop_stale_after, with no session still
//    running, are stopped;
//  - files: every VM's console.log capped at console_log_max_bytes (one
//    older console.log.1 kept), its growth sampled into console.times
//    (vm logs --since) and the events table trimmed to its newest
//    events_max_rows rows (docs/security.md "Files on the host").
//
// The daemon's upkeep thread calls the Collect*/StopStale methods; API
// threads call StatsNow. All writes of a VM's stats go through here, under
// one mutex, so stats and metrics never overwrite each other.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/process.h"
#include "daemon/stats_history.h"
#include "daemon/vm_service.h"
#include "daemon/vmm_counters.h"
#include "store/store.h"
#include "vmm/backend.h"

namespace banger {

// Whether a session of the VM is starting, running or stopping (a row
// `starting` for hours has no start behind it and does not count): such a
// VM is not idle (auto-stop, idle suspend).
bool HasLiveSession(Store& store, const std::string& vm_id, Timestamp now);

class VmMonitor {
 public:
  VmMonitor(VmService& vms, Store& store, ProcessOps& procs, std::map<BackendKind, VmmBackend*> backends);

  // One pass over every running VM; failures are logged, never fatal.
  void CollectStats();
  void CollectMetrics();
  // Stops VMs idle since before `now - idle_after`; returns their names.
  std::vector<std::string> StopStale(Timestamp now, std::chrono::seconds idle_after);
  // Moves each VM's console log past `max_bytes` to console.log.1 (base/fs.h
  // RotateAppendedFile: the VMM appends with O_APPEND and keeps writing at
  // the start of the emptied file); returns how many it rotated. Also keeps
  // each log's time index (daemon/console_times.h): a sample when the log
  // grew since the last pass, emptied when the log was rotated.
  int CapConsoleLogs(int64_t max_bytes);
  // Keeps the newest `keep` rows of the events table.
  void TrimEvents(int64_t keep);

  // `vm stats`: a fresh sample of one VM (CPU % over the interval since the
  // previous sample, or over `min_interval` when there is none), saved and
  // returned. A VM that is not running keeps its last stats.
  Result<VmRecord> StatsNow(const std::string& ref,
                            std::chrono::milliseconds min_interval = std::chrono::milliseconds(250));
  // The samples of the stats passes for VM `ref`, oldest first, with the VM.
  Result<std::pair<VmRecord, std::vector<StatsSample>>> History(const std::string& ref);

  // What GET /metrics reads at scrape time (api/metrics.h), under a lock of
  // its own: a scrape never waits for a stats or metrics pass.
  struct VmCounters {
    double cpu_seconds = 0;  // the VMM process's CPU time at its last sample
    VmmBlockTotals block;    // the VMM's block counters (daemon/vmm_counters.h)
  };
  struct Counters {
    std::map<std::string, VmCounters> by_vm;  // by VM id, VMs with a VMM sampled
    uint64_t stats_errors = 0;                // samples that failed (the VMM process unreadable)
    uint64_t vmm_metrics_errors = 0;          // VmmBackend::Metrics calls that failed
  };
  Counters CountersSnapshot() const;

 private:
  struct CpuSample {
    pid_t pid = 0;
    int64_t cpu_ns = 0;
    std::chrono::steady_clock::time_point at;
  };
  // Samples `view` (running, with handles) into its stats. Holds mu_.
  Status SampleLocked(VmView& view);

  VmService& vms_;
  Store& store_;
  ProcessOps& procs_;
  std::map<BackendKind, VmmBackend*> backends_;
  std::mutex mu_;
  std::map<std::string, CpuSample> last_cpu_;  // by VM id; guarded by mu_.
  StatsHistory history_;                       // by VM id; its own lock
  mutable std::mutex counters_mu_;             // taken after mu_ (never before), briefly
  Counters counters_;                          // guarded by counters_mu_
};

}  // namespace banger
