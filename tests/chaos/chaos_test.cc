// Crash consistency: a real bangerd (QEMU TCG guests, host networking on, all
// inside a network namespace this test creates) is SIGKILLed at every step of
// vm create, start, stop, delete, exec, session start, image build, snapshot,
// suspend, restore and fork, through the test-only fault points (base/fault.h,
// BANGER_FAULT=<point>). After each
// kill the daemon is restarted and the state is checked:
//   - every VM and session the test saw acknowledged still exists (and an
//     acknowledged delete stayed deleted); an operation killed before it
//     answered may have happened or not, but all or nothing;
//   - every VMM process naming this home belongs to a VM row in state
//     running, and every running VM has exactly one;
//   - taps: the pool's free ones plus one per running VM, nothing else;
//   - no orphan files: VM directories without a row, scratch files of VMs
//     that are not running, half-built image directories, staging or temp
//     files;
//   - sqlite `PRAGMA integrity_check` says ok; the daemon answers.
// Then the next run continues on the same state (at most 3 VMs alive).
//
// Runs: BANGER_CHAOS_RUNS (default 100), seed: BANGER_CHAOS_SEED (default:
// time; always printed). The first runs walk every fault point once in a
// seeded order, so 100 runs cover the whole catalogue
// (`bangerd --list-fault-points`); the rest pick points at random.
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

#include "../e2e/e2e_util.h"
#include "base/strings.h"

namespace banger::chaos {
namespace {

using e2e::BangerHome;
using e2e::CliRun;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int kPoolSize = 2;
constexpr int kMaxVms = 3;

std::string Config(const std::string& network) {
  return "backend = \"qemu\"\nqemu_accel = \"tcg\"\ndefault_image_name = \"t\"\nnetwork = \"" + network +
         "\"\ntap_pool_size = " + std::to_string(kPoolSize) +
         "\nstop_timeout = \"2s\"\n"
         "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 256\nwork_disk_size = \"128M\"\n"
         "system_overlay_size = \"256M\"\n";
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

std::string FileText(const std::string& path) {
  auto s = ReadFile(path);
  return s.ok() ? *s : std::string();
}

std::string Bangerd() {
  std::string b = BANGER_BIN;
  return b.substr(0, b.rfind('/')) + "/bangerd";
}

std::string OpOf(const std::string& point) {
  for (const char* op : {"vm.create", "vm.start", "vm.stop", "vm.delete", "session.start", "image.build",
                         "vm.snapshot", "vm.suspend", "vm.restore", "vm.fork"}) {
    if (point.rfind(std::string(op) + ".", 0) == 0) return op;
  }
  if (point.rfind("exec.", 0) == 0) return "exec";
  return "";
}

struct Model {
  std::map<std::string, std::string> vms;  // id -> name: acknowledged, must exist
  std::set<std::string> deleted;           // ids whose delete was acknowledged
  std::set<std::string> sessions;          // ids, acknowledged
  std::set<std::string> images;            // built image names, acknowledged
};

class Chaos {
 public:
  Chaos(BangerHome& h, uint64_t seed) : h_(h), rng_(seed) {}

  // One CLI call with an unarmed daemon that must succeed.
  Json Must(std::vector<std::string> args) {
    args.push_back("--json");
    CliRun r = h_.Banger(args, 300s);
    EXPECT_EQ(r.code, 0) << "banger " << Join(args) << ": " << r.err;
    auto j = ParseJson(r.out);
    return j.ok() ? *j : Json();
  }

  Json Vms() { return Must({"vm", "list"}); }

  std::vector<Json> VmsWhere(const std::function<bool(const Json&)>& pred) {
    std::vector<Json> out;
    for (const auto& v : Vms()) {
      if (pred(v)) out.push_back(v);
    }
    return out;
  }

  static bool Running(const Json& v) { return v["state"] == "running"; }

  // Creates an unarmed VM (counted in the model), started or not.
  std::string NewVm(bool start) {
    std::string name = "p" + std::to_string(++counter_);
    std::vector<std::string> args = {"vm", "create", "--name", name};
    if (!start) args.push_back("--no-start");
    Json v = Must(args);
    if (v.is_object() && v.contains("id")) model_.vms[v["id"]] = name;
    return name;
  }

  // Keeps at most kMaxVms - 1 VMs, so the operation may add one.
  void MakeRoom() {
    Json all = Vms();
    if (all.size() < static_cast<size_t>(kMaxVms)) return;
    const Json& victim = all[std::uniform_int_distribution<size_t>(0, all.size() - 1)(rng_)];
    ForgetSessionsOf(victim["name"]);
    Must({"vm", "delete", victim["name"]});
    model_.vms.erase(victim["id"]);
    model_.deleted.insert(victim["id"]);
  }

  // The target of `op` (made ready with an unarmed daemon) and the armed command.
  std::vector<std::string> Prepare(const std::string& op, int run) {
    auto pick = [&](const std::vector<Json>& from) -> std::string {
      return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng_)]["name"];
    };
    if (op == "vm.create") {
      MakeRoom();
      return {"vm", "create", "--name", "c" + std::to_string(run), "--no-start"};
    }
    if (op == "vm.start") {
      auto idle = VmsWhere([](const Json& v) { return !Running(v); });
      if (idle.empty()) {
        MakeRoom();
        return {"vm", "start", NewVm(false)};
      }
      return {"vm", "start", pick(idle)};
    }
    if (op == "vm.stop" || op == "exec" || op == "session.start" || op == "vm.snapshot" ||
        op == "vm.suspend" || op == "vm.restore" || op == "vm.fork") {
      if (op == "vm.fork") MakeRoom();
      auto running = VmsWhere(Running);
      std::string vm;
      if (running.empty()) {
        auto idle = VmsWhere([](const Json& v) { return !Running(v); });
        if (idle.empty()) {
          MakeRoom();
          vm = NewVm(true);
        } else {
          vm = pick(idle);
          Must({"vm", "start", vm});
        }
      } else {
        vm = pick(running);
      }
      if (op == "vm.stop") return {"vm", "stop", vm, "--timeout", "1"};
      if (op == "vm.snapshot") return {"vm", "snapshot", "create", vm, "--name", "k" + std::to_string(run)};
      if (op == "vm.suspend") return {"vm", "stop", vm, "--save"};
      if (op == "vm.fork") return {"vm", "fork", vm, "--name", "f" + std::to_string(run)};
      if (op == "vm.restore") {
        const std::string snap = "r" + std::to_string(run);
        Must({"vm", "snapshot", "create", vm, "--name", snap});
        Must({"vm", "stop", vm, "--timeout", "1"});
        return {"vm", "restore", vm, "--snapshot", snap};
      }
      if (op == "exec") return {"vm", "exec", vm, "--", "echo", "chaos-" + std::to_string(run)};
      return {"session", "start", vm, "--name", "s" + std::to_string(run), "--", "sleep", "3600"};
    }
    if (op == "vm.delete") {
      auto all = VmsWhere([](const Json&) { return true; });
      if (all.empty()) return {"vm", "delete", NewVm(rng_() % 2 == 0)};
      return {"vm", "delete", pick(all)};
    }
    // image.build: only the newest built image is kept (disk space).
    for (const auto& img : Must({"image", "list"})) {
      if (img["name"] == "t") continue;
      Must({"image", "delete", img["name"]});
      model_.images.erase(img["name"]);
    }
    return {"image", "build", "b" + std::to_string(run), "--profile", "minimal"};
  }

  // After an armed operation: what it acknowledged joins the model.
  void Record(const std::string& op, const std::vector<std::string>& cmd, const CliRun& r) {
    auto j = ParseJson(r.out);
    if (op == "vm.create" || op == "vm.start") {
      if (r.code == 0 && op == "vm.create" && j.ok()) model_.vms[(*j)["id"]] = cmd[3];
    } else if (op == "vm.delete") {
      if (r.code == 0) {
        for (auto it = model_.vms.begin(); it != model_.vms.end(); ++it) {
          if (it->second == cmd[2]) {
            model_.deleted.insert(it->first);
            model_.vms.erase(it);
            break;
          }
        }
      }
    } else if (op == "vm.fork") {
      if (r.code == 0 && j.ok() && j->is_array()) {
        for (const auto& v : *j) model_.vms[v["id"]] = v["name"];
      }
    } else if (op == "session.start") {
      if (r.code == 0 && j.ok()) model_.sessions.insert((*j)["id"]);
    } else if (op == "image.build") {
      if (r.code == 0) model_.images.insert(cmd[2]);
    } else if (op == "exec" && r.code == 0) {
      EXPECT_EQ(r.out, cmd.back() + "\n") << "an acknowledged exec printed its output";
    }
  }

  // Whatever exists now is "seen": later runs must keep it (killed operations
  // that happened after all join the model here).
  void Adopt(const Json& vms, const Json& sessions, const Json& images) {
    std::set<std::string> ids;
    for (const auto& v : vms) {
      model_.vms[v["id"]] = v["name"];
      ids.insert(v["id"]);
    }
    // A delete killed after its row went is a delete that happened.
    for (auto it = model_.vms.begin(); it != model_.vms.end();) {
      if (!ids.count(it->first)) {
        model_.deleted.insert(it->first);
        it = model_.vms.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& s : sessions) model_.sessions.insert(s["id"]);
    for (const auto& i : images) {
      if (i["name"] != "t") model_.images.insert(i["name"]);
    }
  }

  // The invariants after a restart; returns the failures (empty: all hold).
  std::vector<std::string> Check() {
    std::vector<std::string> bad;
    auto fail = [&](const std::string& m) { bad.push_back(m); };
    CliRun list = h_.Banger({"vm", "list", "--json"}, 120s);
    if (list.code != 0) {
      fail("the restarted daemon does not answer: " + list.err);
      return bad;
    }
    Json vms = *ParseJson(list.out);
    std::map<std::string, Json> by_id;
    for (const auto& v : vms) by_id[v["id"]] = v;
    for (const auto& [id, name] : model_.vms) {
      if (!by_id.count(id) && !pending_delete_.count(id))
        fail("vm " + name + " (" + id + ") was acknowledged and is gone");
    }
    for (const auto& id : model_.deleted) {
      if (by_id.count(id)) fail("vm " + id + " was deleted and is back");
    }

    // Files: one directory per row, disks present; scratch files only while running.
    std::set<std::string> dirs;
    int running = 0;
    std::set<std::string> taps_in_use;
    for (const auto& [id, v] : by_id) {
      std::string dir = v["runtime"]["vm_dir"];
      dirs.insert(dir);
      if (!IsRegularFile(v["runtime"]["work_disk_path"]))
        fail("vm " + std::string(v["name"]) + " has a row but no work disk");
      bool run = Running(v);
      running += run ? 1 : 0;
      if (!run && PathExists(dir + "/handles.json"))
        fail("vm " + std::string(v["name"]) + " is " + std::string(v["state"]) + " but has handles.json");
      if (!run && PathExists(dir + "/api.sock"))
        fail("vm " + std::string(v["name"]) + " is not running but has its control socket");
      if (v["state"] == "error") fail("vm " + std::string(v["name"]) + " is in state error");
      // Snapshots: a save or restore cut short leaves nothing half-done.
      std::error_code sec;
      for (const auto& e : fs::directory_iterator(dir + "/snapshots", sec)) {
        if (e.path().filename().string().rfind(".tmp-", 0) == 0)
          fail("half-written snapshot " + e.path().string());
      }
      if (PathExists(dir + "/restore.pending"))
        fail("vm " + std::string(v["name"]) + " has an unfinished restore");
      if (PathExists(dir + "/fork.pending"))
        fail("vm " + std::string(v["name"]) + " is a fork the reconcile did not remove");
      if (run) {
        std::string tap =
            v.contains("handles") && v["handles"].is_object() ? v["handles"].value("tap_device", "") : "";
        if (tap.empty()) fail("running vm " + std::string(v["name"]) + " has no tap");
        if (!taps_in_use.insert(tap).second) fail("tap " + tap + " is given to two vms");
      }
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(h_.root() + "/vms", ec)) {
      if (!dirs.count(e.path().string())) fail("orphan vm directory " + e.path().string());
    }

    // VMMs <-> running rows.
    std::map<std::string, int> vmms_of;
    for (pid_t p : h_.Vmms()) {
      auto argv = RealProcessOps().Cmdline(p);
      std::string args = Join(argv);
      std::string owner;
      for (const auto& [id, v] : by_id) {
        if (args.find(std::string(v["runtime"]["vm_dir"]) + "/") != std::string::npos) owner = id;
      }
      if (owner.empty()) {
        fail("vmm process " + std::to_string(p) + " has no vm row: " + args.substr(0, 200));
      } else if (!Running(by_id[owner])) {
        fail("vmm process " + std::to_string(p) + " runs for vm " + std::string(by_id[owner]["name"]) +
             " recorded " + std::string(by_id[owner]["state"]));
      } else {
        ++vmms_of[owner];
      }
    }
    for (const auto& [id, v] : by_id) {
      if (Running(v) && vmms_of[id] != 1)
        fail("running vm " + std::string(v["name"]) + " has " + std::to_string(vmms_of[id]) +
             " vmm processes");
    }

    // Taps: the pool's free ones plus those of running VMs.
    auto links = RunCommand({"ip", "-o", "link", "show"});
    std::set<std::string> taps;
    if (links.ok()) {
      for (const auto& line : Split(links->out, '\n')) {
        auto a = line.find(": bgtap");
        if (a == std::string::npos) continue;
        std::string name = line.substr(a + 2);
        name = name.substr(0, name.find_first_of(":@ "));
        taps.insert(name);
      }
    }
    for (const auto& t : taps_in_use) {
      if (!taps.count(t)) fail("tap " + t + " of a running vm does not exist");
    }
    if (static_cast<int>(taps.size()) != kPoolSize + running) {
      fail("taps outside the pool: " + std::to_string(taps.size()) + " taps for a pool of " +
           std::to_string(kPoolSize) + " and " + std::to_string(running) +
           " running vm(s): " + Join(std::vector<std::string>(taps.begin(), taps.end())));
    }

    // Sessions: acknowledged ones stay (unless their VM was deleted); none half-started.
    // A session left starting is settled by what its guest says; while the
    // guest still boots (no agent yet) it stays starting, so give it a minute.
    CliRun sl;
    auto settle_by = std::chrono::steady_clock::now() + 60s;
    for (;;) {
      sl = h_.Banger({"session", "list", "--json"}, 120s);
      auto j = ParseJson(sl.out);
      bool starting = false;
      if (sl.code == 0 && j.ok()) {
        for (const auto& x : *j) starting = starting || x["status"] == "starting";
      }
      if (!starting || std::chrono::steady_clock::now() >= settle_by) break;
      std::this_thread::sleep_for(1s);
    }
    Json sessions = Json::array();
    if (sl.code != 0) {
      fail("session list: " + sl.err);
    } else {
      sessions = *ParseJson(sl.out);
      std::set<std::string> have;
      for (const auto& s : sessions) {
        have.insert(s["id"]);
        if (s["status"] == "starting")
          fail("session " + std::string(s["name"]) + " is stuck in starting after the restart");
      }
      for (auto it = model_.sessions.begin(); it != model_.sessions.end();) {
        if (have.count(*it)) {
          ++it;
        } else if (deleted_vm_sessions_.count(*it)) {
          it = model_.sessions.erase(it);
        } else {
          fail("session " + *it + " was acknowledged and is gone");
          ++it;
        }
      }
    }

    // Images: acknowledged builds stay, with their files; no half-built directories.
    Json images = Must({"image", "list"});
    std::set<std::string> artifact_dirs, image_names;
    for (const auto& i : images) {
      image_names.insert(i["name"]);
      if (i.contains("artifact_dir") && i["artifact_dir"].is_string() &&
          !i["artifact_dir"].get<std::string>().empty())
        artifact_dirs.insert(i["artifact_dir"]);
      for (const char* f : {"kernel_path", "rootfs_path"}) {
        if (i.contains(f) && !IsRegularFile(i[f]))
          fail("image " + std::string(i["name"]) + ": " + f + " is missing");
      }
    }
    for (const auto& n : model_.images) {
      if (!image_names.count(n)) fail("image " + n + " was acknowledged and is gone");
    }
    for (const auto& e : fs::directory_iterator(h_.root() + "/images", ec)) {
      if (!artifact_dirs.count(e.path().string())) fail("half-built image directory " + e.path().string());
    }
    for (auto it =
             fs::recursive_directory_iterator(h_.root(), fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::string n = it->path().filename().string();
      if (n.find(".tmp") != std::string::npos || n == ".kernel" || n == ".rootfs" || n == ".work-seed") {
        fail("left-over temporary " + it->path().string());
        if (it->is_directory()) it.disable_recursion_pending();
      }
    }

    // The store.
    auto ic = RunCommand({"sqlite3", h_.root() + "/banger.db", "PRAGMA integrity_check;"});
    if (!ic.ok() || ic->exit_code != 0 || ic->out != "ok\n")
      fail("integrity_check: " + (ic.ok() ? ic->out + ic->err : ic.error().message()));

    summary_.clear();
    for (const auto& v : vms) summary_ += std::string(v["name"]) + ":" + std::string(v["state"]) + " ";
    for (const auto& x : sessions) {
      summary_ += std::string(x["name"]) + ":" + std::string(x["status"]);
      if (x.contains("exit_code")) summary_ += "(" + x["exit_code"].dump() + ")";
      if (std::getenv("BANGER_CHAOS_DEBUG")) summary_ += x.dump();
      summary_ += " ";
    }
    summary_ += std::to_string(taps.size()) + " taps";
    if (bad.empty()) Adopt(vms, sessions, images);
    return bad;
  }

  // Sessions of VMs that the next operation may delete stop counting.
  void ForgetSessionsOf(const std::string& vm_name) {
    CliRun sl = h_.Banger({"session", "list", vm_name, "--json"}, 120s);
    auto j = ParseJson(sl.out);
    if (sl.code != 0 || !j.ok()) return;
    for (const auto& s : *j) deleted_vm_sessions_.insert(s["id"]);
  }

  Model& model() { return model_; }
  std::mt19937_64& rng() { return rng_; }
  std::set<std::string> pending_delete_;
  std::string summary_;  // the state after the last check, for the log

 private:
  BangerHome& h_;
  std::mt19937_64 rng_;
  Model model_;
  std::set<std::string> deleted_vm_sessions_;
  int counter_ = 0;
};

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
  for (const auto& p : points) weights.push_back(OpOf(p) == "image.build" ? 0.25 : 1.0);
  std::discrete_distribution<size_t> any(weights.begin(), weights.end());
  while (static_cast<int>(plan.size()) < runs) plan.push_back(points[any(c.rng())]);
  plan.resize(std::max(runs, 0));

  // The checks can fail: planted damage of each kind is reported, then removed.
  {
    ASSERT_EQ(h.Banger({"vm", "create", "--name", "selfcheck", "--no-start"}).code, 0);
    ASSERT_EQ(h.Banger({"vm", "list"}).code, 0);
    std::string ghost = h.root() + "/vms/0123456789abcdef";
    ASSERT_TRUE(MakeDirs(ghost).ok());
    ASSERT_TRUE(MakeDirs(h.root() + "/images/fedcba9876543210").ok());
    ASSERT_TRUE(WriteFileAtomic(h.root() + "/banger.db.tmp.1", "x").ok());
    ASSERT_TRUE(RunChecked({"ip", "tuntap", "add", "bgtap97", "mode", "tap"}).ok());
    auto fake_vmm = SpawnDetached({.argv = {"sh", "-c", "sleep 600; true", ghost + "/api.sock"}});
    ASSERT_TRUE(fake_vmm.ok());
    ASSERT_TRUE(e2e::WaitUntil([&] { return !h.Vmms().empty(); }, 5s));
    c.model().vms["feedfacefeedface"] = "never-existed";  // an acknowledged VM that is gone
    auto bad = c.Check();
    std::string all;
    for (const auto& b : bad) all += b + "\n";
    for (const char* want : {"orphan vm directory", "half-built image directory", "left-over temporary",
                             "taps outside the pool", "has no vm row", "was acknowledged and is gone"}) {
      EXPECT_NE(all.find(want), std::string::npos) << "the check missed: " << want << "\n" << all;
    }
    c.model().vms.erase("feedfacefeedface");
    for (pid_t p : RealProcessOps().FindByArg(ghost + "/api.sock")) RealProcessOps().Signal(p, SIGKILL).ok();
    (void)RunCommand({"ip", "link", "del", "bgtap97"});
    RemoveAll(ghost).ok();
    RemoveAll(h.root() + "/images/fedcba9876543210").ok();
    RemoveFile(h.root() + "/banger.db.tmp.1").ok();
    ASSERT_TRUE(e2e::WaitUntil([&] { return h.Vmms().empty(); }, 5s));
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
