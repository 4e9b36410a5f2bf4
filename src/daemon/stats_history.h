// StatsHistory: the last samples of each VM's stats, in memory only, for
// charts (GET /v1/vms/{ref}/stats/history, the web UI). The monitor adds one
// sample per VM per stats pass (every stats_poll_interval: 360 samples are an
// hour at the default 10 s); a VM's samples go when the VM goes (the next
// pass after its delete) and with the daemon. Thread-safe: the upkeep thread
// writes, API threads read.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/time.h"
#include "model/types.h"

namespace banger {

struct StatsSample {
  Timestamp at{};
  double cpu_percent = 0;
  int64_t rss_bytes = 0;
  int64_t vsz_bytes = 0;
  int64_t system_overlay_bytes = 0;
  int64_t work_disk_bytes = 0;
};

class StatsHistory {
 public:
  static constexpr size_t kMaxSamples = 360;

  explicit StatsHistory(size_t max_samples = kMaxSamples) : max_(max_samples == 0 ? 1 : max_samples) {}

  // Appends `stats` as a sample of VM `vm_id`, dropping its oldest past the cap.
  void Add(const std::string& vm_id, const VmStats& stats);
  // The VM's samples, oldest first (empty for a VM never sampled).
  std::vector<StatsSample> Of(const std::string& vm_id) const;
  // Forgets every VM not in `vm_ids` (deleted ones).
  void Retain(const std::set<std::string>& vm_ids);

 private:
  size_t max_;
  mutable std::mutex mu_;
  std::map<std::string, std::deque<StatsSample>> by_vm_;  // guarded by mu_
};

}  // namespace banger
