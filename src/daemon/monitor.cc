#include "daemon/monitor.h"

#include <sys/stat.h>

#include <set>
#include <thread>

#include "base/fs.h"
#include "base/log.h"
#include "base/time.h"
#include "daemon/console_times.h"
#include "daemon/launch_spec.h"

namespace banger {

namespace {

// Running or paused: a VMM process to sample (a paused one uses no CPU but keeps its memory).
bool Running(const VmView& v) { return VmStateHasVmm(v.vm.state) && v.handles && v.handles->pid > 0; }

// A session start waits for the agent at most an hour (the API's longest
// timeout) plus the launch itself: a row `starting` for longer than this
// has no start behind it (a daemon killed mid-start; reconcile also fails
// those) and does not keep its VM from auto-stopping.
constexpr std::chrono::hours kStartingSessionMaxAge{2};

std::string FormatIdle(std::chrono::seconds s) {
  if (s.count() % 3600 == 0) return std::to_string(s.count() / 3600) + "h";
  if (s.count() % 60 == 0) return std::to_string(s.count() / 60) + "m";
  return std::to_string(s.count()) + "s";
}

}  // namespace

bool HasLiveSession(Store& store, const std::string& vm_id, Timestamp now) {
  auto sessions = store.ListSessions(vm_id);
  if (!sessions.ok()) return true;  // unsure: keep the VM
  for (const auto& s : *sessions) {
    if (s.status == GuestSessionStatus::kStarting && s.updated_at + kStartingSessionMaxAge < now) continue;
    if (s.status == GuestSessionStatus::kStarting || s.status == GuestSessionStatus::kRunning ||
        s.status == GuestSessionStatus::kStopping) {
      return true;
    }
  }
  return false;
}

VmMonitor::VmMonitor(VmService& vms, Store& store, ProcessOps& procs,
                     std::map<BackendKind, VmmBackend*> backends)
    : vms_(vms), store_(store), procs_(procs), backends_(std::move(backends)) {}

Status VmMonitor::SampleLocked(VmView& view) {
  VmRecord& vm = view.vm;
  pid_t pid = view.handles->pid;
  BANGER_ASSIGN_OR_RETURN(ProcUsage u, procs_.Usage(pid));
  auto now = std::chrono::steady_clock::now();
  auto prev = last_cpu_.find(vm.id);
  if (prev != last_cpu_.end() && prev->second.pid == pid && now > prev->second.at) {
    double wall_ns = static_cast<double>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - prev->second.at).count());
    double used_ns = static_cast<double>(u.cpu_ns - prev->second.cpu_ns);
    vm.stats.cpu_percent = used_ns < 0 ? 0 : 100.0 * used_ns / wall_ns;
  } else {
    vm.stats.cpu_percent = 0;  // no interval yet (first sample of this process)
  }
  last_cpu_[vm.id] = CpuSample{pid, u.cpu_ns, now};
  {
    std::lock_guard<std::mutex> c(counters_mu_);
    counters_.by_vm[vm.id].cpu_seconds = static_cast<double>(u.cpu_ns) / 1e9;
  }
  vm.stats.rss_bytes = u.rss_bytes;
  vm.stats.vsz_bytes = u.vsz_bytes;
  vm.stats.system_overlay_bytes = AllocatedBytes(vm.runtime.system_overlay_path);
  vm.stats.work_disk_bytes = AllocatedBytes(vm.runtime.work_disk_path);
  vm.stats.collected_at = Now();
  // Keep the newest metrics (the metrics pass may have saved since `view` was read).
  if (auto fresh = store_.GetVm(vm.id); fresh.ok()) vm.stats.metrics_raw = fresh->stats.metrics_raw;
  return store_.UpdateVmStats(vm.id, vm.stats);
}

void VmMonitor::CollectStats() {
  auto views = vms_.List({});
  if (!views.ok()) {
    spdlog::warn("stats: listing vms: {}", views.error().message());
    return;
  }
  std::lock_guard<std::mutex> lk(mu_);
  std::map<std::string, CpuSample> keep;
  std::set<std::string> exist;
  for (auto& v : *views) {
    exist.insert(v.vm.id);
    if (!Running(v)) continue;
    if (auto st = SampleLocked(v); !st.ok()) {
      spdlog::debug("stats: vm {}: {}", v.vm.name, st.error().message());
      std::lock_guard<std::mutex> c(counters_mu_);
      ++counters_.stats_errors;
    } else {
      history_.Add(v.vm.id, v.vm.stats);
    }
    if (auto it = last_cpu_.find(v.vm.id); it != last_cpu_.end()) keep.insert(*it);
  }
  last_cpu_ = std::move(keep);  // forget VMs that stopped or went away
  {
    std::lock_guard<std::mutex> c(counters_mu_);
    std::erase_if(counters_.by_vm, [this](const auto& kv) { return last_cpu_.count(kv.first) == 0; });
  }
  history_.Retain(exist);  // a deleted VM's history goes with it
}

VmMonitor::Counters VmMonitor::CountersSnapshot() const {
  std::lock_guard<std::mutex> c(counters_mu_);
  return counters_;
}

Result<std::pair<VmRecord, std::vector<StatsSample>>> VmMonitor::History(const std::string& ref) {
  BANGER_ASSIGN_OR_RETURN(VmView v, vms_.Get(ref));
  auto samples = history_.Of(v.vm.id);
  return std::make_pair(std::move(v.vm), std::move(samples));
}

void VmMonitor::CollectMetrics() {
  auto views = vms_.List({});
  if (!views.ok()) return;
  for (auto& v : *views) {
    if (!Running(v)) continue;
    auto b = backends_.find(v.vm.spec.backend);
    if (b == backends_.end() || b->second == nullptr) continue;
    // The VMM call runs outside the lock: a slow VMM must not hold up `vm stats`.
    auto m = b->second->Metrics(VmmProcessOf(v.vm, *v.handles), v.vm.runtime.metrics_path);
    if (!m.ok()) {
      spdlog::debug("metrics: vm {}: {}", v.vm.name, m.error().message());
      std::lock_guard<std::mutex> c(counters_mu_);
      ++counters_.vmm_metrics_errors;
      continue;
    }
    {
      std::lock_guard<std::mutex> c(counters_mu_);
      AddVmmMetrics(v.vm.spec.backend, *m, counters_.by_vm[v.vm.id].block);
    }
    std::lock_guard<std::mutex> lk(mu_);
    auto fresh = store_.GetVm(v.vm.id);  // the stats pass may have saved since List
    if (!fresh.ok()) continue;
    fresh->stats.metrics_raw = std::move(*m);
    if (auto st = store_.UpdateVmStats(fresh->id, fresh->stats); !st.ok()) {
      spdlog::warn("metrics: vm {}: {}", v.vm.name, st.error().message());
    }
  }
}

std::vector<std::string> VmMonitor::StopStale(Timestamp now, std::chrono::seconds idle_after) {
  std::vector<std::string> stopped;
  if (idle_after.count() <= 0) return stopped;
  auto views = vms_.List({});
  if (!views.ok()) return stopped;
  Timestamp cutoff = now - idle_after;
  for (const auto& v : *views) {
    if (!VmStateHasVmm(v.vm.state) || v.vm.last_touched_at >= cutoff) continue;
    if (HasLiveSession(store_, v.vm.id, now)) continue;
    auto r = vms_.StopIfIdle(v.vm.id, cutoff, "auto-stopped: idle for " + FormatIdle(idle_after));
    if (!r.ok()) {
      spdlog::warn("auto-stop: vm {}: {}", v.vm.name, r.error().message());
    } else if (*r) {
      spdlog::info("auto-stop: vm {} was idle for {}; stopped", v.vm.name, FormatIdle(idle_after));
      stopped.push_back(v.vm.name);
    }
  }
  return stopped;
}

int VmMonitor::CapConsoleLogs(int64_t max_bytes) {
  auto vms = store_.ListVms();
  if (!vms.ok()) return 0;
  int rotated = 0;
  for (const auto& vm : *vms) {
    if (vm.runtime.log_path.empty()) continue;
    const std::string times = ConsoleTimesPath(vm.runtime.log_path);
    auto r = RotateAppendedFile(vm.runtime.log_path, max_bytes);
    if (!r.ok()) {
      spdlog::warn("vm {}: capping console log: {}", vm.name, r.error().message());
    } else if (*r) {
      ++rotated;
      spdlog::debug("vm {}: console log passed {} bytes; moved to {}.1", vm.name, max_bytes,
                    vm.runtime.log_path);
      if (auto st = ResetConsoleTimes(times); !st.ok()) {
        spdlog::warn("vm {}: console time index: {}", vm.name, st.error().message());
      }
    }
    // The time index for vm logs --since (daemon/console_times.h).
    struct stat st {};
    if (::stat(vm.runtime.log_path.c_str(), &st) != 0) continue;
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    if (auto rec = RecordConsoleSize(times, now_ms, st.st_size); !rec.ok()) {
      spdlog::warn("vm {}: console time index: {}", vm.name, rec.error().message());
    }
  }
  return rotated;
}

void VmMonitor::TrimEvents(int64_t keep) {
  if (auto st = store_.TrimEvents(keep); !st.ok()) spdlog::warn("trimming events: {}", st.error().message());
}

Result<VmRecord> VmMonitor::StatsNow(const std::string& ref, std::chrono::milliseconds min_interval) {
  BANGER_ASSIGN_OR_RETURN(VmView v, vms_.Get(ref));
  if (!Running(v)) return v.vm;
  std::unique_lock<std::mutex> lk(mu_);
  auto prev = last_cpu_.find(v.vm.id);
  bool have_interval = prev != last_cpu_.end() && prev->second.pid == v.handles->pid;
  if (!have_interval) {
    BANGER_RETURN_IF_ERROR(Annotate(SampleLocked(v), "sampling vm " + v.vm.name));
    lk.unlock();
    std::this_thread::sleep_for(min_interval);
    lk.lock();
  }
  BANGER_RETURN_IF_ERROR(Annotate(SampleLocked(v), "sampling vm " + v.vm.name));
  return v.vm;
}

}  // namespace banger
