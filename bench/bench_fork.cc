// `vm fork` with a real guest (QEMU; TCG on hosts without usable KVM): builds
// the minimal image (with the agent), boots one source VM with a file written
// in /root, then, alternating in one run:
//  - `vm fork src --name a` (1 clone),
//  - `vm fork src --name b --count 10` (10 clones),
// each timed end to end: the call returns once every fork runs with its
// guest fixed up (new hostname and vm id). Every fork is then checked: it
// answers `vm exec -- cat /root/<file>` with the source's content and its
// hostname is its own (distinct from every other VM's). The host bytes of
// each fork are the blocks its VM directory holds (st_blocks * 512, as du
// counts them; not the apparent size: the disks are sparse or reflinked).
// The forks are deleted between rounds.
//
// Prints numbers; asserts no timing. Every step's exit code is checked and
// every wait has a deadline.
//
//   bench_fork [--runs N] [--accel tcg|kvm]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "bench_util.h"
#include "model/json.h"

namespace {

using namespace banger::bench;

using std::chrono::seconds;

constexpr double kMiB = 1024.0 * 1024.0;
const char* const kFile = "/root/bench-fork";
const char* const kContent = "forked-from-src";

// Bytes the VM directory `dir` holds on the host: allocated blocks of every
// regular file under it (du-style).
int64_t HostBytes(const std::string& dir) {
  int64_t bytes = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) bytes += banger::AllocatedBytes(it->path().string());
  }
  return bytes;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

struct Round {
  double call_ms = 0;
  std::vector<int64_t> host_bytes;  // per fork
};

// `vm fork src --name <name> [--count n]`, timed, then every fork checked.
// `hostnames` holds the names seen so far (the source's); the forks' join it.
bool ForkRound(const std::string& name, int count, std::set<std::string> hostnames, Round& out) {
  std::vector<std::string> args{"vm", "fork", "src", "--name", name, "--json"};
  if (count > 1) {
    args.insert(args.end() - 1, "--count");
    args.insert(args.end() - 1, std::to_string(count));
  }
  auto t0 = Clock::now();
  auto r = Banger(args, seconds(1200));
  out.call_ms = Ms(t0, Clock::now());
  if (!Must(r, "vm fork --count " + std::to_string(count))) return false;
  auto forks = banger::ParseJson(r.out);
  if (!forks.ok() || !forks->is_array() || forks->size() != static_cast<size_t>(count)) {
    std::fprintf(stderr, "bench: vm fork --json did not list %d forks: %s\n", count, r.out.c_str());
    return false;
  }
  for (const auto& f : *forks) {
    const std::string fork = f["name"];
    if (f["state"] != "running") {
      std::fprintf(stderr, "bench: fork %s is %s after the call\n", fork.c_str(), f["state"].dump().c_str());
      return false;
    }
    auto cat = Banger({"vm", "exec", fork, "--", "cat", kFile}, seconds(120));
    if (!Must(cat, "vm exec " + fork + " -- cat")) return false;
    if (Trimmed(cat.out) != kContent) {
      std::fprintf(stderr, "bench: fork %s has %s = \"%s\", not the source's\n", fork.c_str(), kFile,
                   cat.out.c_str());
      return false;
    }
    auto host = Banger({"vm", "exec", fork, "--", "hostname"}, seconds(120));
    if (!Must(host, "vm exec " + fork + " -- hostname")) return false;
    if (!hostnames.insert(Trimmed(host.out)).second) {
      std::fprintf(stderr, "bench: fork %s has hostname \"%s\", which another vm has\n", fork.c_str(),
                   Trimmed(host.out).c_str());
      return false;
    }
    out.host_bytes.push_back(HostBytes(f["runtime"]["vm_dir"]));
  }
  for (const auto& f : *forks) {
    if (!Must(Banger({"vm", "delete", f["name"]}, seconds(120)), "vm delete")) return false;
  }
  return true;
}

template <typename T>
double Mean(const std::vector<T>& v) {
  double sum = 0;
  for (T x : v) sum += static_cast<double>(x);
  return sum / static_cast<double>(v.size());
}

void Print(const char* what, const std::vector<Round>& rounds, int count) {
  std::vector<double> calls;
  std::vector<int64_t> bytes;
  for (const auto& r : rounds) {
    calls.push_back(r.call_ms);
    bytes.insert(bytes.end(), r.host_bytes.begin(), r.host_bytes.end());
  }
  std::sort(calls.begin(), calls.end());
  std::sort(bytes.begin(), bytes.end());
  std::printf("%-20s per call: min %6.0f ms  mean %6.0f ms  max %6.0f ms;  per clone: %5.0f ms (mean)\n",
              what, calls.front(), Mean(calls), calls.back(), Mean(calls) / count);
  std::printf("%-20s host bytes per fork: min %.2f MiB  mean %.2f MiB  max %.2f MiB  (%zu forks)\n", "",
              static_cast<double>(bytes.front()) / kMiB, Mean(bytes) / kMiB,
              static_cast<double>(bytes.back()) / kMiB, bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv, 2);
  const int runs = args.runs;
  const std::string& accel = args.accel;
  BenchHome home("bgfork", args.accel, 256, "work_disk_size = \"256M\"\nsystem_overlay_size = \"512M\"\n");
  if (!home.ok()) return 1;
  std::printf("qemu accel: %s, %d rounds (1 clone, then 10 clones, per round)\n", accel.c_str(), runs);
  if (!Must(Banger({"image", "build", "bench", "--profile", "minimal"}), "image build")) return 1;
  if (!Must(Banger({"vm", "create", "--name", "src"}), "vm create")) return 1;
  // The first exec waits for the agent (the guest boots).
  if (!Must(Banger({"vm", "exec", "src", "--", "sh", "-c",
                    std::string("echo ") + kContent + " > " + kFile + " && sync"},
                   seconds(300)),
            "writing the file in the source")) {
    return 1;
  }
  // Forks of a booted guest: the agent answers before the image's init has
  // run, whose sysinit mounts the last tmpfs (/tmp).
  auto booted_by = Clock::now() + seconds(60);
  while (Banger({"vm", "exec", "src", "--", "grep", "-q", " /tmp tmpfs", "/proc/mounts"}).exit_code != 0) {
    if (Clock::now() > booted_by) {
      std::fprintf(stderr, "bench: the source's init never mounted /tmp\n");
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  auto src_host = Banger({"vm", "exec", "src", "--", "hostname"});
  if (!Must(src_host, "vm exec src -- hostname")) return 1;
  const std::set<std::string> seen{Trimmed(src_host.out)};

  std::vector<Round> ones, tens;
  for (int i = 0; i < runs; ++i) {
    Round one, ten;
    if (!ForkRound("a" + std::to_string(i), 1, seen, one)) return 1;
    std::printf("round %d: fork x1 %.0f ms\n", i + 1, one.call_ms);
    if (!ForkRound("b" + std::to_string(i), 10, seen, ten)) return 1;
    std::printf("round %d: fork x10 %.0f ms (%.0f ms per clone)\n", i + 1, ten.call_ms, ten.call_ms / 10);
    std::fflush(stdout);
    ones.push_back(std::move(one));
    tens.push_back(std::move(ten));
  }
  Print("vm fork (1 clone)", ones, 1);
  Print("vm fork --count 10", tens, 10);
  return 0;
}
