#include "base/fault.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>

namespace banger::fault {
namespace {

// Keep in step with the BANGER_FAULT_POINT calls (fault_test checks it).
// The prefix before the last dot names the operation the chaos test runs.
const std::vector<std::string> kFaultPoints = {
    // vm create (daemon/vm_service.cc): files first, then the row
    "vm.create.id_assigned",
    "vm.create.disks_made",
    "vm.create.row_written",
    // vm start (daemon/vm_service.cc): devices, tap, VMM, scratch file, state
    "vm.start.begin",
    "vm.start.root_attached",
    "vm.start.tap_leased",
    "vm.start.devices_recorded",
    "vm.start.vmm_launched",
    "vm.start.handles_written",
    "vm.start.state_saved",
    // vm stop (daemon/vm_service.cc)
    "vm.stop.begin",
    "vm.stop.vmm_stopped",
    "vm.stop.cleaned_up",
    "vm.stop.state_saved",
    // vm delete (daemon/vm_service.cc): row first, then the files
    "vm.delete.stopped",
    "vm.delete.row_deleted",
    "vm.delete.files_removed",
    // vm snapshot create and vm stop --save (daemon/snapshot_service.cc):
    // row (complete = 0), VMM files, disk copies, rename, row complete
    "vm.snapshot.row_inserted",
    "vm.snapshot.vmm_saved",
    "vm.snapshot.disks_copied",
    "vm.snapshot.renamed",
    "vm.snapshot.complete",
    "vm.suspend.saved",
    // vm restore (daemon/snapshot_service.cc): staged disks, then running
    "vm.restore.disks_staged",
    "vm.restore.running",
    // vm fork (daemon/vm_fork.cc): the source's snapshot, then per fork its
    // disks, row, running VMM and fixed-up guest
    "vm.fork.snapshot_taken",
    "vm.fork.disks_copied",
    "vm.fork.row_written",
    "vm.fork.launched",
    "vm.fork.fixed_up",
    // template snapshots (daemon/template_service.cc)
    "vm.template.row_written",
    "vm.template.vm_booted",
    "vm.template.saved",
    "vm.template.moved",
    "vm.template.complete",
    // vm pause and vm resume (daemon/vm_pause.cc; also the idle sweeper's
    // pause and the transparent resume before guest use): the VMM, then the row
    "vm.pause.begin",
    "vm.pause.vmm_paused",
    "vm.pause.state_saved",
    "vm.resume.begin",
    "vm.resume.vmm_resumed",
    "vm.resume.state_saved",
    // exec (daemon/guest_exec.cc)
    "exec.agent_ready",
    "exec.command_started",
    "exec.command_finished",
    // session start (daemon/session_service.cc)
    "session.start.row_written",
    "session.start.launched",
    "session.start.state_saved",
    // image build (daemon/image_service.cc, image/builder.cc)
    "image.build.dir_made",
    "image.build.kernel_fetched",
    "image.build.initramfs_written",
    "image.build.rootfs_built",
    "image.build.work_seed_written",
    "image.build.row_written",
    // image pull / build --from-oci (daemon/image_oci.cc)
    "image.pull.fetched",
    "image.pull.built",
};

std::atomic<int>& HitCount() {
  static std::atomic<int> n{0};
  return n;
}

const Arming& Armed() {
  static const Arming a = [] {
    const char* env = std::getenv("BANGER_FAULT");
    return ParseArming(env ? env : "");
  }();
  return a;
}

void Say(const std::string& msg) {
  // Straight to fd 2 (bangerd.out for an auto-started daemon): no buffering to lose.
  const char* p = msg.data();
  size_t left = msg.size();
  while (left > 0) {
    ssize_t n = ::write(2, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace

bool Enabled() {
#if defined(BANGER_FAULT_INJECTION) && BANGER_FAULT_INJECTION
  return true;
#else
  return false;
#endif
}

const std::vector<std::string>& Points() {
  static const std::vector<std::string> none;
  return Enabled() ? kFaultPoints : none;
}

Arming ParseArming(std::string_view spec) {
  Arming a;
  auto colon = spec.rfind(':');
  std::string_view name = spec.substr(0, colon);
  if (colon != std::string_view::npos) {
    std::string_view n = spec.substr(colon + 1);
    if (n.empty() || n.size() > 6 || n.find_first_not_of("0123456789") != std::string_view::npos) return {};
    a.nth = std::atoi(std::string(n).c_str());
    if (a.nth < 1) return {};
  }
  a.point = std::string(name);
  return a;
}

void Hit(const char* point) {
  if (std::find(kFaultPoints.begin(), kFaultPoints.end(), point) == kFaultPoints.end()) {
    Say(std::string("fault point ") + point + " is not in kFaultPoints (base/fault.cc)\n");
    std::abort();
  }
  const Arming& a = Armed();
  if (a.point.empty() || a.point != point) return;
  if (HitCount().fetch_add(1) + 1 != a.nth) return;
  Say(std::string("bangerd: fault point ") + point + " hit: SIGKILL\n");
  ::kill(::getpid(), SIGKILL);
  ::pause();  // never returns: the signal is not catchable
}

}  // namespace banger::fault
