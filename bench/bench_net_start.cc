// Benchmark: `vm start` latency with a warm tap pool versus tap_pool_size 0,
// with networking on, inside a network namespace this program creates (it
// re-executes itself under `unshare --net`, as root). Prints numbers.
//
//   bench_net_start [--runs 5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/process.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string Config(const std::string& network, int pool) {
  return "backend = \"qemu\"\nqemu_accel = \"tcg\"\ndefault_image_name = \"b\"\nnetwork = \"" + network +
         "\"\ntap_pool_size = " + std::to_string(pool) +
         "\n[vm_defaults]\nvcpu_count = 1\nmemory_mib = 256\n";
}

int Banger(const std::string& home, std::vector<std::string> args) {
  std::vector<std::string> argv{BANGER_BIN, "--home", home};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = banger::RunCommand(argv, std::chrono::minutes(10));
  return r.ok() ? r->exit_code : -1;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 2 && std::string(argv[1]) == "--runs" ? std::atoi(argv[2]) : 5;
  const char* prepared = std::getenv("BANGER_BENCH_NETNS_HOME");
  if (!prepared) {
    std::string home = "/tmp/bgnb-" + std::to_string(::getpid());
    std::filesystem::create_directories(home);
    (void)banger::WriteFileAtomic(home + "/config.toml", Config("off", 0));
    if (Banger(home, {"image", "build", "b"}) != 0) return 1;  // needs the package registry: host namespace
    Banger(home, {"daemon", "stop"});
    ::setenv("BANGER_BENCH_NETNS_HOME", home.c_str(), 1);
    std::vector<char*> args = {const_cast<char*>("unshare"), const_cast<char*>("--net"),
                               const_cast<char*>("--")};
    for (int i = 0; i < argc; ++i) args.push_back(argv[i]);
    args.push_back(nullptr);
    ::execvp("unshare", args.data());
    std::perror("unshare");
    return 1;
  }
  std::string home = prepared;
  for (int pool : {4, 0}) {
    (void)banger::WriteFileAtomic(home + "/config.toml", Config("on", pool));
    Banger(home, {"daemon", "stop"});
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
      std::string name = "p" + std::to_string(pool) + "-" + std::to_string(i);
      if (Banger(home, {"vm", "create", "--name", name, "--no-start"}) != 0) return 1;
      auto t0 = Clock::now();
      if (Banger(home, {"vm", "start", name}) != 0) return 1;
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      Banger(home, {"vm", "delete", name});
    }
    std::printf("vm start with tap_pool_size=%d: median %.0f ms (n=%d)\n", pool, Median(ms), runs);
  }
  Banger(home, {"daemon", "stop"});
  std::filesystem::remove_all(home);
  return 0;
}
