// VmMonitor: stats, metrics, auto-stop.
#include "daemon/monitor.h"

#include "base/fs.h"
#include "daemon/console_times.h"
#include "daemon/guest_exec.h"
#include "daemon/testing/vm_service_fixture.h"

namespace banger {
namespace {

int64_t UnixMsNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class VmMonitorTest : public VmServiceTest {
 protected:
  void SetUp() override {
    VmServiceTest::SetUp();
    if (HasFatalFailure()) return;
    monitor_ = std::make_unique<VmMonitor>(*svc_, *store_, procs_,
                                           std::map<BackendKind, VmmBackend*>{{BackendKind::kQemu, &qemu_}});
  }
  pid_t PidOf(const std::string& name) { return svc_->Get(name)->handles->pid; }
  // A session "job" (sleep) on VM `vm` in `status`, not yet stored.
  GuestSession JobOn(const std::string& vm, GuestSessionStatus status) {
    GuestSession s;
    s.id = NewId();
    s.vm_id = store_->GetVm(vm)->id;
    s.name = "job";
    s.command = "sleep";
    s.status = status;
    return s;
  }
  std::unique_ptr<VmMonitor> monitor_;
};

TEST_F(VmMonitorTest, StatsCpuMemoryAndDisksOnTheHost) {
  VmRecord vm = MustCreate("t1");
  MustCreate("idle", /*no_start=*/true);
  pid_t pid = PidOf("t1");
  procs_.SetUsage(pid, ProcUsage{0, 300 << 20, 2LL << 30});
  auto before = std::chrono::steady_clock::now();
  monitor_->CollectStats();
  auto got = store_->GetVm("t1");
  EXPECT_EQ(got->stats.rss_bytes, 300 << 20);
  EXPECT_EQ(got->stats.vsz_bytes, 2LL << 30);
  EXPECT_DOUBLE_EQ(got->stats.cpu_percent, 0) << "no interval yet";
  EXPECT_EQ(got->stats.work_disk_bytes, AllocatedBytes(vm.runtime.work_disk_path));
  EXPECT_NE(got->stats.collected_at, Timestamp{});
  EXPECT_EQ(store_->GetVm("idle")->stats.collected_at, Timestamp{}) << "not running: not sampled";

  // 2 s of CPU over (at least) 100 ms of wall time: far above 100 %, and
  // bounded by the elapsed wall time.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  procs_.SetUsage(pid, ProcUsage{2'000'000'000, 300 << 20, 2LL << 30});
  monitor_->CollectStats();
  double elapsed_ns = static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - before)
          .count());
  double cpu = store_->GetVm("t1")->stats.cpu_percent;
  EXPECT_LE(cpu, 100.0 * 2e9 / 1e8);
  EXPECT_GE(cpu, 100.0 * 2e9 / elapsed_ns);

  // `vm stats` on demand: a fresh sample (the VM's metrics survive it).
  monitor_->CollectMetrics();
  auto now = monitor_->StatsNow("t1", std::chrono::milliseconds(10));
  ASSERT_TRUE(now.ok()) << now.error().message();
  EXPECT_EQ(now->stats.rss_bytes, 300 << 20);
  EXPECT_EQ(now->stats.metrics_raw["vcpu"]["exit_io_out"], 7);
  EXPECT_FALSE(monitor_->StatsNow("nope").ok());
}

TEST_F(VmMonitorTest, EachStatsPassAddsToTheVmsHistoryWhichGoesWithTheVm) {
  MustCreate("t1");
  MustCreate("idle", /*no_start=*/true);
  procs_.SetUsage(PidOf("t1"), ProcUsage{0, 100 << 20, 1LL << 30});
  monitor_->CollectStats();
  procs_.SetUsage(PidOf("t1"), ProcUsage{0, 200 << 20, 1LL << 30});
  monitor_->CollectStats();
  auto h = monitor_->History("t1");
  ASSERT_TRUE(h.ok()) << h.error().message();
  EXPECT_EQ(h->first.name, "t1");
  ASSERT_EQ(h->second.size(), 2u);
  EXPECT_EQ(h->second[0].rss_bytes, 100 << 20) << "oldest first";
  EXPECT_EQ(h->second[1].rss_bytes, 200 << 20);
  EXPECT_NE(h->second[1].at, Timestamp{});
  EXPECT_TRUE(monitor_->History("idle")->second.empty()) << "not running: no samples";
  EXPECT_EQ(monitor_->History("nope").error().kind(), ErrorKind::kNotFound);

  // Stopped: the samples stay (the charts show the last run); deleted: gone.
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  monitor_->CollectStats();
  EXPECT_EQ(monitor_->History("t1")->second.size(), 2u);
  std::string id = store_->GetVm("t1")->id;
  ASSERT_TRUE(svc_->Delete("t1", false).ok());
  monitor_->CollectStats();
  MustCreate("t1");  // the same name, a new VM: no history of the old one
  EXPECT_TRUE(monitor_->History("t1")->second.empty());
}

TEST(StatsHistoryTest, KeepsTheNewestSamplesUpToItsCap) {
  StatsHistory h(3);
  for (int i = 1; i <= 5; ++i) h.Add("a", VmStats{.rss_bytes = i});
  h.Add("b", VmStats{.rss_bytes = 9});
  auto a = h.Of("a");
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a.front().rss_bytes, 3);
  EXPECT_EQ(a.back().rss_bytes, 5);
  h.Retain({"b"});
  EXPECT_TRUE(h.Of("a").empty());
  EXPECT_EQ(h.Of("b").size(), 1u);
  EXPECT_EQ(StatsHistory::kMaxSamples, 360u);
}

TEST_F(VmMonitorTest, MetricsComeFromTheVmmAndStatsKeepThem) {
  MustCreate("t1");
  monitor_->CollectMetrics();
  EXPECT_EQ(qemu_.metrics_calls, 1);
  EXPECT_EQ(store_->GetVm("t1")->stats.metrics_raw["vcpu"]["exit_io_out"], 7);
  monitor_->CollectStats();
  EXPECT_EQ(store_->GetVm("t1")->stats.metrics_raw["vcpu"]["exit_io_out"], 7) << "a stats pass keeps metrics";
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  monitor_->CollectMetrics();
  EXPECT_EQ(qemu_.metrics_calls, 1) << "stopped VMs are not asked";
}

TEST_F(VmMonitorTest, AutoStopTakesOnlyIdleVmsWithoutLiveSessions) {
  MustCreate("busy");
  MustCreate("idle");
  MustCreate("worker");
  Timestamp now = Now();
  // Everything was touched at start; an hour later, "busy" was just used and
  // "worker" runs a session.
  ASSERT_TRUE(store_->TouchVm(store_->GetVm("busy")->id, now + std::chrono::hours(1)).ok());
  GuestSession s = JobOn("worker", GuestSessionStatus::kRunning);
  ASSERT_TRUE(store_->UpsertSession(s).ok());

  auto stopped = monitor_->StopStale(now + std::chrono::hours(1), std::chrono::minutes(30));
  EXPECT_EQ(stopped, std::vector<std::string>{"idle"});
  EXPECT_EQ(store_->GetVm("idle")->state, VmState::kStopped);
  EXPECT_EQ(store_->GetVm("busy")->state, VmState::kRunning);
  EXPECT_EQ(store_->GetVm("worker")->state, VmState::kRunning);
  auto evs = store_->EventsAfter(0, 1000);
  bool said = false;
  for (const auto& e : *evs) said |= e.data.dump().find("auto-stopped: idle for 30m") != std::string::npos;
  EXPECT_TRUE(said) << "the stop's reason is in the event";

  // The session ends: the worker goes at the next sweep; 0 disables it all.
  s.status = GuestSessionStatus::kExited;
  ASSERT_TRUE(store_->UpsertSession(s).ok());
  EXPECT_TRUE(monitor_->StopStale(now + std::chrono::hours(1), std::chrono::seconds(0)).empty());
  EXPECT_EQ(monitor_->StopStale(now + std::chrono::hours(1), std::chrono::minutes(30)),
            std::vector<std::string>{"worker"});
}

TEST_F(VmMonitorTest, AStartingSessionLeftByADeadDaemonDoesNotBlockAutoStopForever) {
  MustCreate("vm1");
  Timestamp now = Now();
  GuestSession s = JobOn("vm1", GuestSessionStatus::kStarting);
  s.created_at = s.updated_at = now;
  ASSERT_TRUE(store_->UpsertSession(s).ok());
  // A start in progress (updated just now) keeps the VM.
  EXPECT_TRUE(monitor_->StopStale(now + std::chrono::hours(1), std::chrono::minutes(30)).empty());
  // The same row three hours later: no start waits that long; the VM goes.
  EXPECT_EQ(monitor_->StopStale(now + std::chrono::hours(3), std::chrono::minutes(30)),
            std::vector<std::string>{"vm1"});
}

TEST_F(VmMonitorTest, ConsoleLogsAreCappedWithOneOlderFile) {
  VmRecord vm = MustCreate("t1");
  const int64_t cap = 64 << 10;
  std::string big(cap + 1000, 'x');
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.log_path, big).ok());
  EXPECT_EQ(monitor_->CapConsoleLogs(cap), 1);
  EXPECT_EQ(ReadFile(vm.runtime.log_path)->size(), 0u);
  EXPECT_EQ(*ReadFile(vm.runtime.log_path + ".1"), big);
  EXPECT_EQ(monitor_->CapConsoleLogs(cap), 0) << "under the cap: nothing to do";
  // `vm logs` readers past the new end start over; the agent-timeout tail
  // still quotes what came before.
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.log_path, "after\n").ok());
  auto c = svc_->ReadLogs("t1", cap + 1000, 1 << 20, std::chrono::milliseconds(0));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data, "after\n");
  EXPECT_EQ(c->next_offset, 6);
  EXPECT_EQ(ConsoleTail(vm.runtime.log_path), std::string(600 - 6, 'x') + "after");
}

TEST_F(VmMonitorTest, ConsoleGrowthIsSampledForLogsSince) {
  VmRecord vm = MustCreate("t1");
  const std::string times = ConsoleTimesPath(vm.runtime.log_path);
  const int64_t cap = 64 << 10;
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.log_path, "boot\n").ok());
  const int64_t before = UnixMsNow() - 1;
  monitor_->CapConsoleLogs(cap);
  monitor_->CapConsoleLogs(cap);  // unchanged: no second sample
  auto s = ReadConsoleTimes(times);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ(s->front().size, 5);
  EXPECT_GE(s->front().unix_ms, before);
  EXPECT_EQ(*svc_->LogOffsetSince("t1", before - 1000), 0) << "before the sample: the whole log";
  EXPECT_EQ(*svc_->LogOffsetSince("t1", UnixMsNow() + 1000), 5) << "after it: only what came since";
  // Rotation empties the index: the new file's offsets start at 0.
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.log_path, std::string(cap + 1, 'x')).ok());
  EXPECT_EQ(monitor_->CapConsoleLogs(cap), 1);
  EXPECT_TRUE(ReadConsoleTimes(times)->empty());
  EXPECT_EQ(*svc_->LogOffsetSince("t1", UnixMsNow() + 1000), 0);
}

TEST_F(VmMonitorTest, EventsAreTrimmedToTheNewestRows) {
  for (int i = 0; i < 30; ++i) {
    Event ev;
    ev.type = "test";
    ASSERT_TRUE(store_->AppendEvent(ev).ok());
  }
  monitor_->TrimEvents(5);
  auto evs = store_->EventsAfter(0, 1000);
  ASSERT_TRUE(evs.ok());
  ASSERT_EQ(evs->size(), 5u);
  EXPECT_EQ(evs->back().seq, *store_->LastEventSeq());
}

}  // namespace
}  // namespace banger
