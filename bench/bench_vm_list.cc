// Benchmark: CLI round trip of `banger vm list --json` with 200 VMs in the
// store, the same request straight over the API socket, and the daemon's RSS.
// Prints numbers; asserts nothing.
//
//   bench_vm_list [--vms N] [--runs N]
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "config/config.h"
#include "http/http.h"
#include "store/store.h"

namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::lround(p / 100.0 * static_cast<double>(v.size() - 1)));
  return v[std::min(i, v.size() - 1)];
}

long RssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

void Report(const char* what, const std::vector<double>& ms) {
  std::printf("%-38s n=%zu p50=%.2fms p90=%.2fms p99=%.2fms max=%.2fms\n", what, ms.size(),
              Percentile(ms, 50), Percentile(ms, 90), Percentile(ms, 99),
              *std::max_element(ms.begin(), ms.end()));
}

}  // namespace

int main(int argc, char** argv) {
  int vms = 200, runs = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--vms") vms = std::stoi(argv[i + 1]);
    if (a == "--runs") runs = std::stoi(argv[i + 1]);
  }
  std::string home = "/tmp/bgb-" + std::to_string(::getpid());
  std::filesystem::create_directories(home + "/vms");
  banger::HomeLayout layout{home};
  {
    auto store = banger::Store::Open(layout.Database());
    if (!store.ok()) {
      std::fprintf(stderr, "bench: %s\n", store.error().message().c_str());
      return 1;
    }
    banger::Image img;
    img.id = banger::NewId();
    img.name = "base";
    img.kernel_path = "/bench/vmlinux";
    img.rootfs_path = "/bench/rootfs.ext4";
    img.created_at = img.updated_at = banger::Now();
    (void)(*store)->InsertImage(img);
    for (int i = 0; i < vms; ++i) {
      banger::VmRecord vm;
      vm.id = banger::NewId();
      vm.name = "bench-" + std::to_string(i);
      vm.image_id = img.id;
      vm.state = vm.runtime.state = banger::VmState::kStopped;
      vm.created_at = vm.updated_at = vm.last_touched_at = banger::Now();
      vm.runtime.vm_dir = layout.VmDir(vm.id);
      vm.runtime.guest_ip = "172.16.0." + std::to_string(2 + i % 250);
      vm.labels = {{"bench", "yes"}};
      if (auto st = (*store)->InsertVm(vm); !st.ok()) {
        std::fprintf(stderr, "bench: %s\n", st.error().message().c_str());
        return 1;
      }
    }
  }
  std::vector<std::string> cmd = {BANGER_BIN, "--home", home, "vm", "list", "--json"};
  auto warm = banger::RunCommand(cmd);  // starts the daemon
  if (!warm.ok() || warm->exit_code != 0) {
    std::fprintf(stderr, "bench: banger failed: %s\n",
                 warm.ok() ? warm->err.c_str() : warm.error().message().c_str());
    return 1;
  }
  std::vector<double> cli, api;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    auto r = banger::RunCommand(cmd);
    cli.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!r.ok() || r->exit_code != 0) return 1;
  }
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    auto r = banger::UnixHttpCall(layout.Socket(), {"GET", "/v1/vms", "", {}}, std::chrono::seconds(10));
    api.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!r.ok() || r->status != 200) return 1;
  }
  pid_t daemon = 0;
  for (pid_t p : banger::RealProcessOps().FindByArg(home)) {
    auto a = banger::RealProcessOps().Cmdline(p);
    if (!a.empty() && a[0].find("bangerd") != std::string::npos) daemon = p;
  }
  std::printf("vms in store: %d, json bytes per list: %zu\n", vms, warm->out.size());
  Report("banger vm list --json (CLI round trip)", cli);
  Report("GET /v1/vms (API only)", api);
  std::printf("bangerd RSS: %ld KiB\n", daemon ? RssKiB(daemon) : -1L);
  (void)banger::RunCommand({BANGER_BIN, "--home", home, "daemon", "stop"});
  std::filesystem::remove_all(home);
  return 0;
}
