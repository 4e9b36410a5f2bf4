// Snapshots to disk through the real QEMU backend (TCG unless --accel kvm),
// alternating in one run: a cold boot of the test guest (launch until its
// init prints ready), a save (`SaveSnapshot`: pause + migration stream to a
// file), and a restore (`LaunchFromSnapshot`, running again). Prints each
// time, the restore/cold-boot ratio, and bytes on disk per GiB of guest
// memory. Asserts no timing; every step's error stops the run.
//
//   bench_snapshot [--runs N] [--memory MIB] [--accel tcg|kvm] [--guest DIR]
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "vmm/backend.h"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int Die(const std::string& what) {
  std::fprintf(stderr, "bench_snapshot: %s\n", what.c_str());
  return 1;
}

bool WaitForConsole(const std::string& path, size_t from, const std::string& needle, seconds budget) {
  auto end = Clock::now() + budget;
  while (Clock::now() < end) {
    auto text = banger::ReadFile(path);
    if (text.ok() && text->find(needle, from) != std::string::npos) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3, memory = 256;
  std::string accel = "tcg";
  std::string guest = BANGER_SOURCE_DIR "/build/test-guest";
  if (const char* g = std::getenv("BANGER_TEST_GUEST_DIR"); g && *g) guest = g;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--runs")
      runs = std::atoi(argv[i + 1]);
    else if (a == "--memory")
      memory = std::atoi(argv[i + 1]);
    else if (a == "--accel")
      accel = argv[i + 1];
    else if (a == "--guest")
      guest = argv[i + 1];
    else
      return Die("unknown option " + a);
  }
  if (runs < 1 || memory < 64) return Die("--runs must be >= 1 and --memory >= 64");
  if (!banger::IsRegularFile(guest + "/vmlinuz")) return Die("no test guest in " + guest);

  char tmpl[] = "/tmp/banger-bsnap-XXXXXX";
  if (!::mkdtemp(tmpl)) return Die("mkdtemp failed");
  const std::string dir = tmpl;
  banger::BackendOptions opts;
  opts.qemu_accel = accel;
  auto backend = banger::MakeQemuBackend(opts, banger::RealProcessOps());
  if (auto st = backend->CheckAvailable(); !st.ok()) return Die(st.error().message());

  banger::LaunchSpec spec;
  spec.vm_id = "0123456789abcdef";
  spec.vm_name = "bench-snapshot";
  spec.memory_mib = memory;
  spec.kernel_path = guest + "/vmlinuz";
  spec.initrd_path = guest + "/initrd.img";
  spec.kernel_cmdline = "console=ttyS0 reboot=k panic=1";
  spec.vm_dir = dir;
  spec.control_sock_path = dir + "/qmp.sock";
  spec.console_log_path = dir + "/console.log";
  spec.vmm_log_path = dir + "/qemu.log";

  std::vector<double> cold, save, restore, bytes;
  int rc = 0;
  for (int r = 0; r < runs && rc == 0; ++r) {
    auto before = banger::ReadFile(spec.console_log_path);
    size_t mark = before.ok() ? before->size() : 0;
    auto t0 = Clock::now();
    auto vm = backend->Launch(spec, seconds(60));
    if (!vm.ok()) {
      rc = Die(vm.error().message());
      break;
    }
    if (!WaitForConsole(spec.console_log_path, mark, "banger-test-guest: init ready", seconds(120))) {
      backend->Shutdown(*vm, milliseconds(0)).ok();
      rc = Die("the guest did not boot");
      break;
    }
    cold.push_back(Ms(Clock::now() - t0));

    banger::SnapshotPaths snap{dir + "/vmstate-" + std::to_string(r), ""};
    t0 = Clock::now();
    auto saved = backend->SaveSnapshot(*vm, snap, seconds(120));
    save.push_back(Ms(Clock::now() - t0));
    backend->Shutdown(*vm, milliseconds(0)).ok();
    if (!saved.ok()) {
      rc = Die(saved.error().message());
      break;
    }
    struct stat st {};
    ::stat(snap.state_path.c_str(), &st);
    bytes.push_back(static_cast<double>(st.st_blocks) * 512 * 1024 / memory);  // per GiB of guest memory

    t0 = Clock::now();
    auto back = backend->LaunchFromSnapshot(spec, snap, true, seconds(60));
    if (!back.ok()) {
      rc = Die(back.error().message());
      break;
    }
    restore.push_back(Ms(Clock::now() - t0));
    auto state = backend->QueryState(*back);
    backend->Shutdown(*back, milliseconds(0)).ok();
    if (!state.ok() || *state != "running") {
      rc = Die("the restored guest is not running");
      break;
    }
    std::printf("run %d: cold boot %.0f ms, save %.0f ms, restore %.0f ms, %.1f MB on disk\n", r + 1,
                cold.back(), save.back(), restore.back(), static_cast<double>(st.st_blocks) * 512 / 1e6);
  }
  std::filesystem::remove_all(dir);
  if (rc != 0 || cold.empty()) return rc;
  std::printf(
      "qemu/%s, %d MiB guest, median of %zu: cold boot %.0f ms, snapshot save %.0f ms, restore %.0f ms "
      "(%.2fx of cold), %.0f MB on disk per GiB of guest memory\n",
      accel.c_str(), memory, cold.size(), Median(cold), Median(save), Median(restore),
      Median(restore) / Median(cold), Median(bytes) / 1e6);
  return 0;
}
