#include "daemon/reconcile.h"

#include <filesystem>
#include <set>

#include "base/fs.h"
#include "base/log.h"
#include "image/oci/layout.h"

namespace banger {
namespace {

// Artifact directories of image builds that were interrupted (named like
// ours: 16 hex digits) and that no image owns.
void RemoveInterruptedBuilds(const ReconcileScope& s) {
  auto images = s.store->ListImages();
  if (!images.ok()) return;
  std::set<std::string> owned;
  for (const auto& img : *images) owned.insert(img.artifact_dir);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(s.home.ImagesDir(), ec)) {
    std::string n = entry.path().filename().string();
    bool ours = n.size() == 16 && n.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!ours || owned.count(entry.path().string())) continue;
    spdlog::info("reconcile: removing artifacts of an interrupted image build {}", entry.path().string());
    RemoveAll(entry.path().string()).ok();
  }
  // A pull killed midway leaves a layer-cache tag (named by the image id)
  // that no image owns, or partial downloads. They go; whole blobs stay for
  // a retry to reuse (`image prune` collects them).
  if (!IsDirectory(s.home.OciLayoutDir())) return;
  std::set<std::string> ids;
  for (const auto& img : *images) ids.insert(img.id);
  OciLayout layout(s.home.OciLayoutDir());
  const std::atomic<bool> no_cancel{false};
  auto lock = layout.Acquire([](const std::string&) {}, no_cancel, std::chrono::milliseconds(0));
  Status st = lock.ok() ? layout.DropLeftovers([&ids](const std::string& tag) {
    if (ids.count(tag)) return true;
    spdlog::info("reconcile: dropping layer-cache tag {} of an interrupted pull", tag);
    return false;
  })
                        : Status(lock.error());
  if (!st.ok()) spdlog::warn("reconcile: layer cache: {}", st.error().message());
}

// Session rows whose daemon died mid-operation (kill -9). A `starting` one
// whose VM is no longer running can never have started, so it fails with a
// message saying why; on a running VM it stays `starting` for the session
// poller to settle from the guest (`running` if the guest runs it, else
// `failed`: SessionService::Refresh). A `stopping` one goes back to
// `running`, for the poll to ask the guest what became of it. Either would
// otherwise count as a live session and keep its VM from auto-stopping.
void ResolveInterruptedSessions(VmService& vms, const ReconcileScope& s) {
  auto sessions = s.store->ListSessions("");
  if (!sessions.ok()) {
    spdlog::warn("reconcile: sessions: {}", sessions.error().message());
    return;
  }
  for (auto& sess : *sessions) {
    if (sess.status == GuestSessionStatus::kStarting) {
      auto vm = s.store->GetVm(sess.vm_id);
      if (vm.ok() && VmStateHasVmm(vm->state) && vms.VmAlive(*vm)) continue;
      sess.status = GuestSessionStatus::kFailed;
      sess.last_error = sess.launch_message = kInterruptedStartMessage;
      sess.reattachable = false;
      sess.ended_at = Now();
    } else if (sess.status == GuestSessionStatus::kStopping) {
      sess.status = GuestSessionStatus::kRunning;
    } else {
      continue;
    }
    sess.updated_at = Now();
    spdlog::info("reconcile: session {} was {} when the last daemon stopped; now {}", sess.name,
                 sess.status == GuestSessionStatus::kFailed ? "starting" : "stopping",
                 GuestSessionStatusName(sess.status));
    if (auto st = s.store->UpsertSession(sess); !st.ok()) {
      spdlog::warn("reconcile: session {}: {}", sess.name, st.error().message());
    }
  }
}

// Taps of live VMs stay theirs; everything else goes back to the pool, and
// NAT rules and DNS records follow the live VMs.
Status ReconcileNetwork(VmService& vms, const ReconcileScope& s) {
  std::vector<VmRecord> live;
  std::set<std::string> live_taps;
  BANGER_ASSIGN_OR_RETURN(auto now, s.store->ListVms());
  for (const auto& vm : now) {
    auto h = vms.HandlesOf(vm.id);
    if (!VmStateHasVmm(vm.state) || !h) continue;
    live.push_back(vm);
    if (!h->tap_device.empty()) live_taps.insert(h->tap_device);
  }
  if (auto st = s.network->Reconcile(live, live_taps); !st.ok()) {
    spdlog::warn("reconcile: network: {}", st.error().message());
  }
  return OkStatus();
}

}  // namespace

Status Reconcile(VmService& vms, const ReconcileScope& s) {
  BANGER_ASSIGN_OR_RETURN(auto all, s.store->ListVms());
  std::set<std::string> known_dirs;
  for (auto& vm : all) {
    known_dirs.insert(vm.runtime.vm_dir);
    vms.ReconcileVm(std::move(vm));
  }
  RemoveInterruptedBuilds(s);
  ResolveInterruptedSessions(vms, s);
  // Orphan VM directories: files of a create or delete that was interrupted.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(s.home.VmsDir(), ec)) {
    if (known_dirs.count(entry.path().string()) || !entry.is_directory()) continue;
    vms.RemoveOrphanDir(entry.path().string());
  }
  // After the orphans' VMMs are gone, so their groups can go too.
  vms.RemoveStaleCgroups();
  if (s.network) BANGER_RETURN_IF_ERROR(ReconcileNetwork(vms, s));
  return OkStatus();
}

}  // namespace banger
