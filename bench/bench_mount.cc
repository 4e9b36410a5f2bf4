// Host folders (`vm create --mount`, virtio-9p) against `banger vm cp`, with
// a real guest (QEMU; TCG on hosts without usable KVM): builds the minimal
// image with Debian's generic kernel (it has 9p), writes a tree of N files
// of 1 MiB on the host (default 1024: 1 GiB), boots one VM with the tree
// mounted read-only and times, in the guest, `cat` of every file into
// `wc -c` (the bytes are checked), minus an empty `vm exec` (the exec's own
// cost). Then it copies the tree into the guest's disk and times `vm cp
// VM:DIR HOSTDIR` (guest -> host) and `vm cp HOSTDIR VM:DIR` (host -> guest)
// of the same tree.
//
// With --boots N it also builds the image with the cloud kernel and times N
// cold `vm run --rm -- true` (boot to a working agent) with each kernel,
// alternated: the cost of the generic kernel's boot.
//
// Prints numbers; asserts no timing. Every step's exit code is checked and
// every wait has a deadline.
//
//   bench_mount [--files N] [--boots N] [--accel tcg|kvm]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "bench_util.h"
#include "model/json.h"

namespace {

using namespace banger::bench;
using std::chrono::seconds;

constexpr int64_t kFileBytes = 1 << 20;

struct Flags {
  int files = 1024;
  int boots = 0;
  std::string accel = "tcg";
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--files") f.files = std::max(1, std::stoi(argv[i + 1]));
    if (flag == "--boots") f.boots = std::max(0, std::stoi(argv[i + 1]));
    if (flag == "--accel") f.accel = argv[i + 1];
  }
  return f;
}

// N files of 1 MiB of non-zero bytes under `dir` (readable by everyone:
// the VMM user serves them).
bool WriteTree(const std::string& dir, int files) {
  std::filesystem::create_directories(dir);
  std::string block(static_cast<size_t>(kFileBytes), '\0');
  for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('a' + i % 26);
  for (int i = 0; i < files; ++i) {
    auto st = banger::WriteFileAtomic(dir + "/f" + std::to_string(i), block, 0644);
    if (!st.ok()) {
      std::fprintf(stderr, "bench: writing the tree: %s\n", st.error().message().c_str());
      return false;
    }
  }
  std::filesystem::permissions(dir, std::filesystem::perms(0755));
  return true;
}

// `vm exec VM -- sh -c SCRIPT`: its time in ms, or negative (reported); its output in `out`.
double TimedExec(const std::string& vm, const std::string& script, std::string* out = nullptr) {
  auto t0 = Clock::now();
  auto r = Banger({"vm", "exec", vm, "--", "sh", "-c", script}, seconds(3600));
  double ms = Ms(t0, Clock::now());
  if (!Must(r, "vm exec " + script)) return -1;
  if (out) *out = r.out;
  return ms;
}

double MiBps(int64_t bytes, double ms) { return static_cast<double>(bytes) / kFileBytes / (ms / 1000.0); }

void BootCompare(int boots) {
  if (!Must(Banger({"image", "build", "cloud", "--profile", "minimal", "--kernel-flavour", "cloud"},
                   seconds(900)),
            "image build (cloud)")) {
    return;
  }
  std::vector<double> cloud, generic;
  for (int i = 0; i < boots; ++i) {
    for (const char* image : {"cloud", "bench"}) {
      auto t0 = Clock::now();
      auto r = Banger({"vm", "run", "--rm", "--cold", "--image", image, "--", "true"}, seconds(600));
      double ms = Ms(t0, Clock::now());
      if (!Must(r, std::string("vm run --image ") + image)) return;
      (std::string(image) == "cloud" ? cloud : generic).push_back(ms);
    }
  }
  auto line = [](const char* what, const std::vector<double>& v) {
    std::printf("%-34s p50 %8.1f ms  min %8.1f ms  max %8.1f ms  (n=%zu)\n", what, Percentile(v, 50),
                Percentile(v, 0), Percentile(v, 100), v.size());
  };
  line("boot to agent, cloud kernel", cloud);
  line("boot to agent, generic kernel", generic);
  std::printf("generic / cloud (p50)              %.2f\n", Percentile(generic, 50) / Percentile(cloud, 50));
}

}  // namespace

int main(int argc, char** argv) {
  Flags f = ParseFlags(argc, argv);
  BenchHome home("bgmount", f.accel, 512,
                 "work_disk_size = \"" + std::to_string(2 * f.files / 1024 + 1) + "G\"\n");
  if (!home.ok()) return 1;
  const std::string tree = g_home + "/tree";
  const int64_t bytes = int64_t{f.files} * kFileBytes;
  std::printf("tree: %d files of 1 MiB (%.1f MiB), accel %s\n", f.files, bytes / 1048576.0, f.accel.c_str());
  if (!Must(Banger({"image", "build", "bench", "--profile", "minimal", "--kernel-flavour", "generic"},
                   seconds(900)),
            "image build (generic)")) {
    return 1;
  }
  if (f.boots > 0) BootCompare(f.boots);
  if (!WriteTree(tree, f.files)) return 1;
  if (!Must(Banger({"vm", "create", "--name", "m", "--mount", tree + ":/mnt/tree:ro"}, seconds(600)),
            "vm create --mount")) {
    return 1;
  }
  // The first exec waits for the boot; the second is the exec's own cost.
  if (TimedExec("m", "true") < 0) return 1;
  double base = TimedExec("m", "true");
  if (base < 0) return 1;
  const std::string read_all = "cat /mnt/tree/* | wc -c";
  for (int pass = 1; pass <= 2; ++pass) {
    std::string out;
    double ms = TimedExec("m", read_all, &out);
    if (ms < 0) return 1;
    if (std::stoll(out) != bytes) {
      std::fprintf(stderr, "bench: the guest read %s bytes, not %lld\n", out.c_str(),
                   static_cast<long long>(bytes));
      return 1;
    }
    std::printf(
        "9p read (cat | wc -c), pass %d        %8.1f ms  %8.1f MiB/s  (exec overhead %.1f ms subtracted)\n",
        pass, ms - base, MiBps(bytes, ms - base), base);
  }

  // The same tree on the guest's own disk, then out to the host and back in.
  if (TimedExec("m", "mkdir -p /root/tree && cp /mnt/tree/* /root/tree/ && sync") < 0) return 1;
  const std::string out_dir = g_home + "/out";
  auto t0 = Clock::now();
  if (!Must(Banger({"vm", "cp", "m:/root/tree", out_dir}, seconds(3600)), "vm cp m:/root/tree " + out_dir))
    return 1;
  double out_ms = Ms(t0, Clock::now());
  std::printf("vm cp guest -> host                 %8.1f ms  %8.1f MiB/s\n", out_ms, MiBps(bytes, out_ms));
  t0 = Clock::now();
  if (!Must(Banger({"vm", "cp", tree, "m:/root/tree-in"}, seconds(3600)),
            "vm cp " + tree + " m:/root/tree-in")) {
    return 1;
  }
  double in_ms = Ms(t0, Clock::now());
  std::printf("vm cp host -> guest                 %8.1f ms  %8.1f MiB/s\n", in_ms, MiBps(bytes, in_ms));
  return 0;
}
