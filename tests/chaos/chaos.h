// The chaos test's driver (chaos_test.cc runs it): the operations it arms a
// fault point in, what it remembers of their answers, and the invariants it
// checks after each restart (Check, in chaos_check.cc).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../e2e/e2e_util.h"
#include "../e2e/oci_fixture.h"
#include "base/strings.h"

namespace banger::chaos {

using e2e::BangerHome;
using e2e::CliRun;
using namespace std::chrono_literals;

inline constexpr int kPoolSize = 2;
inline constexpr int kMaxVms = 3;

inline std::string Config(const std::string& network) {
  return "backend = \"qemu\"\nqemu_accel = \"tcg\"\ndefault_image_name = \"t\"\nnetwork = \"" + network +
         "\"\ntap_pool_size = " + std::to_string(kPoolSize) +
         "\nstop_timeout = \"2s\"\n"
         "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 256\nwork_disk_size = \"128M\"\n"
         "system_overlay_size = \"256M\"\n";
}

inline std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

inline std::string FileText(const std::string& path) {
  auto s = ReadFile(path);
  return s.ok() ? *s : std::string();
}

// The operation (as Chaos::Prepare names it) a fault point belongs to; "" for none.
inline std::string OpOf(const std::string& point) {
  for (const char* op :
       {"vm.create", "vm.start", "vm.stop", "vm.delete", "session.start", "image.build", "image.pull",
        "vm.snapshot", "vm.suspend", "vm.restore", "vm.fork", "vm.pause", "vm.resume", "vm.template"}) {
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
  static bool Paused(const Json& v) { return v["state"] == "paused"; }
  // Running or paused: the VM has a VMM (and a tap).
  static bool HasVmm(const Json& v) { return Running(v) || Paused(v); }

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

  // A running VM: one that runs, else a paused one resumed, else a stopped
  // one started, else a new one.
  template <typename Pick>
  std::string RunningVm(const Pick& pick) {
    auto running = VmsWhere(Running);
    if (!running.empty()) return pick(running);
    if (auto paused = VmsWhere(Paused); !paused.empty()) {
      std::string vm = pick(paused);
      Must({"vm", "resume", vm});
      return vm;
    }
    auto idle = VmsWhere([](const Json& v) { return !HasVmm(v); });
    if (idle.empty()) {
      MakeRoom();
      return NewVm(true);
    }
    std::string vm = pick(idle);
    Must({"vm", "start", vm});
    return vm;
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
      auto idle = VmsWhere([](const Json& v) { return !HasVmm(v); });
      if (idle.empty()) {
        MakeRoom();
        return {"vm", "start", NewVm(false)};
      }
      return {"vm", "start", pick(idle)};
    }
    if (op == "vm.resume") {
      auto paused = VmsWhere(Paused);
      if (!paused.empty()) return {"vm", "resume", pick(paused)};
      std::string vm = RunningVm(pick);
      Must({"vm", "pause", vm});
      return {"vm", "resume", vm};
    }
    if (op == "vm.stop" || op == "exec" || op == "session.start" || op == "vm.snapshot" ||
        op == "vm.suspend" || op == "vm.restore" || op == "vm.fork" || op == "vm.pause") {
      if (op == "vm.fork") MakeRoom();
      std::string vm = RunningVm(pick);
      if (op == "vm.pause") return {"vm", "pause", vm};
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
    if (op == "vm.template") {
      // Its VM counts against the VM cap while it exists; two specs in turn.
      MakeRoom();
      return {"image", "template", "create", "t", "--memory", run % 2 == 0 ? "256" : "288"};
    }
    if (op == "vm.delete") {
      auto all = VmsWhere([](const Json&) { return true; });
      if (all.empty()) return {"vm", "delete", NewVm(rng_() % 2 == 0)};
      return {"vm", "delete", pick(all)};
    }
    // image.build and image.pull: only the newest made image is kept (disk space).
    for (const auto& img : Must({"image", "list"})) {
      if (img["name"] == "t") continue;
      Must({"image", "delete", img["name"]});
      model_.images.erase(img["name"]);
    }
    if (op == "image.pull") return {"image", "build", "o" + std::to_string(run), "--from-oci", OciLayout()};
    return {"image", "build", "b" + std::to_string(run), "--profile", "minimal"};
  }

  // An OCI image layout (busybox, one layer) made once, outside the home:
  // what `image.pull` imports (the same pull path as a registry's, offline).
  std::string OciLayout() {
    const std::string dir = h_.root() + "-oci";
    oci_test::OciImageMaker maker(dir);
    if (!IsRegularFile(maker.layout() + "/index.json")) {
      auto st = maker.Init("base");
      if (st.ok()) st = maker.AddLayer("base", "v1", oci_test::StageBusybox);
      if (st.ok()) st = maker.Untag("base");
      EXPECT_TRUE(st.ok()) << "making the OCI layout: " << st.error().message();
    }
    return maker.layout();
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
    } else if (op == "image.build" || op == "image.pull") {
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

  // The invariants after a restart (chaos_check.cc); returns the failures
  // (empty: all hold).
  std::vector<std::string> Check();

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

}  // namespace banger::chaos
