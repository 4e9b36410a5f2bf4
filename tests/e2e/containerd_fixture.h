// A private containerd for the shim's end-to-end test: Debian's containerd
// 1.6 (/usr/bin/containerd; CI gets it with `apt-get install containerd`)
// with its own root, state, socket and config, never the host's
// (/var/lib/containerd, /run/containerd), stopped and removed by the
// destructor; `ctr` against it; a busybox root and an OCI image of it for
// `ctr image import`. Root needed.
//
// Found with the real containerd 1.6.20 and runc (recorded here):
//  - containerd keeps things under /run/containerd whatever its --state says:
//    the runc shim's socket (/run/containerd/s/<sha256>), runc's state
//    (/run/containerd/runc/<ns>) and ctr's I/O FIFOs (/run/containerd/fifo).
//    So Start() refuses unless /run is the private tmpfs of
//    NetnsMainOptions::private_run (this process's own mount namespace).
//  - `ctr run --rootfs DIR` runs in DIR itself (runc adds dev, proc, run,
//    sys to it), not in a copy.
//  - `ctr run --annotation K=V` sets OCI annotations (config.json's
//    "annotations"); no spec editing needed.
//  - `ctr image import` of a tar of an OCI layout (oci-layout, index.json,
//    blobs) whose manifest has the annotation org.opencontainers.image.ref.name
//    "bb" (a tag only, as umoci writes it) creates "<base>:bb" with
//    `--base-name <base>` ("import-<date>:bb" without it); a full name in the
//    annotation ("docker.io/banger/bb:v1") is taken as is.
//  - `ctr task kill -s SIGTERM` does not stop `sleep` as a runc container's
//    PID 1 (no handler: the signal is ignored); SIGKILL does.
//  - After a SIGKILL of the runc shim, containerd cleans up at once (`shim
//    delete`): the task leaves `ctr task ls`, the container stays.
//  - A SIGTERMed containerd leaves its shims and tasks running; the next one
//    on the same root and state reconnects to them (`ctr task ls` RUNNING,
//    `ctr task exec` works). Stopping takes about a second.
//  - Snapshotter: overlayfs works here (/tmp is ext4, overlay in the
//    kernel); Start() probes and falls back to native where it does not
//    (e.g. on an overlayfs /tmp), set as the namespace's default
//    (containerd.io/defaults/snapshotter) so ctr needs no --snapshotter.
//  - The "io.containerd.internal.v1.opt" plugin creates /opt/containerd:
//    disabled here, with the CRI plugin (host networking through CNI).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "e2e_util.h"
#include "oci_fixture.h"

namespace banger::e2e {

inline constexpr const char* kContainerdBin = "/usr/bin/containerd";
inline constexpr const char* kShimName = "containerd-shim-banger-v2";

struct CtrResult {
  int code = -1;
  std::string out, err;
  std::string Describe() const {
    return "exit " + std::to_string(code) + "\nstdout: " + out + "\nstderr: " + err;
  }
};

// What keeps the containerd tests from running ("" when nothing): root,
// containerd, ctr, umoci, unshare.
inline std::string ContainerdTestBlocker() {
  if (::geteuid() != 0) return "needs root (containerd, namespaces, mounts)";
  if (!IsRegularFile(kContainerdBin))
    return std::string(kContainerdBin) + " missing (apt-get install containerd)";
  for (const char* tool : {"ctr", "umoci", "unshare"}) {
    if (!FindExecutable(tool).ok()) return std::string(tool) + " missing from PATH";
  }
  return "";
}

// One line of /proc/self/mountinfo.
struct MountEntry {
  std::string point, fstype, source;
};

// mountinfo escapes space, tab, newline and backslash as \ooo.
inline std::string UnescapeMountField(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto oct = [&](size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '7'; };
    if (s[i] == '\\' && oct(i + 1) && oct(i + 2) && oct(i + 3)) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

inline std::vector<MountEntry> ReadMounts() {
  std::vector<MountEntry> out;
  auto text = ReadFile("/proc/self/mountinfo");
  if (!text.ok()) return out;
  for (const std::string& line : Split(*text, '\n')) {
    std::vector<std::string> f = Split(line, ' ');
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || f.end() - dash < 3) continue;
    out.push_back({UnescapeMountField(f[4]), *(dash + 1), UnescapeMountField(*(dash + 2))});
  }
  return out;
}

// Mount points at or under `dir`.
inline std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const MountEntry& m : ReadMounts()) {
    if (m.point == dir || m.point.rfind(dir + "/", 0) == 0) out.push_back(m.point);
  }
  return out;
}

// Detaches every mount at or under `dir`, deepest first (a few rounds, for
// mounts stacked on one point).
inline void UnmountUnder(const std::string& dir) {
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> points = MountsUnder(dir);
    if (points.empty()) return;
    std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    for (const std::string& p : points) ::umount2(p.c_str(), MNT_DETACH);
  }
}

// Whether /run is the private tmpfs NetnsMain(private_run) mounted, in a
// mount namespace of our own: only then may containerd and ctr write under
// /run/containerd.
inline Status CheckPrivateRun() {
  if (!InOwnMountNamespace())
    return Error::Conflict("not in a mount namespace of its own (NetnsMain private_run)");
  std::string source;
  for (const MountEntry& m : ReadMounts()) {
    if (m.point == "/run") source = m.source;  // the last one is on top
  }
  if (source != kPrivateRunSource)
    return Error::Conflict("/run is not the private tmpfs " + std::string(kPrivateRunSource));
  return OkStatus();
}

// Whether an overlay mount works with its directories under `scratch` (not
// on every filesystem: e.g. an upper directory on overlayfs is refused).
inline bool OverlayWorks(const std::string& scratch) {
  for (const char* d : {"/l", "/u", "/w", "/m"}) {
    if (!MakeDirs(scratch + d).ok()) return false;
  }
  const std::string opts = "lowerdir=" + scratch + "/l,upperdir=" + scratch + "/u,workdir=" + scratch + "/w";
  bool ok = ::mount("overlay", (scratch + "/m").c_str(), "overlay", 0, opts.c_str()) == 0;
  if (ok) ::umount2((scratch + "/m").c_str(), MNT_DETACH);
  (void)RemoveAll(scratch);
  return ok;
}

// A busybox root: /bin/busybox with its applet links, /etc/passwd and
// /etc/group naming root, /root and /tmp.
inline Status MakeBusyboxRootfs(const std::string& dir) {
  BANGER_RETURN_IF_ERROR(oci_test::StageBusybox(dir));
  for (const char* d : {"/etc", "/root", "/tmp"}) BANGER_RETURN_IF_ERROR(MakeDirs(dir + d));
  std::filesystem::permissions(dir + "/tmp", std::filesystem::perms(01777));
  BANGER_RETURN_IF_ERROR(WriteFileAtomic(dir + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0644));
  return WriteFileAtomic(dir + "/etc/group", "root:x:0:\n", 0644);
}

// An OCI image archive of MakeBusyboxRootfs for `ctr image import
// --base-name BASE`, which names it BASE:`tag`: an umoci layout (in `work`)
// of one layer, Cmd /bin/sh, unreferenced blobs collected, tarred as
// oci-layout, index.json and blobs/ at the top.
inline Status MakeBusyboxImageTar(const std::string& work, const std::string& tag,
                                  const std::string& tar_path) {
  BANGER_RETURN_IF_ERROR(RemoveAll(work));
  BANGER_RETURN_IF_ERROR(MakeDirs(work));
  oci_test::OciImageMaker maker(work);
  BANGER_RETURN_IF_ERROR(maker.Init(tag));
  BANGER_RETURN_IF_ERROR(maker.AddLayer(tag, tag, MakeBusyboxRootfs));
  BANGER_RETURN_IF_ERROR(maker.Config(tag, {"--config.cmd", "/bin/sh"}));
  BANGER_RETURN_IF_ERROR(oci_test::Tool({"umoci", "gc", "--layout", maker.layout()}));
  return oci_test::Tool({"tar", "-C", maker.layout(), "-cf", tar_path, "."});
}

class Containerd {
 public:
  struct Options {
    std::string dir;          // created and removed here; short (sockets live under it)
    std::string banger_home;  // BANGER_HOME of containerd and so of its shims
    std::string shim_dir;     // first in containerd's PATH ("" = none)
    std::string ns = "banger-e2e";
  };

  explicit Containerd(Options o)
      : o_(std::move(o)),
        root_(o_.dir + "/root"),
        state_(o_.dir + "/state"),
        address_(o_.dir + "/c.sock"),
        config_(o_.dir + "/config.toml"),
        log_(o_.dir + "/containerd.log") {}
  Containerd(const Containerd&) = delete;
  Containerd& operator=(const Containerd&) = delete;

  // Removes what the tests left (tasks, containers), stops containerd, kills
  // the shims still serving its socket, unmounts and removes the directory.
  ~Containerd() {
    if (running()) CleanAll();
    (void)Stop();
    for (pid_t p : RealProcessOps().FindByArg(address_)) RealProcessOps().Signal(p, SIGKILL).ok();
    UnmountUnder(o_.dir);
    (void)RemoveAll(o_.dir);
  }

  const std::string& root() const { return root_; }
  const std::string& state() const { return state_; }
  const std::string& address() const { return address_; }
  const std::string& ns() const { return o_.ns; }
  const std::string& log_path() const { return log_; }
  const std::string& snapshotter() const { return snapshotter_; }
  bool running() const { return pid_ > 0; }
  // Where containerd keeps task `id`'s bundle (shim v2).
  std::string BundleDir(const std::string& id) const {
    return state_ + "/io.containerd.runtime.v2.task/" + o_.ns + "/" + id;
  }

  // Starts containerd (the first time: the directories, the config and the
  // namespace) and waits until it answers.
  Status Start() {
    if (running()) return OkStatus();
    if (!started_once_) {
      BANGER_RETURN_IF_ERROR(CheckPrivateRun());
      BANGER_RETURN_IF_ERROR(RemoveAll(o_.dir));
      BANGER_RETURN_IF_ERROR(MakeDirs(root_, 0700));
      BANGER_RETURN_IF_ERROR(MakeDirs(state_, 0700));
      // overlayfs where it works (here it does: /tmp is ext4), else native
      // (a full copy per snapshot, bind-mounted as the task's rootfs; both
      // were run with runc).
      snapshotter_ = OverlayWorks(o_.dir + "/overlay-probe") ? "overlayfs" : "native";
      BANGER_RETURN_IF_ERROR(WriteFileAtomic(config_, ConfigToml(), 0644));
    }
    BANGER_RETURN_IF_ERROR(Spawn());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return Error::Internal("containerd exited at start; its log ends:\n" + LogTail());
      }
      if (Ctr({"version"}, std::chrono::seconds(5)).code == 0) break;
      if (std::chrono::steady_clock::now() > deadline) {
        (void)Stop();
        return Error::Timeout("containerd did not answer on " + address_ + " within 30 s; its log ends:\n" +
                              LogTail());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!started_once_) {
      // ctr picks the snapshotter from this namespace label when no
      // --snapshotter is given (containerd 1.6's client).
      CtrResult r =
          Ctr({"namespaces", "create", o_.ns, "containerd.io/defaults/snapshotter=" + snapshotter_});
      if (r.code != 0) return Error::Internal("ctr namespaces create: " + r.Describe());
      started_once_ = true;
    }
    return OkStatus();
  }

  // SIGTERM, then SIGKILL after 20 s; reaped. Shims and tasks keep running.
  Status Stop() {
    if (!running()) return OkStatus();
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    pid_ = -1;
    return OkStatus();
  }

  // Stops containerd and starts it again on the same root and state.
  Status Restart() {
    BANGER_RETURN_IF_ERROR(Stop());
    return Start();
  }

  // `ctr --address S --namespace NS ARGS...`.
  CtrResult Ctr(const std::vector<std::string>& args,
                std::chrono::milliseconds timeout = std::chrono::seconds(120)) const {
    std::vector<std::string> argv = {"ctr", "--address", address_, "--namespace", o_.ns};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv, timeout);
    if (!r.ok()) return CtrResult{-1, "", r.error().message()};
    return CtrResult{r->exit_code, r->out, r->err};
  }

  // Task `id`'s STATUS in `ctr task ls` (RUNNING, STOPPED, ...), "" when it
  // is not listed; an error when ctr fails.
  Result<std::string> TaskStatus(const std::string& id) const {
    CtrResult r = Ctr({"task", "ls"}, std::chrono::seconds(30));
    if (r.code != 0) return Error::Internal("ctr task ls: " + r.Describe());
    for (const std::string& line : Split(r.out, '\n')) {
      std::vector<std::string> f;
      for (const std::string& w : Split(line, ' ')) {
        if (!w.empty()) f.push_back(w);
      }
      if (f.size() >= 3 && f[0] == id) return f[2];
    }
    return std::string();
  }

  // Live processes whose argv has `shim` in an element and "-id" `id`.
  std::vector<pid_t> ShimPids(const std::string& id, const std::string& shim = kShimName) const {
    std::vector<pid_t> out;
    for (pid_t p : RealProcessOps().FindByArg(id)) {
      std::vector<std::string> argv = RealProcessOps().Cmdline(p);
      bool named = std::any_of(argv.begin(), argv.end(),
                               [&](const std::string& a) { return a.find(shim) != std::string::npos; });
      bool has_id = false;
      for (size_t i = 0; i + 1 < argv.size(); ++i) has_id = has_id || (argv[i] == "-id" && argv[i + 1] == id);
      if (named && has_id) out.push_back(p);
    }
    return out;
  }

  // The last `bytes` of containerd's log (its stdout and stderr, with the
  // shims' logs it copies in at debug level).
  std::string LogTail(size_t bytes = 6000) const { return TailFile(log_, bytes); }

  // Every task (SIGKILLed, deleted) and container (deleted) of every
  // namespace; best effort.
  void CleanAll() const {
    CtrResult nss = Ctr({"namespaces", "ls", "-q"}, std::chrono::seconds(30));
    for (const std::string& ns : Split(nss.out, '\n')) {
      if (ns.empty()) continue;
      auto in = [&](std::vector<std::string> args, int seconds) {
        args.insert(args.begin(), {"--namespace", ns});
        std::vector<std::string> argv = {"ctr", "--address", address_};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = RunCommand(argv, std::chrono::seconds(seconds));
        return r.ok() ? r->out : std::string();
      };
      for (const std::string& id : Split(in({"task", "ls", "-q"}, 30), '\n')) {
        if (!id.empty()) in({"task", "delete", "--force", id}, 60);
      }
      for (const std::string& id : Split(in({"container", "ls", "-q"}, 30), '\n')) {
        if (!id.empty()) in({"container", "delete", id}, 60);
      }
    }
  }

 private:
  std::string ConfigToml() const {
    return "version = 2\n"
           "root = \"" +
           root_ + "\"\nstate = \"" + state_ +
           "\"\n"
           "# CRI needs CNI and host networking; opt would create /opt/containerd;\n"
           "# the other snapshotters need host storage set up.\n"
           "disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.internal.v1.opt\",\n"
           "  \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\",\n"
           "  \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.aufs\",\n"
           "  \"io.containerd.tracing.processor.v1.otlp\", \"io.containerd.internal.v1.tracing\"]\n"
           "[grpc]\n  address = \"" +
           address_ + "\"\n[ttrpc]\n  address = \"" + address_ +
           ".ttrpc\"\n"
           "[debug]\n  address = \"\"\n  level = \"debug\"\n"
           "[metrics]\n  address = \"\"\n";
  }

  // fork + exec: our child, so Stop() reaps it. Its own process group;
  // stdout and stderr appended to the log; BANGER_HOME and PATH set.
  Status Spawn() {
    std::vector<std::string> argv = {kContainerdBin, "--config", config_};
    std::vector<std::string> env;
    const char* path = std::getenv("PATH");
    for (char** e = environ; *e != nullptr; ++e) {
      std::string v = *e;
      if (v.rfind("BANGER_HOME=", 0) != 0 && v.rfind("PATH=", 0) != 0) env.push_back(v);
    }
    env.push_back("BANGER_HOME=" + o_.banger_home);
    env.push_back("PATH=" + (o_.shim_dir.empty() ? "" : o_.shim_dir + ":") +
                  (path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin"));
    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    int log = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || null < 0) {
      Error e = Error::FromErrno("opening " + log_);
      if (log >= 0) ::close(log);
      if (null >= 0) ::close(null);
      return e;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      ::dup2(null, STDIN_FILENO);
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
      ::close_range(3, ~0U, 0);
      ::execve(cargv[0], cargv.data(), cenv.data());
      ::_exit(127);
    }
    Error fork_error = Error::FromErrno("fork");
    ::close(log);
    ::close(null);
    if (pid < 0) return fork_error;
    pid_ = pid;
    return OkStatus();
  }

  Options o_;
  std::string root_, state_, address_, config_, log_;
  std::string snapshotter_;
  pid_t pid_ = -1;
  bool started_once_ = false;
};

}  // namespace banger::e2e
