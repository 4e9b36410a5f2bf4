// Benchmark: GET /metrics latency (p50/p99) over the API socket with N VMs
// in the store (inserted directly, as `vm create --no-start` leaves them: no
// boots), after a round of API requests so the request series exist too.
// Prints numbers; asserts nothing.
//
//   bench_metrics [--vms N] [--runs N]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
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

void Report(const char* what, const std::vector<double>& ms) {
  std::printf("%-34s n=%zu p50=%.2fms p90=%.2fms p99=%.2fms max=%.2fms\n", what, ms.size(),
              Percentile(ms, 50), Percentile(ms, 90), Percentile(ms, 99),
              *std::max_element(ms.begin(), ms.end()));
}

std::vector<double> Time(const std::string& sock, const std::string& target, int runs, size_t* bytes) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    auto r = banger::UnixHttpCall(sock, {"GET", target, "", {}}, std::chrono::seconds(10));
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!r.ok() || r->status != 200) {
      std::fprintf(stderr, "bench: GET %s failed\n", target.c_str());
      std::exit(1);
    }
    if (bytes) *bytes = r->body.size();
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  int vms = 200, runs = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--vms") vms = std::stoi(argv[i + 1]);
    if (a == "--runs") runs = std::stoi(argv[i + 1]);
  }
  std::string home = "/tmp/bgm-" + std::to_string(::getpid());
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
      vm.state = vm.runtime.state = i % 2 ? banger::VmState::kStopped : banger::VmState::kCreated;
      vm.created_at = vm.updated_at = vm.last_touched_at = banger::Now();
      vm.runtime.vm_dir = layout.VmDir(vm.id);
      if (auto st = (*store)->InsertVm(vm); !st.ok()) {
        std::fprintf(stderr, "bench: %s\n", st.error().message().c_str());
        return 1;
      }
    }
  }
  auto warm = banger::RunCommand({BANGER_BIN, "--home", home, "vm", "list"});  // starts the daemon
  if (!warm.ok() || warm->exit_code != 0) {
    std::fprintf(stderr, "bench: banger failed: %s\n",
                 warm.ok() ? warm->err.c_str() : warm.error().message().c_str());
    return 1;
  }
  // Some request series: every VM shown once, a few lists, and bogus paths.
  for (int i = 0; i < vms; ++i) {
    (void)banger::UnixHttpCall(layout.Socket(), {"GET", "/v1/vms/bench-" + std::to_string(i), "", {}},
                               std::chrono::seconds(10));
    (void)banger::UnixHttpCall(layout.Socket(), {"GET", "/v1/nothing/" + std::to_string(i), "", {}},
                               std::chrono::seconds(10));
  }
  size_t bytes = 0;
  (void)Time(layout.Socket(), "/metrics", 5, nullptr);  // warm-up
  auto metrics = Time(layout.Socket(), "/metrics", runs, &bytes);
  auto ping = Time(layout.Socket(), "/v1/ping", runs, nullptr);
  std::printf("vms in store: %d, /metrics body: %zu bytes\n", vms, bytes);
  Report("GET /metrics", metrics);
  Report("GET /v1/ping (for scale)", ping);
  (void)banger::RunCommand({BANGER_BIN, "--home", home, "daemon", "stop"});
  std::filesystem::remove_all(home);
  return 0;
}
