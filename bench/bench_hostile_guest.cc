// Benchmark: API latency on a well-behaved VM, and bangerd's RSS, while
// another VM's guest agent floods the daemon, against the same figures
// quiet. Both VMs run under fake-qemu (tests/hostile/fake_qemu.cc): no guest
// boots, so the numbers are the daemon's own. Prints numbers; asserts nothing.
//
//   bench_hostile_guest [--runs N] [--mode exitflood|pingflood|garbage|noexit]
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "base/process.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string g_home;

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

int Banger(std::vector<std::string> args, std::chrono::seconds timeout = 60s) {
  std::vector<std::string> argv{BANGER_BIN, "--home", g_home};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = banger::RunCommand(argv, timeout);
  if (!r.ok()) return -1;
  if (r->exit_code != 0 && args[0] != "vm")
    std::fprintf(stderr, "banger %s: %s", args[0].c_str(), r->err.c_str());
  return r->exit_code;
}

pid_t DaemonPid() {
  for (pid_t p : banger::RealProcessOps().FindByArg(g_home)) {
    auto argv = banger::RealProcessOps().Cmdline(p);
    if (!argv.empty() && argv[0].find("bangerd") != std::string::npos) return p;
  }
  return 0;
}

void SetMode(const std::string& vm, const std::string& mode) {
  std::filesystem::create_directories(g_home + "/fake-agent");
  std::ofstream(g_home + "/fake-agent/" + vm, std::ios::trunc) << mode << "\n";
}

struct Figures {
  std::vector<double> show_ms, exec_ms;
  long rss_max_kib = 0;
};

Figures Measure(int runs) {
  Figures f;
  pid_t d = DaemonPid();
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    Banger({"vm", "show", "good"});
    f.show_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    t0 = Clock::now();
    if (Banger({"vm", "exec", "good", "--", "true"}) != 0) std::fprintf(stderr, "exec on good failed\n");
    f.exec_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    f.rss_max_kib = std::max(f.rss_max_kib, RssKiB(d));
  }
  return f;
}

void Report(const char* what, const std::vector<double>& ms) {
  std::printf("  %-12s n=%zu p50=%.1fms p99=%.1fms max=%.1fms\n", what, ms.size(), Percentile(ms, 50),
              Percentile(ms, 99), *std::max_element(ms.begin(), ms.end()));
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 50;
  std::string mode = "exitflood";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--runs") runs = std::stoi(argv[i + 1]);
    if (a == "--mode") mode = argv[i + 1];
  }
  g_home = "/tmp/bgh-" + std::to_string(::getpid());
  std::filesystem::create_directories(g_home + "/img");
  std::string cfg = std::string("backend = \"qemu\"\nqemu_bin = \"") + FAKE_QEMU_BIN +
                    "\"\nqemu_accel = \"tcg\"\nstop_timeout = \"2s\"\ndefault_image_name = \"base\"\n"
                    "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 128\nwork_disk_size = \"64M\"\n"
                    "system_overlay_size = \"64M\"\n";
  std::ofstream(g_home + "/config.toml") << cfg;
  std::string img = g_home + "/img";
  for (const char* f : {"vmlinuz", "initrd.img"}) std::ofstream(img + "/" + f) << "not a kernel\n";
  std::ofstream(img + "/rootfs.ext4") << "not a file system\n";
  std::filesystem::resize_file(img + "/rootfs.ext4", 1 << 20);
  bool ok = Banger({"image", "import", "base", "--kernel", img + "/vmlinuz", "--initrd", img + "/initrd.img",
                    "--rootfs", img + "/rootfs.ext4"}) == 0;
  SetMode("bad", "normal");
  ok =
      ok && Banger({"vm", "create", "--name", "good"}) == 0 && Banger({"vm", "create", "--name", "bad"}) == 0;
  ok = ok && Banger({"vm", "exec", "good", "--", "true"}) == 0;
  if (ok) {
    std::printf("bench_hostile_guest: %d runs each, hostile mode %s\n", runs, mode.c_str());
    Figures quiet = Measure(runs);
    SetMode("bad", mode);
    std::atomic<bool> done{false};
    std::thread hammer([&] {
      while (!done) Banger({"vm", "exec", "bad", "--", "true"});
    });
    std::this_thread::sleep_for(1s);
    Figures loud = Measure(runs);
    done = true;
    hammer.join();
    std::printf("quiet (rss max %ld KiB):\n", quiet.rss_max_kib);
    Report("vm show", quiet.show_ms);
    Report("exec true", quiet.exec_ms);
    std::printf("one guest %s (rss max %ld KiB):\n", mode.c_str(), loud.rss_max_kib);
    Report("vm show", loud.show_ms);
    Report("exec true", loud.exec_ms);
    std::printf("p99 ratio flood/quiet: vm show %.2f, exec true %.2f (target: within 2x)\n",
                Percentile(loud.show_ms, 99) / Percentile(quiet.show_ms, 99),
                Percentile(loud.exec_ms, 99) / Percentile(quiet.exec_ms, 99));
  } else {
    std::fprintf(stderr, "setup failed\n");
  }
  SetMode("bad", "normal");
  Banger({"vm", "stop", "good", "bad"});
  Banger({"daemon", "stop"});
  // Whatever fake-qemu is left (VMs outlive the daemon).
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string n = e.path().filename().string();
    if (n.empty() || !std::all_of(n.begin(), n.end(), ::isdigit)) continue;
    pid_t p = std::stoi(n);
    auto args = banger::RealProcessOps().Cmdline(p);
    if (args.empty() || args[0] != FAKE_QEMU_BIN) continue;
    for (const auto& a : args) {
      if (a.find(g_home + "/") != std::string::npos) {
        (void)banger::RealProcessOps().Signal(p, SIGKILL);
        break;
      }
    }
  }
  std::filesystem::remove_all(g_home);
  return ok ? 0 : 1;
}
