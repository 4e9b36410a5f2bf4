// Benchmarks with real guests (QEMU; TCG on hosts without usable KVM):
// image build time, host bytes allocated per new VM, start latency split into
// banger's own work and the guest's boot, `vm exec -- true` round trips,
// stdout/stdin throughput through the agent, and `vm run --rm -- true`.
// Prints numbers; asserts nothing.
//
//   bench_guest [--runs N] [--accel tcg|kvm]
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

namespace {

using Clock = std::chrono::steady_clock;
std::string g_home;

double Ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

banger::CommandResult Banger(std::vector<std::string> args, std::chrono::seconds timeout = std::chrono::seconds(600)) {
  std::vector<std::string> argv{BANGER_BIN, "--home", g_home};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = banger::RunCommand(argv, timeout);
  if (!r.ok()) return {-1, 0, "", r.error().message()};
  return *r;
}

bool Must(const banger::CommandResult& r, const char* what) {
  if (r.exit_code == 0) return true;
  std::fprintf(stderr, "bench: %s failed: %s\n", what, r.err.c_str());
  return false;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(std::lround(p / 100.0 * static_cast<double>(v.size() - 1))))];
}

// Milliseconds until `vm exec -- true` first succeeds (the agent answers).
double UntilAgent(const std::string& vm, Clock::time_point since) {
  for (;;) {
    if (Banger({"vm", "exec", vm, "--timeout", "300", "--", "true"}).exit_code == 0) return Ms(since, Clock::now());
  }
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 100;
  std::string accel = "tcg";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--runs") runs = std::stoi(argv[i + 1]);
    if (a == "--accel") accel = argv[i + 1];
  }
  g_home = "/tmp/bgbench-" + std::to_string(::getpid());
  std::filesystem::create_directories(g_home);
  (void)banger::WriteFileAtomic(g_home + "/config.toml",
                                "backend = \"qemu\"\nqemu_accel = \"" + accel +
                                    "\"\ndefault_image_name = \"bench\"\n[vm_defaults]\nvcpu_count = 1\n"
                                    "memory_mib = 512\n");
  std::printf("qemu accel: %s\n", accel.c_str());

  auto t0 = Clock::now();
  if (!Must(Banger({"image", "build", "bench", "--profile", "minimal"}), "image build")) return 1;
  std::printf("image build --profile minimal: %.1f s\n", Ms(t0, Clock::now()) / 1000);

  if (!Must(Banger({"vm", "create", "--name", "b1", "--no-start"}), "vm create")) return 1;
  auto vm = banger::ParseJson(Banger({"vm", "show", "b1", "--json"}).out);
  std::string dir = (*vm)["runtime"]["vm_dir"];
  int64_t allocated = 0, apparent = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    allocated += banger::AllocatedBytes(e.path().string());
    apparent += static_cast<int64_t>(e.file_size());
  }
  std::printf("new vm on the host: %.2f MiB allocated (%.1f GiB apparent)\n", allocated / 1048576.0,
              apparent / 1073741824.0);

  auto s0 = Clock::now();
  if (!Must(Banger({"vm", "start", "b1"}), "vm start")) return 1;
  double start_ms = Ms(s0, Clock::now());
  double agent_ms = UntilAgent("b1", s0);
  std::printf("vm start returns (banger + VMM launch): %.0f ms; guest agent answers after %.0f ms (boot %.0f ms)\n",
              start_ms, agent_ms, agent_ms - start_ms);

  std::vector<double> rt;
  for (int i = 0; i < runs; ++i) {
    auto a = Clock::now();
    if (!Must(Banger({"vm", "exec", "b1", "--", "true"}), "vm exec")) return 1;
    rt.push_back(Ms(a, Clock::now()));
  }
  std::printf("vm exec -- true: n=%d p50=%.1f ms p99=%.1f ms\n", runs, Percentile(rt, 50), Percentile(rt, 99));

  auto o0 = Clock::now();
  auto out = Banger({"vm", "exec", "b1", "--", "dd", "if=/dev/zero", "bs=1048576", "count=256"});
  double out_s = Ms(o0, Clock::now()) / 1000;
  std::printf("stdout throughput: %.0f MiB/s (%zu bytes)\n", out.out.size() / 1048576.0 / out_s, out.out.size());

  std::string blob = g_home + "/blob";
  (void)banger::RunCommand({"dd", "if=/dev/zero", "of=" + blob, "bs=1M", "count=256", "status=none"});
  auto i0 = Clock::now();
  auto in = banger::RunCommand(
      {"sh", "-c", std::string(BANGER_BIN) + " --home " + g_home + " vm exec b1 -i -- wc -c < " + blob},
      std::chrono::minutes(5));
  double in_s = Ms(i0, Clock::now()) / 1000;
  if (in.ok()) std::printf("stdin throughput: %.0f MiB/s (%s bytes)\n", 256 / in_s, in->out.substr(0, in->out.size() - 1).c_str());

  // workspace prepare: a repository of 2000 small files (~8 MiB) plus one
  // commit, shallow (default) and with full history.
  std::string repo = g_home + "/repo";
  std::filesystem::create_directories(repo + "/src");
  for (int i = 0; i < 2000; ++i) {
    (void)banger::WriteFileAtomic(repo + "/src/f" + std::to_string(i) + ".txt", std::string(4096, 'a' + i % 26));
  }
  auto git = [&](std::vector<std::string> a) {
    a.insert(a.begin(), {"git", "-C", repo, "-c", "user.name=b", "-c", "user.email=b@example.com"});
    return banger::RunCommand(a, std::chrono::minutes(5));
  };
  (void)git({"init", "-q"});
  (void)git({"add", "-A"});
  (void)git({"commit", "-q", "-m", "bench"});
  for (const char* mode : {"shallow_overlay", "full_copy"}) {
    auto w0 = Clock::now();
    if (!Must(Banger({"workspace", "prepare", "b1", repo, "--mode", mode}), "workspace prepare")) return 1;
    double ms = Ms(w0, Clock::now());
    std::printf("workspace prepare (%s, 2000 files, 7.8 MiB of content): %.0f ms, %.1f MiB/s\n", mode, ms,
                7.8 / (ms / 1000));
  }

  auto r0 = Clock::now();
  if (!Must(Banger({"vm", "run", "--rm", "--", "true"}), "vm run")) return 1;
  std::printf("vm run --rm -- true: %.0f ms total (create+start+boot+exec+delete)\n", Ms(r0, Clock::now()));

  (void)Banger({"vm", "delete", "b1"});
  (void)Banger({"daemon", "stop"});
  std::filesystem::remove_all(g_home);
  return 0;
}
