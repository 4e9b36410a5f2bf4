// OCI images: `image pull` of a 3-layer image (3 x 8 MiB of incompressible
// data over busybox) from a local docker-registry on 127.0.0.1, cold (empty
// layer cache) and warm (the same layers already cached, pulled as a second
// image), with the host bytes each adds (layer cache <home>/oci and the
// image's own files); then the time from the pull's end to the first output
// of `vm run --rm --image IMG -- echo` (QEMU; TCG on hosts without usable
// KVM). The kernel package cache is warmed first by a tiny image, so the
// pulls time the OCI path, not the Debian mirror.
//
// Prints numbers; asserts no timing. Needs root, skopeo, umoci,
// docker-registry.
//
//   bench_oci [--runs N] [--accel tcg|kvm]
#include <cstdio>
#include <string>
#include <vector>

#include "../tests/e2e/oci_fixture.h"
#include "bench_util.h"

namespace {

using namespace banger::bench;
using banger::Status;

double MiB(int64_t b) { return static_cast<double>(b) / (1024.0 * 1024.0); }

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv, 3);
  BenchHome home("bgoci", args.accel, 256);
  if (!home.ok()) return 1;
  const std::string work = g_home + ".work";
  std::filesystem::create_directories(work);
  banger::oci_test::LocalRegistry registry;
  if (auto st = registry.Start(work + "/registry"); !st.ok()) {
    std::fprintf(stderr, "bench: %s\n", st.error().message().c_str());
    return 1;
  }
  // The image: busybox + 8 MiB, + 8 MiB, + 8 MiB (random: gzip cannot shrink it).
  banger::oci_test::OciImageMaker maker(work + "/img");
  auto layer = [&](const std::string& from, const std::string& to, int n) {
    return maker.AddLayer(from, to, [n](const std::string& root) -> Status {
      if (n == 1) BANGER_RETURN_IF_ERROR(banger::oci_test::StageBusybox(root));
      BANGER_ASSIGN_OR_RETURN(auto r, banger::RunChecked({"head", "-c", "8388608", "/dev/urandom"}));
      return banger::WriteFileAtomic(root + "/blob" + std::to_string(n), r.out, 0644);
    });
  };
  bool made = maker.Init("base").ok() && layer("base", "b", 1).ok() && layer("b", "b", 2).ok() &&
              layer("b", "b", 3).ok() && maker.Push("b", registry.host() + "/bench:3").ok();
  banger::oci_test::OciImageMaker tiny(work + "/tiny");
  made =
      made && tiny.Init("base").ok() &&
      tiny.AddLayer("base", "t", [](const std::string& root) { return banger::oci_test::StageBusybox(root); })
          .ok() &&
      tiny.Untag("base").ok();  // --from-oci of a layout takes its one image
  if (!made) {
    std::fprintf(stderr, "bench: making the images failed\n");
    return 1;
  }
  if (!Must(Banger({"image", "build", "warmup", "--from-oci", tiny.layout()}), "warm-up build")) return 1;
  if (!Must(Banger({"image", "delete", "warmup"}), "delete warmup")) return 1;
  if (!Must(Banger({"image", "prune"}), "prune")) return 1;

  const std::string ref = registry.host() + "/bench:3";
  std::vector<double> cold, warm, first_output;
  bool runs_ok = true;
  for (int i = 0; i < args.runs; ++i) {
    const std::string a = "c" + std::to_string(i), b = "w" + std::to_string(i);
    const int64_t cache0 = banger::TreeAllocatedBytes(g_home + "/oci");
    auto t0 = Clock::now();
    if (!Must(Banger({"image", "pull", ref, "--name", a}), "cold pull")) return 1;
    cold.push_back(Ms(t0, Clock::now()));
    const int64_t cache1 = banger::TreeAllocatedBytes(g_home + "/oci");
    auto t1 = Clock::now();
    if (!Must(Banger({"image", "pull", ref, "--name", b}), "warm pull")) return 1;
    warm.push_back(Ms(t1, Clock::now()));
    const int64_t cache2 = banger::TreeAllocatedBytes(g_home + "/oci");
    auto show = Banger({"image", "show", a, "--json"});
    auto img = banger::ParseJson(show.out);
    const int64_t own = img.ok() ? img->value("size_bytes", int64_t{0}) : 0;
    std::printf(
        "run %d: pull cold %.0f ms (layer cache +%.1f MiB), warm %.0f ms (+%.2f MiB); image's own files %.1f "
        "MiB\n",
        i, cold.back(), MiB(cache1 - cache0), warm.back(), MiB(cache2 - cache1), MiB(own));
    // From a finished pull to the first output of a VM of the image.
    auto t2 = Clock::now();
    auto run = Banger({"vm", "run", "--rm", "--image", b, "--", "echo", "first"});
    if (run.exit_code == 0 && run.out == "first\n") {
      first_output.push_back(Ms(t2, Clock::now()));
    } else {
      runs_ok = false;
      std::printf("run %d: vm run failed (exit %d): %s", i, run.exit_code, run.err.c_str());
    }
    if (!Must(Banger({"image", "delete", a}), "delete") || !Must(Banger({"image", "delete", b}), "delete"))
      return 1;
  }
  auto print = [](const char* what, const std::vector<double>& ms) {
    if (ms.empty()) return;
    std::printf("%-44s p50 %8.1f ms  min %8.1f ms  max %8.1f ms  (n=%zu)\n", what, Percentile(ms, 50),
                Percentile(ms, 0), Percentile(ms, 100), ms.size());
  };
  std::printf("qemu accel: %s; image: 3 layers, 24 MiB compressed\n", args.accel.c_str());
  print("image pull, cold layer cache", cold);
  print("image pull, warm layer cache (same layers)", warm);
  print("pull done -> first `vm run --rm` output", first_output);
  std::error_code ec;
  std::filesystem::remove_all(work, ec);
  return runs_ok ? 0 : 1;
}
