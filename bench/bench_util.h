// What the benchmarks that drive the banger CLI share: the home they run in,
// running `banger --home HOME ...` with a deadline, checking an exit code,
// timing and percentiles. Header-only; benchmarks only.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "model/json.h"

namespace banger::bench {

using Clock = std::chrono::steady_clock;

// The benchmark's own home (set once by main, removed by its cleanup).
inline std::string g_home;

inline double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The banger binary the benchmark runs (a benchmark may take another one's path).
inline std::string g_banger = BANGER_BIN;

// `banger --home g_home ARGS...`.
inline std::vector<std::string> BangerArgv(const std::vector<std::string>& args) {
  std::vector<std::string> argv{g_banger, "--home", g_home};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// Runs it with a deadline; a failure to run is exit code -1 with the reason in `err`.
inline CommandResult Banger(const std::vector<std::string>& args,
                            std::chrono::seconds timeout = std::chrono::seconds(600)) {
  auto r = RunCommand(BangerArgv(args), timeout);
  if (!r.ok()) return {-1, 0, "", r.error().message()};
  return *r;
}

// True when `r` exited 0; else prints what failed and why.
inline bool Must(const CommandResult& r, const std::string& what) {
  if (r.exit_code == 0) return true;
  std::fprintf(stderr, "bench: %s failed (exit %d): %s\n", what.c_str(), r.exit_code, r.err.c_str());
  return false;
}

// The p-th percentile (0..100, nearest rank) of a non-empty sample.
inline double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1,
                    static_cast<size_t>(std::lround(p / 100.0 * static_cast<double>(v.size() - 1))))];
}

// --runs N (at least 1) and --accel tcg|kvm, the flags every guest benchmark takes.
struct Args {
  int runs;
  std::string accel = "tcg";
};
inline Args ParseArgs(int argc, char** argv, int default_runs) {
  Args a{default_runs};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--runs") a.runs = std::max(1, std::stoi(argv[i + 1]));
    if (flag == "--accel") a.accel = argv[i + 1];
  }
  return a;
}

// The benchmark's home /tmp/<prefix>-<pid> (g_home) with a QEMU config, 1 vCPU
// and `memory_mib` (`extra` appended: more keys of [vm_defaults]); at the end every VM in it
// is deleted, the daemon stopped and the directory removed.
class BenchHome {
 public:
  BenchHome(const std::string& prefix, const std::string& accel, int memory_mib = 256,
            const std::string& extra = "") {
    g_home = "/tmp/" + prefix + "-" + std::to_string(::getpid());
    std::filesystem::create_directories(g_home);
    config_ =
        WriteFileAtomic(g_home + "/config.toml", "backend = \"qemu\"\nqemu_accel = \"" + accel +
                                                     "\"\nnetwork = \"off\"\ndefault_image_name = \"bench\"\n"
                                                     "[vm_defaults]\nvcpu_count = 1\nmemory_mib = " +
                                                     std::to_string(memory_mib) + "\n" + extra);
    if (!config_.ok()) {
      std::fprintf(stderr, "bench: writing config.toml: %s\n", config_.error().message().c_str());
    }
  }
  ~BenchHome() {
    auto list = Banger({"vm", "list", "--json"}, std::chrono::seconds(60));
    if (auto vms = ParseJson(list.out); list.exit_code == 0 && vms.ok() && vms->is_array()) {
      for (const auto& v : *vms) (void)Banger({"vm", "delete", v["name"]}, std::chrono::seconds(120));
    }
    (void)Banger({"daemon", "stop"}, std::chrono::seconds(60));
    std::error_code ec;
    std::filesystem::remove_all(g_home, ec);
  }
  BenchHome(const BenchHome&) = delete;
  BenchHome& operator=(const BenchHome&) = delete;
  bool ok() const { return config_.ok(); }

 private:
  Status config_;
};

}  // namespace banger::bench
