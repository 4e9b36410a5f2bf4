// Benchmark: wall time of the process `banger vm list --json` with N VMs
// (created with --no-start against a real daemon: nothing boots) against
// `curl --unix-socket SOCK http://x/v1/vms`, the same endpoint over the same
// socket, alternated in one run; the same GET in-process (the daemon's
// share); and the daemon's memory. Prints numbers; asserts nothing.
//
//   bench_vm_list [--vms 200] [--runs 100] [--guest-dir DIR] [--banger PATH]
//
// DIR holds vmlinux and rootfs.ext4 for the one image the VMs use (default
// $BANGER_TEST_GUEST_DIR, else build/test-guest). --banger runs another
// build's CLI (and the bangerd beside it), to compare before and after.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "http/http.h"
#include "model/json.h"

namespace {

using banger::bench::Banger;
using banger::bench::Clock;
using banger::bench::g_home;
using banger::bench::Ms;
using banger::bench::Must;
using banger::bench::Percentile;

// VmRSS and VmHWM of pid, in KiB (-1 when unknown).
std::pair<long, long> MemoryKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  long rss = -1, hwm = -1;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss = std::stol(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) hwm = std::stol(line.substr(6));
  }
  return {rss, hwm};
}

void Report(const char* what, const std::vector<double>& ms) {
  std::printf("%-40s n=%zu p50=%.2fms p90=%.2fms p99=%.2fms max=%.2fms\n", what, ms.size(),
              Percentile(ms, 50), Percentile(ms, 90), Percentile(ms, 99),
              *std::max_element(ms.begin(), ms.end()));
}

// Wall time of one process run to completion (output captured the same way
// for both), or a negative value when it failed.
double TimeRun(const std::vector<std::string>& argv, size_t* out_bytes) {
  auto t0 = Clock::now();
  auto r = banger::RunCommand(argv, std::chrono::seconds(30));
  double ms = Ms(t0, Clock::now());
  if (!r.ok() || r->exit_code != 0) {
    std::fprintf(stderr, "bench: %s failed: %s\n", argv[0].c_str(),
                 r.ok() ? r->err.c_str() : r.error().message().c_str());
    return -1;
  }
  *out_bytes = r->out.size();
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  int vms = 200, runs = 100;
  const char* env_dir = std::getenv("BANGER_TEST_GUEST_DIR");
  std::string guest_dir = env_dir ? env_dir : "build/test-guest";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--vms") vms = std::max(1, std::stoi(argv[i + 1]));
    if (a == "--runs") runs = std::max(1, std::stoi(argv[i + 1]));
    if (a == "--guest-dir") guest_dir = argv[i + 1];
    if (a == "--banger") banger::bench::g_banger = argv[i + 1];
  }
  banger::bench::BenchHome home("bgb-list", "tcg");
  if (!home.ok()) return 1;
  if (!Must(Banger({"image", "import", "bench", "--kernel", guest_dir + "/vmlinux", "--rootfs",
                    guest_dir + "/rootfs.ext4"}),
            "image import (see --guest-dir)")) {
    return 1;
  }
  std::string sock = g_home + "/bangerd.sock";
  auto t0 = Clock::now();
  for (int i = 0; i < vms; ++i) {
    banger::HttpRequest req;
    req.method = "POST";
    req.target = "/v1/vms";
    req.body = banger::Json{{"name", "bench-" + std::to_string(i)},
                            {"no_start", true},
                            {"labels", banger::Json{{"bench", "yes"}}}}
                   .dump();
    auto r = banger::UnixHttpCall(sock, req, std::chrono::seconds(60));
    if (!r.ok() || r->status != 201) {
      std::fprintf(stderr, "bench: creating VM %d: %s\n", i,
                   r.ok() ? r->body.c_str() : r.error().message().c_str());
      return 1;
    }
  }
  std::printf("created %d VMs (--no-start) in %.0f ms\n", vms, Ms(t0, Clock::now()));

  std::vector<std::string> cli = banger::bench::BangerArgv({"vm", "list", "--json"});
  std::vector<std::string> curl = {"curl", "-sS", "--fail", "--unix-socket", sock, "http://x/v1/vms"};
  size_t cli_bytes = 0, curl_bytes = 0;
  // Warm both (page cache, the daemon's first list).
  if (TimeRun(cli, &cli_bytes) < 0 || TimeRun(curl, &curl_bytes) < 0) return 1;
  std::vector<double> cli_ms, curl_ms, api_ms;
  for (int i = 0; i < runs; ++i) {
    // Alternated, the order flipped every round, so load from elsewhere hits both alike.
    for (int k = 0; k < 2; ++k) {
      bool cli_turn = (k == 0) == (i % 2 == 0);
      double ms = cli_turn ? TimeRun(cli, &cli_bytes) : TimeRun(curl, &curl_bytes);
      if (ms < 0) return 1;
      (cli_turn ? cli_ms : curl_ms).push_back(ms);
    }
    auto a0 = Clock::now();
    auto r = banger::UnixHttpCall(sock, {"GET", "/v1/vms", "", {}}, std::chrono::seconds(10));
    if (!r.ok() || r->status != 200) return 1;
    api_ms.push_back(Ms(a0, Clock::now()));
  }
  pid_t daemon = 0;
  for (pid_t p : banger::RealProcessOps().FindByArg(g_home)) {
    auto a = banger::RealProcessOps().Cmdline(p);
    if (!a.empty() && a[0].find("bangerd") != std::string::npos) daemon = p;
  }
  std::printf("vms: %d; bytes per answer: CLI %zu, curl %zu\n", vms, cli_bytes, curl_bytes);
  Report("banger vm list --json (process)", cli_ms);
  Report("curl --unix-socket GET /v1/vms (process)", curl_ms);
  Report("GET /v1/vms in-process (daemon share)", api_ms);
  std::printf("CLI/curl ratio: p50 %.2fx, p90 %.2fx, p99 %.2fx (goal <= 1.1x)\n",
              Percentile(cli_ms, 50) / Percentile(curl_ms, 50),
              Percentile(cli_ms, 90) / Percentile(curl_ms, 90),
              Percentile(cli_ms, 99) / Percentile(curl_ms, 99));
  auto [rss, hwm] = daemon ? MemoryKiB(daemon) : std::pair<long, long>{-1, -1};
  std::printf("bangerd with %d VMs: VmRSS %ld KiB, VmHWM %ld KiB\n", vms, rss, hwm);
  return 0;
}
