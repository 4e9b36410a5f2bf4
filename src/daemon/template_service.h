// TemplateService: template snapshots and warm start (`banger image
// template create|list|delete`, `vm create`/`vm run` continuing a template
// instead of booting, `--cold` to boot). Design and crash-safety:
// docs/adr/0019-warm-start-from-template-snapshots.md.
//
// A template is a booted, idle guest of one image and spec (backend, vcpus,
// memory, overlay and work disk sizes, network device or not), saved once:
// the VMM's files plus copies of its writable disks, in
// <home>/templates/<id16>/, recorded in the store (templates table). It is
// made by creating and booting a VM (named tmpl-<id8>, label
// banger.template=<id>), waiting for its agent, snapshotting it
// (SnapshotService::TakeLocked), moving the snapshot's directory to the
// template's and deleting the VM. A new template of the same image and spec
// replaces the old one once complete.
//
// Warm start (VmService::SetWarmStart): VmService::Create hands the new
// record to WarmStart, which picks the newest complete template of the same
// image and spec whose inputs (kernel, initrd, rootfs, file_sync sources)
// are unchanged, and makes the VM continue it as a fork continues a
// snapshot (SnapshotService::ContinueAsNew: own id, disks copied from the
// template's, guest fixed up with its own hostname, vm id, clock, entropy
// and address). A stale template (its inputs changed, a file missing or
// truncated) is removed, and the VM boots.
//
// Crash-safety: the row is written (complete = 0) before any file; the
// startup reconcile (Reconcile) deletes template VMs, incomplete rows,
// their files and directories no row names.
//
// Thread-safety: every method may be called from any thread; two creates
// of the same image and spec both finish, the newer wins.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "daemon/events.h"
#include "daemon/snapshot_service.h"
#include "daemon/vm_service.h"
#include "model/requests.h"
#include "model/types.h"
#include "store/store.h"

namespace banger {

// The label a template's VM carries while the template is made (its value: the template id).
inline constexpr const char* kTemplateLabel = "banger.template";

struct TemplateServiceDeps {
  HomeLayout home;
  std::vector<FileSyncEntry> file_sync;  // the config's [[file_sync]]: part of a template's inputs
  Store* store = nullptr;
  EventLog* events = nullptr;
  VmService* vms = nullptr;
  SnapshotService* snapshots = nullptr;
  // Bounds the wait for the template VM's agent and its init's boot.
  std::chrono::milliseconds agent_timeout{std::chrono::seconds(120)};
  // Waits for the VM's agent and its boot to finish (tests replace it);
  // unset: GuestExec::WaitForAgent, then a settle script in the guest.
  std::function<Status(const VmRecord& vm, std::chrono::milliseconds timeout)> wait_agent;
};

class TemplateService {
 public:
  // Registers WarmStart with `deps.vms` (VmService::Create).
  explicit TemplateService(TemplateServiceDeps deps);

  // Boots a VM of the request's image and spec (unset fields: the config's
  // vm_defaults), waits for its agent, saves it as a template and deletes
  // the VM. Replaces an older template of the same image and spec.
  Result<VmTemplate> Create(const CreateTemplateRequest& req);
  // Complete templates (of the image `image_ref`; "" = all), oldest first.
  Result<std::vector<VmTemplate>> List(const std::string& image_ref);
  // By id or unique id prefix (>= 4 characters).
  Status Delete(const std::string& id);

  // Startup: deletes template VMs a dead daemon left, incomplete rows and
  // their files, and directories no row names. After VmService's reconcile.
  void Reconcile();

  // Removes template directories no row names (after an image's deletion
  // took its templates' rows with it).
  void RemoveOrphanDirs();

  // VmService::Create's warm start (see VmService::WarmStartFn).
  std::optional<Result<VmRecord>> WarmStart(const VmRecord& vm, const Image& img);

  // "<kernel>|<initrd>|<rootfs>|<file_sync sources>" identities: what a
  // template of `img` was made from.
  static std::string InputsIdentity(const Image& img, const std::vector<FileSyncEntry>& file_sync);
  // Whether template `t` fits a new VM `vm` (image, backend and spec; `nic`:
  // the daemon gives VMs a network device).
  static bool Fits(const VmTemplate& t, const VmRecord& vm, bool nic);
  // <home>/templates/<id16>.
  std::string DirOf(const VmTemplate& t) const;

 private:
  // Removes the row, then the files.
  void Remove(const VmTemplate& t, const std::string& why);
  // Why `t` cannot be used for `img` any more ("" = it can).
  std::string StaleReason(const VmTemplate& t, const Image& img) const;
  Status WaitAgent(const VmRecord& vm);
  void Emit(const std::string& type, const VmTemplate& t, Json data = Json::object());

  TemplateServiceDeps d_;
  std::mutex mu_;  // guards picking (use counts) against concurrent removal
};

}  // namespace banger
