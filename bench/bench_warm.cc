// Warm start against a cold boot with a real guest (QEMU; TCG on hosts
// without usable KVM): builds the minimal image, makes its template snapshot
// (`image template create`, timed, with its bytes on disk), then alternates
// in one run `banger vm run --rm -- hostname` continuing the template and
// the same with `--cold`, N times each, and prints p50/p90 of both and the
// warm/cold ratio of the medians and of each pair. Each run's output must be
// the VM's own name (a warm VM that kept the template's hostname fails the
// run), and the template's use count must grow by exactly the warm runs.
//
// Prints numbers; asserts no timing. Every step's exit code is checked and
// every wait has a deadline.
//
//   bench_warm [--runs N] [--accel tcg|kvm]
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
#include "bench_util.h"
#include "model/json.h"

namespace {

using namespace banger::bench;

using std::chrono::seconds;

void Print(const char* what, const std::vector<double>& ms) {
  std::printf("%-40s p50 %8.1f ms  p90 %8.1f ms  min %8.1f ms  (n=%zu)\n", what, Percentile(ms, 50),
              Percentile(ms, 90), Percentile(ms, 0), ms.size());
}

// The template list as JSON (an empty array on failure, reported).
banger::Json Templates() {
  auto r = Banger({"image", "template", "list", "--json"}, seconds(60));
  auto j = banger::ParseJson(r.out);
  if (r.exit_code != 0 || !j.ok() || !j->is_array()) {
    std::fprintf(stderr, "bench: image template list: %s\n", r.err.c_str());
    return banger::Json::array();
  }
  return *j;
}

// One `vm run --rm NAME -- hostname`; its time, or a negative value (reported).
double Run(const std::string& name, bool cold) {
  std::vector<std::string> args{"vm", "run", "--rm", "--name", name};
  if (cold) args.push_back("--cold");
  args.insert(args.end(), {"--", "hostname"});
  auto t0 = Clock::now();
  auto r = Banger(args, seconds(300));
  double ms = Ms(t0, Clock::now());
  if (!Must(r, std::string("vm run ") + (cold ? "--cold " : "") + name)) return -1;
  if (r.out != name + "\n") {
    std::fprintf(stderr, "bench: vm %s printed hostname \"%s\"\n", name.c_str(), r.out.c_str());
    return -1;
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv, 10);
  const int runs = args.runs;
  const std::string& accel = args.accel;
  BenchHome home("bgwarm", args.accel);
  if (!home.ok()) return 1;
  std::printf("qemu accel: %s, %d runs of each\n", accel.c_str(), runs);
  if (!Must(Banger({"image", "build", "bench", "--profile", "minimal"}), "image build")) return 1;
  auto t0 = Clock::now();
  if (!Must(Banger({"image", "template", "create", "bench"}), "image template create")) return 1;
  const double make_ms = Ms(t0, Clock::now());
  banger::Json list = Templates();
  if (list.size() != 1) return 1;
  std::printf("image template create: %.0f ms, %.1f MiB on disk\n", make_ms,
              static_cast<double>(list[0].value("bytes_on_disk", int64_t{0})) / (1024.0 * 1024.0));

  std::vector<double> warm, cold, ratio;
  for (int i = 0; i < runs; ++i) {
    double w = Run("w" + std::to_string(i), false);
    double c = Run("c" + std::to_string(i), true);
    if (w < 0 || c < 0) return 1;
    warm.push_back(w);
    cold.push_back(c);
    ratio.push_back(w / c);
  }
  list = Templates();
  if (list.size() != 1 || list[0].value("uses", int64_t{0}) != runs) {
    std::fprintf(stderr, "bench: the template served %lld runs, not %d\n",
                 static_cast<long long>(list.empty() ? 0 : list[0].value("uses", int64_t{0})), runs);
    return 1;
  }
  Print("vm run --rm -- hostname, warm", warm);
  Print("vm run --rm -- hostname, cold (--cold)", cold);
  std::printf("warm/cold: %.2fx of the medians; per pair p50 %.2fx, max %.2fx\n",
              Percentile(warm, 50) / Percentile(cold, 50), Percentile(ratio, 50), Percentile(ratio, 100));
  return 0;
}
