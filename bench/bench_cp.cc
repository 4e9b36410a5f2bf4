// `banger vm cp` throughput through the guest agent (QEMU; TCG on hosts
// without usable KVM): one big random file and a tree of 1 MiB files, host
// -> VM and VM -> host, in MiB/s, plus the CLI's peak RSS per copy and
// bangerd's peak RSS (VmHWM) at the end: both stay bounded whatever the
// size, because nothing holds a whole file or tree. Every copy's exit code
// is checked and the data compared (sha256 in the guest and on the host).
//
// Prints numbers; asserts no timing.
//
//   bench_cp [--file-mib 256] [--tree-mib 1024] [--accel tcg]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "bench_util.h"

namespace {

using namespace banger::bench;

// Runs `banger ARGS` and returns its exit code; *max_rss_kib gets its peak RSS.
int Timed(const std::vector<std::string>& args, double* seconds, long* max_rss_kib) {
  auto argv = BangerArgv(args);
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  auto t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  int status = 0;
  rusage ru{};
  if (pid < 0 || ::wait4(pid, &status, 0, &ru) != pid) return -1;
  *seconds = Ms(t0, Clock::now()) / 1000.0;
  *max_rss_kib = ru.ru_maxrss;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool Copy(const std::string& what, const std::vector<std::string>& args, double mib) {
  double s = 0;
  long rss = 0;
  int code = Timed(args, &s, &rss);
  if (code != 0) {
    std::fprintf(stderr, "bench: %s failed (exit %d)\n", what.c_str(), code);
    return false;
  }
  std::printf("%-28s %8.1f MiB in %6.2f s  %7.1f MiB/s  cli peak RSS %5.1f MiB\n", what.c_str(), mib, s,
              mib / s, static_cast<double>(rss) / 1024.0);
  return true;
}

std::string Sha(const std::string& cmd) {
  auto r = banger::RunCommand({"sh", "-c", cmd}, std::chrono::seconds(600));
  return r.ok() && r->exit_code == 0 ? banger::Trim(r->out) : "<failed>";
}

pid_t DaemonPid() {
  for (pid_t p : banger::RealProcessOps().FindByArg(g_home)) {
    auto argv = banger::RealProcessOps().Cmdline(p);
    if (!argv.empty() && argv[0].find("bangerd") != std::string::npos) return p;
  }
  return 0;
}

// Resets bangerd's VmHWM (clear_refs 5), so the peak is the copies' own and
// not the image build's. False when not allowed (not the daemon's user).
bool ResetDaemonHwm() {
  pid_t p = DaemonPid();
  if (p <= 0) return false;
  std::ofstream f("/proc/" + std::to_string(p) + "/clear_refs");
  f << "5";
  f.flush();
  return f.good();
}

long DaemonHwmKib() {
  if (pid_t p = DaemonPid(); p > 0) {
    auto st = banger::ReadFile("/proc/" + std::to_string(p) + "/status");
    auto pos = st.ok() ? st->find("VmHWM:") : std::string::npos;
    if (pos != std::string::npos) return std::stol(st->substr(pos + 6));
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  int file_mib = 256, tree_mib = 1024;
  std::string accel = "tcg";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--file-mib") file_mib = std::max(1, std::stoi(argv[i + 1]));
    if (flag == "--tree-mib") tree_mib = std::max(1, std::stoi(argv[i + 1]));
    if (flag == "--accel") accel = argv[i + 1];
  }
  const int disk_mib = 2 * (file_mib + tree_mib) + 256;
  BenchHome home("bgcp", accel, 512,
                 "work_disk_size = \"" + std::to_string(disk_mib) + "M\"\nsystem_overlay_size = \"512M\"\n");
  if (!home.ok()) return 1;
  if (!Must(Banger({"image", "build", "bench", "--profile", "minimal"}), "image build")) return 1;
  if (!Must(Banger({"vm", "create", "--name", "b1"}), "vm create")) return 1;
  if (!Must(Banger({"vm", "exec", "b1", "--", "true"}), "vm exec")) return 1;

  const std::string w = g_home + "/w";
  std::filesystem::create_directories(w + "/tree");
  std::filesystem::create_directories(w + "/out");
  if (Sha("head -c " + std::to_string(file_mib) + "M /dev/urandom > " + w + "/big && echo ok") != "ok")
    return 1;
  if (Sha("head -c 1M /dev/urandom > " + w + "/one && for i in $(seq " + std::to_string(tree_mib) +
          "); do cp " + w + "/one " + w + "/tree/f$i; done && echo ok") != "ok")
    return 1;

  std::printf("vm cp, %s, file %d MiB, tree %d x 1 MiB\n", accel.c_str(), file_mib, tree_mib);
  const long before = DaemonHwmKib();
  const bool reset = ResetDaemonHwm();
  bool ok = Copy("file host->vm", {"vm", "cp", w + "/big", "b1:/root/big"}, file_mib) &&
            Copy("file vm->host", {"vm", "cp", "b1:/root/big", w + "/out/big"}, file_mib) &&
            Copy("tree host->vm", {"vm", "cp", w + "/tree", "b1:/root/tree"}, tree_mib) &&
            Copy("tree vm->host", {"vm", "cp", "b1:/root/tree", w + "/out/tree"}, tree_mib);
  if (!ok) return 1;
  std::string host = Sha("sha256sum < " + w + "/big | cut -d' ' -f1");
  auto guest = Banger({"vm", "exec", "b1", "--", "sh", "-c", "sha256sum < /root/big | cut -d' ' -f1"});
  std::string back = Sha("sha256sum < " + w + "/out/big | cut -d' ' -f1");
  std::string trees = Sha("cd " + w + "/tree && cat $(ls) | sha256sum | cut -d' ' -f1") + " " +
                      Sha("cd " + w + "/out/tree && cat $(ls) | sha256sum | cut -d' ' -f1");
  if (banger::Trim(guest.out) != host || back != host || trees.substr(0, 64) != trees.substr(65)) {
    std::fprintf(stderr, "bench: copies differ (host %s guest %s back %s trees %s)\n", host.c_str(),
                 guest.out.c_str(), back.c_str(), trees.c_str());
    return 1;
  }
  std::printf(
      "bangerd peak RSS (VmHWM)     %.1f MiB during the copies%s (%.1f MiB before, image build included)\n",
      static_cast<double>(DaemonHwmKib()) / 1024.0, reset ? "" : " (not reset: includes the setup)",
      static_cast<double>(before) / 1024.0);
  return 0;
}
