// Pause/resume latency with a real guest (QEMU; TCG on hosts without usable
// KVM), over N cycles, as p50/p90/p99:
//  - POST /v1/vms/b1/pause and /resume straight over the daemon's socket
//    (the daemon's work: lock, QMP stop/cont, the store, the event);
//  - `banger vm pause` and `banger vm resume` (plus the CLI's process start);
//  - `vm exec -- true` on a paused VM: the transparent resume and a command
//    round trip through the agent, against the same on a running VM.
// A ticker in the guest writes to its console; each cycle checks that it
// stopped while paused and went on after the resume, so a pause that did
// nothing cannot pass for a fast one.
//
// Prints numbers; asserts no timing. Every step's exit code is checked and
// every wait has a deadline.
//
//   bench_pause [--runs N] [--accel tcg|kvm]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "bench_util.h"
#include "http/http.h"

namespace {

using namespace banger::bench;

using std::chrono::seconds;

// POST /v1/vms/b1/<action> over the daemon's socket; false (reported) on failure.
bool Api(const std::string& action) {
  banger::HttpRequest req{"POST", "/v1/vms/b1/" + action, "{}", {{"content-type", "application/json"}}};
  auto r = banger::UnixHttpCall(g_home + "/bangerd.sock", req, std::chrono::seconds(30));
  if (r.ok() && r->status == 200) return true;
  std::fprintf(stderr, "bench: POST %s: %s\n", action.c_str(),
               r.ok() ? r->body.c_str() : r.error().message().c_str());
  return false;
}

void Print(const char* what, const std::vector<double>& ms) {
  std::printf("%-34s p50 %7.1f ms  p90 %7.1f ms  p99 %7.1f ms  (n=%zu)\n", what, Percentile(ms, 50),
              Percentile(ms, 90), Percentile(ms, 99), ms.size());
}

// Bytes of the guest console so far (the ticker's output).
size_t Console() {
  auto r = Banger({"vm", "logs", "b1"}, seconds(30));
  return r.exit_code == 0 ? r.out.size() : 0;
}

// Waits up to 10 s for the console to grow past `than`.
bool Grows(size_t than) {
  auto deadline = Clock::now() + seconds(10);
  while (Clock::now() < deadline) {
    if (Console() > than) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::fprintf(stderr, "bench: the guest made no progress after a resume\n");
  return false;
}

// Paused: the console does not grow over 300 ms (after 100 ms for output in flight).
bool Frozen() {
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  size_t a = Console();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  if (Console() == a) return true;
  std::fprintf(stderr, "bench: the guest kept running while paused\n");
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv, 50);
  const int runs = args.runs;
  const std::string& accel = args.accel;
  BenchHome home("bgpause", args.accel);
  if (!home.ok()) return 1;
  std::printf("qemu accel: %s, %d cycles\n", accel.c_str(), runs);
  if (!Must(Banger({"image", "build", "bench", "--profile", "minimal"}), "image build")) return 1;
  if (!Must(Banger({"vm", "create", "--name", "b1"}), "vm create")) return 1;
  if (!Must(Banger({"session", "start", "b1", "--name", "tick", "--", "sh", "-c",
                    "while true; do echo tick > /dev/console; sleep 0.05; done"}),
            "session start (waits for the agent)")) {
    return 1;
  }
  if (!Grows(0)) return 1;

  std::vector<double> api_pause, api_resume, cli_pause, cli_resume, exec_paused, exec_running;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    if (!Api("pause")) return 1;
    api_pause.push_back(Ms(t0, Clock::now()));
    if (!Frozen()) return 1;
    size_t at = Console();
    t0 = Clock::now();
    if (!Api("resume")) return 1;
    api_resume.push_back(Ms(t0, Clock::now()));
    if (!Grows(at)) return 1;

    t0 = Clock::now();
    if (!Must(Banger({"vm", "pause", "b1"}), "vm pause")) return 1;
    cli_pause.push_back(Ms(t0, Clock::now()));
    if (!Frozen()) return 1;
    at = Console();
    t0 = Clock::now();
    if (!Must(Banger({"vm", "resume", "b1"}), "vm resume")) return 1;
    cli_resume.push_back(Ms(t0, Clock::now()));
    if (!Grows(at)) return 1;

    if (!Api("pause") || !Frozen()) return 1;
    t0 = Clock::now();
    if (!Must(Banger({"vm", "exec", "b1", "--", "true"}), "vm exec on a paused vm")) return 1;
    exec_paused.push_back(Ms(t0, Clock::now()));
    t0 = Clock::now();
    if (!Must(Banger({"vm", "exec", "b1", "--", "true"}), "vm exec")) return 1;
    exec_running.push_back(Ms(t0, Clock::now()));
  }
  Print("API pause", api_pause);
  Print("API resume", api_resume);
  Print("API pause+resume", [&] {
    std::vector<double> sum;
    for (size_t i = 0; i < api_pause.size(); ++i) sum.push_back(api_pause[i] + api_resume[i]);
    return sum;
  }());
  Print("vm pause (CLI)", cli_pause);
  Print("vm resume (CLI)", cli_resume);
  Print("vm exec -- true, paused vm", exec_paused);
  Print("vm exec -- true, running vm", exec_running);
  return 0;
}
