// Benchmarks with real guests (QEMU; TCG on hosts without usable KVM):
// image build time, host bytes allocated per new VM, start latency split into
// banger's own work and the guest's boot, `vm exec -- true` round trips,
// stdout/stdin throughput through the agent, workspace prepare, and
// `vm run --rm -- true`.
//
// Prints numbers; asserts no timing. Every step's exit code is checked and
// every rate is computed from the bytes that actually arrived (counted by the
// guest with `wc -c` where they flow into it), so a failed step stops the run
// with its error instead of printing a meaningless rate. Every wait has a
// deadline.
//
//   bench_guest [--runs N] [--accel tcg|kvm]
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "base/unique_fd.h"
#include "bench_util.h"
#include "model/json.h"

namespace {

using namespace banger::bench;

using std::chrono::seconds;

constexpr double kMiB = 1048576.0;
// How long the first `vm exec` may take to find the booted guest's agent.
constexpr seconds kAgentDeadline{600};
// Bytes pushed through stdout and stdin.
constexpr int64_t kStreamBytes = 256LL * 1024 * 1024;
// The workspace repository: files of this size under src/.
constexpr int kRepoFiles = 2000;
constexpr int64_t kRepoFileBytes = 4096;

// A decimal count as `wc -c` prints it; nullopt for anything else.
std::optional<int64_t> ParseCount(const std::string& text) {
  size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return std::nullopt;
  std::string digits = text.substr(0, end + 1);
  size_t start = digits.find_last_of(" \t\n");
  digits = start == std::string::npos ? digits : digits.substr(start + 1);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoll(digits);
}

// Checks a byte count the guest reported against what was sent.
bool CheckCount(const banger::CommandResult& r, int64_t want, const std::string& what, int64_t* got) {
  if (!Must(r, what)) return false;
  auto n = ParseCount(r.out);
  if (!n || *n != want) {
    std::fprintf(stderr, "bench: %s: the guest counted '%s' bytes, %lld were sent\n", what.c_str(),
                 r.out.c_str(), static_cast<long long>(want));
    return false;
  }
  *got = *n;
  return true;
}

// Runs argv (no shell) with stdin from the file at `path`, collecting stdout
// and stderr; killed once `timeout` passes (then exit_code is -1).
banger::CommandResult RunWithStdinFile(const std::vector<std::string>& argv, const std::string& path,
                                       seconds timeout) {
  banger::CommandResult res;
  banger::UniqueFd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  int out[2], err[2];
  if (!in.valid() || ::pipe2(out, O_CLOEXEC) != 0) {
    res.err = "open " + path + " / pipe: " + std::strerror(errno);
    return res;
  }
  banger::UniqueFd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) {
    res.err = std::string("pipe: ") + std::strerror(errno);
    return res;
  }
  banger::UniqueFd err_r(err[0]), err_w(err[1]);
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    res.err = std::string("fork: ") + std::strerror(errno);
    return res;
  }
  if (pid == 0) {
    ::dup2(in.get(), 0);
    ::dup2(out_w.get(), 1);
    ::dup2(err_w.get(), 2);
    ::execv(cargv[0], cargv.data());
    _exit(127);
  }
  out_w.Reset();
  err_w.Reset();
  auto deadline = Clock::now() + timeout;
  bool timed_out = false;
  while (out_r.valid() || err_r.valid()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
    if (::poll(p, 2, static_cast<int>(std::min<int64_t>(left, 1000))) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      banger::UniqueFd& fd = i == 0 ? out_r : err_r;
      char buf[65536];
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fd.Reset();
        continue;
      }
      (i == 0 ? res.out : res.err).append(buf, static_cast<size_t>(n));
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    res.err += "\n(killed after " + std::to_string(timeout.count()) + " s)";
  } else if (WIFEXITED(status)) {
    res.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    res.term_signal = WTERMSIG(status);
  }
  return res;
}

// Milliseconds until `vm exec -- true` first succeeds (the agent answers),
// or nullopt past kAgentDeadline.
std::optional<double> UntilAgent(const std::string& vm, Clock::time_point since) {
  auto deadline = since + kAgentDeadline;
  banger::CommandResult last;
  while (Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<seconds>(deadline - Clock::now()).count() + 1;
    last = Banger({"vm", "exec", vm, "--timeout", std::to_string(left), "--", "true"}, seconds(left + 30));
    if (last.exit_code == 0) return Ms(since, Clock::now());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a fast failure: do not spin
  }
  std::fprintf(stderr, "bench: the guest agent did not answer within %lld s: %s\n",
               static_cast<long long>(kAgentDeadline.count()), last.err.c_str());
  return std::nullopt;
}

// Deletes the VM, stops the daemon and removes the home however main ends.
bool CreateVm() {
  if (!Must(Banger({"vm", "create", "--name", "b1", "--no-start"}), "vm create")) return false;
  auto show = Banger({"vm", "show", "b1", "--json"});
  if (!Must(show, "vm show")) return false;
  auto vm = banger::ParseJson(show.out);
  if (!vm.ok() || !(*vm)["runtime"]["vm_dir"].is_string()) {
    std::fprintf(stderr, "bench: vm show --json has no runtime.vm_dir: %s\n", show.out.c_str());
    return false;
  }
  std::string dir = (*vm)["runtime"]["vm_dir"];
  int64_t allocated = 0, apparent = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    allocated += banger::AllocatedBytes(e.path().string());
    apparent += static_cast<int64_t>(e.file_size());
  }
  std::printf("new vm on the host: %.2f MiB allocated (%.1f GiB apparent)\n", allocated / kMiB,
              apparent / (kMiB * 1024));
  return true;
}

bool StartVm() {
  auto s0 = Clock::now();
  if (!Must(Banger({"vm", "start", "b1"}), "vm start")) return false;
  double start_ms = Ms(s0, Clock::now());
  auto agent_ms = UntilAgent("b1", s0);
  if (!agent_ms) return false;
  std::printf(
      "vm start returns (banger + VMM launch): %.0f ms; guest agent answers after %.0f ms (boot %.0f ms)\n",
      start_ms, *agent_ms, *agent_ms - start_ms);
  return true;
}

bool ExecRoundTrips(int runs) {
  std::vector<double> rt;
  for (int i = 0; i < runs; ++i) {
    auto a = Clock::now();
    if (!Must(Banger({"vm", "exec", "b1", "--", "true"}), "vm exec -- true")) return false;
    rt.push_back(Ms(a, Clock::now()));
  }
  if (!rt.empty()) {
    std::printf("vm exec -- true: n=%d p50=%.1f ms p99=%.1f ms\n", runs, Percentile(rt, 50),
                Percentile(rt, 99));
  }
  return true;
}

bool StdoutThroughput() {
  auto o0 = Clock::now();
  auto out = Banger({"vm", "exec", "b1", "--", "dd", "if=/dev/zero", "bs=1048576",
                     "count=" + std::to_string(kStreamBytes / 1048576)});
  double out_s = Ms(o0, Clock::now()) / 1000;
  if (!Must(out, "vm exec -- dd (stdout)")) return false;
  if (static_cast<int64_t>(out.out.size()) != kStreamBytes) {
    std::fprintf(stderr, "bench: stdout: %zu bytes arrived, %lld were sent\n", out.out.size(),
                 static_cast<long long>(kStreamBytes));
    return false;
  }
  std::printf("stdout throughput: %.0f MiB/s (%zu bytes)\n", out.out.size() / kMiB / out_s, out.out.size());
  return true;
}

bool StdinThroughput() {
  std::string blob = g_home + "/blob";
  if (!banger::WriteFileAtomic(blob, std::string(static_cast<size_t>(kStreamBytes), '\0')).ok()) {
    std::fprintf(stderr, "bench: cannot write %s\n", blob.c_str());
    return false;
  }
  auto i0 = Clock::now();
  auto in = RunWithStdinFile(BangerArgv({"vm", "exec", "b1", "-i", "--", "wc", "-c"}), blob, seconds(600));
  double in_s = Ms(i0, Clock::now()) / 1000;
  int64_t got = 0;
  if (!CheckCount(in, kStreamBytes, "vm exec -i -- wc -c (stdin)", &got)) return false;
  std::printf("stdin throughput: %.0f MiB/s (%lld bytes counted by the guest)\n", got / kMiB / in_s,
              static_cast<long long>(got));
  return true;
}

// A repository of kRepoFiles small files plus one commit.
bool MakeRepo(const std::string& repo) {
  std::filesystem::create_directories(repo + "/src");
  for (int i = 0; i < kRepoFiles; ++i) {
    auto st = banger::WriteFileAtomic(repo + "/src/f" + std::to_string(i) + ".txt",
                                      std::string(static_cast<size_t>(kRepoFileBytes), 'a' + i % 26));
    if (!st.ok()) {
      std::fprintf(stderr, "bench: writing the repository: %s\n", st.error().message().c_str());
      return false;
    }
  }
  const std::vector<std::vector<std::string>> steps = {
      {"init", "-q"}, {"add", "-A"}, {"commit", "-q", "-m", "bench"}};
  for (std::vector<std::string> a : steps) {
    a.insert(a.begin(), {"git", "-C", repo, "-c", "user.name=b", "-c", "user.email=b@example.com"});
    auto r = banger::RunCommand(a, std::chrono::minutes(5));
    if (!Must(r.ok() ? *r : banger::CommandResult{-1, 0, "", r.error().message()}, "git " + a[7]))
      return false;
  }
  return true;
}

// workspace prepare, shallow (default) and with full history; the guest
// counts the bytes of the copied files.
bool WorkspacePrepare() {
  std::string repo = g_home + "/repo";
  if (!MakeRepo(repo)) return false;
  const int64_t want = kRepoFiles * kRepoFileBytes;
  for (std::string mode : {"shallow_overlay", "full_copy"}) {
    std::string guest_path = "/root/bench-" + mode;
    auto w0 = Clock::now();
    auto prep = Banger({"workspace", "prepare", "b1", repo, "--mode", mode, "--guest-path", guest_path});
    double ms = Ms(w0, Clock::now());
    if (!Must(prep, "workspace prepare --mode " + mode)) return false;
    // The path goes to the guest's shell as an argument, never into the script.
    auto count = Banger({"vm", "exec", "b1", "--", "sh", "-c", "cat \"$1\"/src/* | wc -c", "sh", guest_path});
    int64_t got = 0;
    if (!CheckCount(count, want, "counting the workspace (" + mode + ")", &got)) return false;
    std::printf("workspace prepare (%s, %d files, %.1f MiB of content): %.0f ms, %.1f MiB/s\n", mode.c_str(),
                kRepoFiles, got / kMiB, ms, got / kMiB / (ms / 1000));
  }
  return true;
}

bool RunRm() {
  auto r0 = Clock::now();
  if (!Must(Banger({"vm", "run", "--rm", "--", "true"}), "vm run --rm -- true")) return false;
  std::printf("vm run --rm -- true: %.0f ms total (create+start+boot+exec+delete)\n", Ms(r0, Clock::now()));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv, 100);
  const int runs = args.runs;
  const std::string& accel = args.accel;
  BenchHome home("bgbench", args.accel, 512);
  if (!home.ok()) return 1;
  std::printf("qemu accel: %s\n", accel.c_str());

  auto t0 = Clock::now();
  if (!Must(Banger({"image", "build", "bench", "--profile", "minimal"}), "image build")) return 1;
  std::printf("image build --profile minimal: %.1f s\n", Ms(t0, Clock::now()) / 1000);

  bool ok = CreateVm() && StartVm() && ExecRoundTrips(runs) && StdoutThroughput() && StdinThroughput() &&
            WorkspacePrepare() && RunRm();
  return ok ? 0 : 1;
}
