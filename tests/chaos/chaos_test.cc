// Crash consistency: a real bangerd (QEMU TCG guests, host networking on, all
// inside a network namespace this test creates) is SIGKILLed at every step of
// vm create, start, stop, delete, exec, session start, image build, OCI
// image import (the pull path: layer cache, unpack, build), snapshot,
// suspend, restore, fork, pause and resume, through the test-only fault points
// (base/fault.h, BANGER_FAULT=<point>). After each
// kill the daemon is restarted and the state is checked:
//   - every VM and session the test saw acknowledged still exists (and an
//     acknowledged delete stayed deleted); an operation killed before it
//     answered may have happened or not, but all or nothing;
//   - every VMM process naming this home belongs to a VM row in state
//     running or paused, every such VM has exactly one, and QEMU's own
//     run state (QMP query-status) is the one recorded;
//   - a pause or resume killed midway left its VM running or paused as the
//     VMM had it when the daemon died;
//   - taps: the pool's free ones plus one per VM with a VMM, nothing else;
//   - no orphan files: VM directories without a row, scratch files of VMs
//     that are not running, half-built image directories, layer-cache tags
//     no image owns, partial downloads, staging or temp files;
//   - sqlite `PRAGMA integrity_check` says ok; the daemon answers.
// Then the next run continues on the same state (at most 3 VMs alive).
// The driver (operations, model, checks): chaos.h, chaos_check.cc.
//
// Runs: BANGER_CHAOS_RUNS (default 100), seed: BANGER_CHAOS_SEED (default:
// time; always printed). The first runs walk every fault point once in a
// seeded order, so 100 runs cover the whole catalogue
// (`bangerd --list-fault-points`); the rest pick points at random.
#include "chaos.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "base/strings.h"
#include "vmm/qemu/qmp_client.h"

namespace banger::chaos {
namespace {

std::string Bangerd() {
  std::string b = BANGER_BIN;
  return b.substr(0, b.rfind('/')) + "/bangerd";
}

std::string Tail(const std::string& path, size_t n) {
  auto s = ReadFile(path);
  if (!s.ok()) return "";
  return s->size() > n ? s->substr(s->size() - n) : *s;
}

TEST(Chaos, KillNineAtEveryStepLeavesAConsistentState) {
  const char* home = std::getenv("BANGER_CHAOS_NETNS_HOME");
  ASSERT_NE(home, nullptr) << "must run inside its own network namespace (see main)";
  BangerHome h(home);
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(Config("on")));

  auto listed = RunCommand({Bangerd(), "--list-fault-points"});
  ASSERT_TRUE(listed.ok() && listed->exit_code == 0)
      << "bangerd has no fault points: configure with -DBANGER_FAULT_INJECTION=ON";
  std::vector<std::string> points;
  for (const auto& p : Split(listed->out, '\n')) {
    if (p.empty()) continue;
    ASSERT_FALSE(OpOf(p).empty()) << "fault point " << p << " belongs to no operation this test runs";
    points.push_back(p);
  }
  ASSERT_FALSE(points.empty());
  // BANGER_CHAOS_POINTS=<p1>,<p2>,... narrows the catalogue (to replay one step).
  if (const char* only = std::getenv("BANGER_CHAOS_POINTS"); only && *only) {
    std::vector<std::string> keep;
    for (const auto& p : Split(only, ',')) {
      ASSERT_NE(std::find(points.begin(), points.end(), p), points.end()) << "unknown fault point " << p;
      keep.push_back(p);
    }
    points = keep;
  }

  const char* runs_env = std::getenv("BANGER_CHAOS_RUNS");
  const char* seed_env = std::getenv("BANGER_CHAOS_SEED");
  int runs = runs_env && *runs_env ? std::atoi(runs_env) : 100;
  uint64_t seed = seed_env && *seed_env
                      ? std::strtoull(seed_env, nullptr, 10)
                      : static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  std::printf("chaos: seed %llu, %d runs, %zu fault points (BANGER_CHAOS_SEED=%llu to replay)\n",
              static_cast<unsigned long long>(seed), runs, points.size(),
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  Chaos c(h, seed);

  // The order: every point once (shuffled), then random ones; image builds
  // (the slowest operation) a quarter as often as the rest.
  std::vector<std::string> plan = points;
  std::shuffle(plan.begin(), plan.end(), c.rng());
  std::vector<double> weights;
  for (const auto& p : points) {
    const std::string op = OpOf(p);
    weights.push_back(op == "image.build" || op == "image.pull" ? 0.25 : op == "vm.template" ? 0.5 : 1.0);
  }
  std::discrete_distribution<size_t> any(weights.begin(), weights.end());
  while (static_cast<int>(plan.size()) < runs) plan.push_back(points[any(c.rng())]);
  plan.resize(std::max(runs, 0));

  // The checks can fail: planted damage of each kind is reported, then removed.
  {
    ASSERT_EQ(h.Banger({"vm", "create", "--name", "selfcheck"}).code, 0);
    // A restart refills the tap pool the start took from (as after every run).
    ASSERT_EQ(h.Banger({"daemon", "stop"}).code, 0);
    ASSERT_EQ(h.Banger({"vm", "list"}).code, 0);
    // Frozen behind the daemon's back: recorded running, QEMU paused.
    const std::string qmp_sock =
        h.BangerJson({"vm", "show", "selfcheck"})["runtime"]["vm_dir"].get<std::string>() + "/api.sock";
    auto qmp = [&](const char* command) {
      auto client = QmpClient::Connect(qmp_sock, 10s);
      ASSERT_TRUE(client.ok()) << client.error().message();
      ASSERT_TRUE(client->Execute(command, 10s).ok()) << command;
    };
    ASSERT_NO_FATAL_FAILURE(qmp("stop"));
    std::string ghost = h.root() + "/vms/0123456789abcdef";
    ASSERT_TRUE(MakeDirs(ghost).ok());
    ASSERT_TRUE(MakeDirs(h.root() + "/images/fedcba9876543210").ok());
    ASSERT_TRUE(WriteFileAtomic(h.root() + "/banger.db.tmp.1", "x").ok());
    // A layer cache with a tag no image owns and a partial download.
    const bool had_oci = PathExists(h.root() + "/oci");
    ASSERT_FALSE(had_oci) << "no pull ran yet";
    ASSERT_TRUE(MakeDirs(h.root() + "/oci").ok());
    ASSERT_TRUE(
        WriteFileAtomic(h.root() + "/oci/index.json",
                        R"({"schemaVersion":2,"manifests":[{"mediaType":)"
                        R"("application/vnd.oci.image.manifest.v1+json","digest":"sha256:)" +
                            std::string(64, '0') +
                            R"(","size":1,"annotations":{"org.opencontainers.image.ref.name":"ghost"}}]})")
            .ok());
    ASSERT_TRUE(WriteFileAtomic(h.root() + "/oci/oci-put-blob-1", "x").ok());
    ASSERT_TRUE(RunChecked({"ip", "tuntap", "add", "bgtap97", "mode", "tap"}).ok());
    auto fake_vmm = SpawnDetached({.argv = {"sh", "-c", "sleep 600; true", ghost + "/api.sock"}});
    ASSERT_TRUE(fake_vmm.ok());
    ASSERT_TRUE(e2e::WaitUntil([&] { return h.Vmms().size() == 2; }, 5s));
    c.model().vms["feedfacefeedface"] = "never-existed";  // an acknowledged VM that is gone
    auto bad = c.Check();
    std::string all;
    for (const auto& b : bad) all += b + "\n";
    for (const char* want :
         {"orphan vm directory", "half-built image directory", "left-over temporary", "taps outside the pool",
          "has no vm row", "was acknowledged and is gone", "is recorded running but qemu says paused",
          "layer-cache tag ghost belongs to no image", "left-over partial download"}) {
      EXPECT_NE(all.find(want), std::string::npos) << "the check missed: " << want << "\n" << all;
    }
    c.model().vms.erase("feedfacefeedface");
    for (pid_t p : RealProcessOps().FindByArg(ghost + "/api.sock")) RealProcessOps().Signal(p, SIGKILL).ok();
    (void)RunCommand({"ip", "link", "del", "bgtap97"});
    RemoveAll(ghost).ok();
    RemoveAll(h.root() + "/images/fedcba9876543210").ok();
    RemoveFile(h.root() + "/banger.db.tmp.1").ok();
    RemoveAll(h.root() + "/oci").ok();
    ASSERT_TRUE(e2e::WaitUntil([&] { return h.Vmms().size() == 1; }, 5s));
    ASSERT_NO_FATAL_FAILURE(qmp("cont"));
    bad = c.Check();
    ASSERT_TRUE(bad.empty()) << bad.front();
    ASSERT_EQ(h.Banger({"vm", "delete", "selfcheck"}).code, 0);
    c.model().vms.clear();
    c.model().deleted.clear();
  }

  std::map<std::string, int> hits;
  std::map<std::string, double> seconds_by_op;
  auto start_all = std::chrono::steady_clock::now();
  const std::string out_path = h.root() + "/bangerd.out";
  for (int run = 0; run < runs; ++run) {
    const std::string& point = plan[run];
    const std::string op = OpOf(point);
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> cmd = c.Prepare(op, run);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "run " << run << " (" << point << "): preparing failed; seed " << seed;
      break;
    }
    c.pending_delete_.clear();
    if (op == "vm.delete") {
      c.ForgetSessionsOf(cmd[2]);
      for (const auto& [id, name] : c.model().vms) {
        if (name == cmd[2]) c.pending_delete_.insert(id);
      }
    }
    // Re-arm: a clean stop (VMs keep running), then the operation auto-starts
    // a daemon that has BANGER_FAULT in its environment.
    ASSERT_EQ(h.Banger({"daemon", "stop"}).code, 0);
    size_t out_before = FileText(out_path).size();
    ::setenv("BANGER_FAULT", point.c_str(), 1);
    std::vector<std::string> armed = cmd;
    armed.insert(armed.begin() + 2, "--json");  // before any "--"
    CliRun r = h.Banger(armed, 300s);
    ::unsetenv("BANGER_FAULT");
    bool hit = FileText(out_path).find("fault point " + point + " hit", out_before) != std::string::npos;
    if (hit) {
      ++hits[point];
      EXPECT_TRUE(e2e::WaitUntil([&] { return h.DaemonPid() == 0; }, 10s)) << "the daemon survived its fault";
      EXPECT_NE(r.code, 0) << "banger " << Join(cmd) << " succeeded although its daemon was killed";
    } else {
      // Not reached (or reached and survived): the daemon must still be alive and stop cleanly.
      EXPECT_EQ(h.Banger({"daemon", "stop"}).code, 0);
    }
    c.Record(op, cmd, r);
    // Restart (unarmed) and check.
    auto bad = c.Check();
    if (bad.empty() && op == "session.start" && hit) {
      // All or nothing: launched in the guest (the command runs: sleep 3600 in
      // a running VM) means running; killed before the launch means failed.
      std::string want = point == "session.start.row_written" ? "failed" : "running";
      CliRun show = h.Banger({"session", "show", cmd[4], "--json"}, 120s);
      auto j = ParseJson(show.out);
      std::string got = show.code == 0 && j.ok() ? std::string((*j)["status"]) : "(gone: " + show.err + ")";
      if (got != want)
        bad.push_back("session " + cmd[4] + " killed at " + point + " is " + got + ", not " + want);
    }
    if (bad.empty() && (op == "vm.pause" || op == "vm.resume")) {
      // Where the VMM was when the daemon died decides: before its answer
      // (begin) the VM is as it was, after it as asked; acknowledged: as asked.
      const bool asked_pause = op == "vm.pause";
      const bool as_asked = !hit || point.find(".begin") == std::string::npos;
      const std::string want = (asked_pause == as_asked) ? "paused" : "running";
      CliRun show = h.Banger({"vm", "show", cmd[2], "--json"}, 120s);
      auto j = ParseJson(show.out);
      std::string got = show.code == 0 && j.ok() ? std::string((*j)["state"]) : "(gone: " + show.err + ")";
      if (got != want) bad.push_back("vm " + cmd[2] + " after " + point + " is " + got + ", not " + want);
      if (!hit && r.code != 0) bad.push_back("banger " + Join(cmd) + " failed unarmed: " + r.err);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    seconds_by_op[op] += secs;
    std::printf("chaos: run %3d/%d %-32s %s exit %d, %.1fs%s  [%s]\n", run + 1, runs, point.c_str(),
                hit ? "killed," : "not hit,", r.code, secs, bad.empty() ? "" : "  INCONSISTENT",
                c.summary_.c_str());
    std::fflush(stdout);
    if (!bad.empty()) {
      std::string all;
      for (const auto& b : bad) all += "\n  - " + b;
      ADD_FAILURE() << "run " << run << " (seed " << seed << ", point " << point << ", banger " << Join(cmd)
                    << "):" << all << "\nbangerd.log tail:\n"
                    << Tail(h.root() + "/bangerd.log", 4000);
      break;
    }
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "run " << run << " (seed " << seed << ", point " << point << ")";
      break;
    }
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_all).count();
  std::printf("chaos: %d runs in %.0fs (seed %llu)\n", runs, total, static_cast<unsigned long long>(seed));
  for (const auto& [op, s] : seconds_by_op) std::printf("chaos:   %-14s %.0fs\n", op.c_str(), s);
  if (!::testing::Test::HasFailure() && runs >= static_cast<int>(points.size())) {
    for (const auto& p : points) EXPECT_GT(hits[p], 0) << "fault point " << p << " was never reached";
  }
}

}  // namespace
}  // namespace banger::chaos

// Builds the image the VMs boot first (the kernel package comes through apt,
// so this runs in the host namespace with networking off: no bridge, tap or
// DNS socket), then re-executes this binary in a new network namespace with
// loopback up. Later image builds reuse the kernel package cached in the home.
int main(int argc, char** argv) {
  return banger::e2e::NetnsMain(argc, argv,
                                {.test_name = "chaos_test",
                                 .home_env = "BANGER_CHAOS_NETNS_HOME",
                                 .home_prefix = "/tmp/bgc-",
                                 .config_toml = banger::chaos::Config("off"),
                                 .image_build_extra = {"--profile", "minimal"}});
}
