#include "daemon/stats_history.h"

namespace banger {

void StatsHistory::Add(const std::string& vm_id, const VmStats& stats) {
  StatsSample s{.at = stats.collected_at,
                .cpu_percent = stats.cpu_percent,
                .rss_bytes = stats.rss_bytes,
                .vsz_bytes = stats.vsz_bytes,
                .system_overlay_bytes = stats.system_overlay_bytes,
                .work_disk_bytes = stats.work_disk_bytes};
  std::lock_guard<std::mutex> lk(mu_);
  auto& samples = by_vm_[vm_id];
  samples.push_back(s);
  while (samples.size() > max_) samples.pop_front();
}

std::vector<StatsSample> StatsHistory::Of(const std::string& vm_id) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = by_vm_.find(vm_id);
  if (it == by_vm_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void StatsHistory::Retain(const std::set<std::string>& vm_ids) {
  std::lock_guard<std::mutex> lk(mu_);
  std::erase_if(by_vm_, [&](const auto& kv) { return !vm_ids.contains(kv.first); });
}

}  // namespace banger
