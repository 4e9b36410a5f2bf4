// Chaos::Check: the invariants after each restart (see chaos_test.cc).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "chaos.h"
#include "vmm/qemu/qmp_client.h"

namespace banger::chaos {
namespace {

namespace fs = std::filesystem;

// QEMU's run state (query-status) at QMP socket `sock`, or why it is unknown.
std::string QmpStatus(const std::string& sock) {
  auto qmp = QmpClient::Connect(sock, std::chrono::seconds(10));
  if (!qmp.ok()) return "(no answer: " + qmp.error().message() + ")";
  auto st = qmp->Execute("query-status", std::chrono::seconds(10));
  if (!st.ok()) return "(query-status: " + st.error().message() + ")";
  if (st->is_object() && st->contains("status") && (*st)["status"].is_string()) return (*st)["status"];
  return st->dump();
}

}  // namespace

std::vector<std::string> Chaos::Check() {
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
    bool run = HasVmm(v);  // running or paused: a VMM, a tap, the scratch files
    running += run ? 1 : 0;
    if (!run && PathExists(dir + "/handles.json"))
      fail("vm " + std::string(v["name"]) + " is " + std::string(v["state"]) + " but has handles.json");
    if (!run && PathExists(dir + "/api.sock"))
      fail("vm " + std::string(v["name"]) + " is " + std::string(v["state"]) + " but has its control socket");
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
      if (tap.empty()) fail(std::string(v["state"]) + " vm " + std::string(v["name"]) + " has no tap");
      // The record says what the VMM does: QEMU's own answer (the daemon is
      // idle now; QEMU serves one QMP client at a time, so this waits its turn).
      std::string want = Running(v) ? "running" : "paused";
      std::string got = QmpStatus(dir + "/api.sock");
      // A paused VM saved since (snapshot, fork) stays stopped in "postmigrate".
      if (got != want && !(want == "paused" && got == "postmigrate"))
        fail("vm " + std::string(v["name"]) + " is recorded " + std::string(v["state"]) + " but qemu says " +
             got);
      if (!taps_in_use.insert(tap).second) fail("tap " + tap + " is given to two vms");
    }
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(h_.root() + "/vms", ec)) {
    if (!dirs.count(e.path().string())) fail("orphan vm directory " + e.path().string());
  }

  // Templates: no template VM outlives a restart, every directory belongs to
  // a complete template, every listed template has its files.
  for (const auto& [id, v] : by_id) {
    if (v.contains("labels") && v["labels"].is_object() && v["labels"].contains("banger.template"))
      fail("vm " + std::string(v["name"]) + " is a template's vm the reconcile did not remove");
  }
  CliRun tl = h_.Banger({"image", "template", "list", "--json"}, 120s);
  std::set<std::string> tdirs;
  if (tl.code != 0) {
    fail("image template list: " + tl.err);
  } else {
    auto templates = ParseJson(tl.out);
    if (!templates.ok()) fail("image template list --json: " + templates.error().message());
    for (const auto& t : templates.ok() ? *templates : Json::array()) {
      const std::string tdir = h_.root() + "/templates/" + std::string(t["id"]).substr(0, 16);
      tdirs.insert(tdir);
      for (const auto& [file, size] : t["files"].items()) {
        if (!IsRegularFile(tdir + "/" + file)) fail("template " + std::string(t["id"]) + " lacks " + file);
      }
    }
  }
  for (const auto& e : fs::directory_iterator(h_.root() + "/templates", ec)) {
    if (!tdirs.count(e.path().string())) fail("orphan template directory " + e.path().string());
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
    } else if (!HasVmm(by_id[owner])) {
      fail("vmm process " + std::to_string(p) + " runs for vm " + std::string(by_id[owner]["name"]) +
           " recorded " + std::string(by_id[owner]["state"]));
    } else {
      ++vmms_of[owner];
    }
  }
  for (const auto& [id, v] : by_id) {
    if (HasVmm(v) && vmms_of[id] != 1)
      fail(std::string(v["state"]) + " vm " + std::string(v["name"]) + " has " + std::to_string(vmms_of[id]) +
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
         " vm(s) with a vmm: " + Join(std::vector<std::string>(taps.begin(), taps.end())));
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
  // The layer cache: a tag per OCI image (named by its id), no partial downloads.
  std::set<std::string> image_ids;
  for (const auto& i : images) image_ids.insert(i["id"]);
  const std::string oci = h_.root() + "/oci";
  if (IsRegularFile(oci + "/index.json")) {
    auto index = ParseJson(FileText(oci + "/index.json"));
    if (!index.ok()) fail("layer cache index.json does not parse");
    if (index.ok() && index->contains("manifests")) {
      for (const auto& m : (*index)["manifests"]) {
        std::string tag =
            m.value("annotations", Json::object()).value("org.opencontainers.image.ref.name", "");
        if (!image_ids.count(tag)) fail("layer-cache tag " + tag + " belongs to no image");
      }
    }
  }
  for (const auto& e : fs::directory_iterator(oci, ec)) {
    if (e.path().filename().string().rfind("oci-put-blob", 0) == 0)
      fail("left-over partial download " + e.path().string());
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

}  // namespace banger::chaos
