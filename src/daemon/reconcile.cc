#include "daemon/reconcile.h"

#include <filesystem>
#include <set>

#include "base/fs.h"
#include "base/log.h"

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
}

// Taps of live VMs stay theirs; everything else goes back to the pool, and
// NAT rules and DNS records follow the live VMs.
Status ReconcileNetwork(VmService& vms, const ReconcileScope& s) {
  std::vector<VmRecord> live;
  std::set<std::string> live_taps;
  BANGER_ASSIGN_OR_RETURN(auto now, s.store->ListVms());
  for (const auto& vm : now) {
    auto h = vms.HandlesOf(vm.id);
    if (vm.state != VmState::kRunning || !h) continue;
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
