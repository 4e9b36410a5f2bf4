// containerd-shim-banger-v2: banger as a containerd runtime
// (io.containerd.banger.v2), docs/containerd.md. containerd runs it three ways
// (runtime/args.h): `start` prints the address of a shim daemon serving the
// task (starting one, detached, unless the task's pod already has one),
// `delete` cleans up after a shim that died, and with no action it is that
// daemon: the Task service (runtime/task_service.h) on a ttrpc socket.
#include <fcntl.h>
#include <google/protobuf/stubs/logging.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "base/fs.h"
#include "base/log.h"
#include "base/process.h"
#include "base/unique_fd.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb.h"
#include "runtime/args.h"
#include "runtime/bangerd.h"
#include "runtime/container.h"
#include "runtime/events.h"
#include "runtime/task_service.h"
#include "ttrpc/listener.h"

namespace banger::shim {
namespace {

constexpr const char* kName = "containerd-shim-banger-v2";

int Fail(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", kName, what.c_str());
  return 1;
}

std::string Cwd() {
  char buf[PATH_MAX];
  return ::getcwd(buf, sizeof buf) != nullptr ? std::string(buf) : std::string(".");
}

std::string Dir(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool Answers(const std::string& sock) {
  auto fd = ttrpc::ConnectUnix(sock, std::chrono::milliseconds(500));
  return fd.ok();
}

// libprotobuf writes its warnings to stderr, which for the shim daemon is a
// log file and for `delete` the text containerd logs: into the log instead.
void ProtobufLog(google::protobuf::LogLevel level, const char* file, int line, const std::string& msg) {
  if (level >= google::protobuf::LOGLEVEL_ERROR) {
    spdlog::error("protobuf {}:{}: {}", file, line, msg);
  } else {
    spdlog::debug("protobuf {}:{}: {}", file, line, msg);
  }
}

int Start(const ShimArgs& a) {
  const std::string bundle = a.bundle.empty() ? Cwd() : a.bundle;
  auto spec = ReadBundleSpec(bundle);
  if (!spec.ok()) return Fail(spec.error().message());
  const std::string group = spec->SandboxId().empty() ? a.id : spec->SandboxId();
  const std::string sock = ShimSocketPath(a.address, a.ns, group);
  if (sock.size() >= sizeof(sockaddr_un::sun_path)) return Fail("socket path too long: " + sock);
  if (auto st = MakeDirs(Dir(sock), 0711); !st.ok()) return Fail(st.error().message());
  // One start at a time per group: a pod's containers agree on one shim.
  UniqueFd lock(::open((sock + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
  if (!lock.valid() || ::flock(lock.get(), LOCK_EX) != 0) return Fail("locking " + sock + ".lock");
  if (!Answers(sock)) {
    ::unlink(sock.c_str());
    char self[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return Fail("cannot find my own executable");
    self[n] = '\0';
    SpawnOptions o;
    o.argv = {self, "-namespace", a.ns,   "-address", a.address, "-publish-binary", a.publish_binary, "-id",
              a.id, "-bundle",    bundle, "-socket",  sock};
    if (a.debug) o.argv.push_back("-debug");
    o.argv.push_back("serve");
    o.cwd = bundle;
    o.stdout_path = bundle + "/shim.log";
    auto pid = SpawnDetached(o);
    if (!pid.ok()) return Fail("starting the shim daemon: " + pid.error().message());
    bool up = false;
    for (int i = 0; i < 200 && !up; ++i) {
      up = Answers(sock);
      if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!up)
      return Fail("the shim daemon did not listen on " + sock + ": " + TailFile(bundle + "/shim.log", 2000));
    WriteFileAtomic(bundle + "/shim.pid", std::to_string(*pid), 0644).ok();
  }
  const std::string address = "unix://" + sock;
  if (auto st = WriteFileAtomic(bundle + "/address", address, 0644); !st.ok())
    return Fail(st.error().message());
  std::fputs(address.c_str(), stdout);
  return 0;
}

int Delete(const ShimArgs& a) {
  const std::string bundle = a.bundle.empty() ? Cwd() : a.bundle;
  Bangerd api(ShimHome());
  Status st = CleanupContainer(api, a.ns, a.id, bundle);
  if (!st.ok()) return Fail("cleaning up task " + a.id + ": " + st.error().message());
  // The dead shim's socket and lock, unless another shim of the pod serves there.
  auto spec = ReadBundleSpec(bundle);
  const std::string group = spec.ok() && !spec->SandboxId().empty() ? spec->SandboxId() : a.id;
  const std::string sock = ShimSocketPath(a.address, a.ns, group);
  if (!Answers(sock)) {
    ::unlink(sock.c_str());
    ::unlink((sock + ".lock").c_str());
  }
  containerd::task::v2::DeleteResponse resp;
  resp.set_exit_status(128 + SIGKILL);
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  resp.mutable_exited_at()->set_seconds(now.count() / 1000000000);
  resp.mutable_exited_at()->set_nanos(static_cast<int32_t>(now.count() % 1000000000));
  std::string out;
  resp.SerializeToString(&out);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int Serve(const ShimArgs& a) {
  if (a.socket.empty()) return Fail("serve needs -socket");
  const std::string bundle = a.bundle.empty() ? Cwd() : a.bundle;
  ::umask(077);
  // Signals are taken by one thread; every other thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  if (auto st = InitLogging(a.debug ? "debug" : "info", bundle + "/shim.log", false, {1 << 20, 1}); !st.ok())
    return Fail(st.error().message());
  std::atomic<bool> stop{false};
  std::thread([sigs, &stop] {
    int sig = 0;
    if (sigwait(&sigs, &sig) == 0) {
      spdlog::info("signal {}: stopping", sig);
      stop = true;
    }
  }).detach();

  const char* ttrpc_address = std::getenv("TTRPC_ADDRESS");
  EventPublisher events(ttrpc_address != nullptr ? ttrpc_address : "", a.ns);
  TaskService service(Bangerd(ShimHome()), events, a.ns);
  ttrpc::TtrpcServer server;
  if (auto st = service.Register(server); !st.ok()) return Fail(st.error().message());
  auto listener = ttrpc::UnixListener::Start(a.socket, &server);
  if (!listener.ok()) {
    spdlog::error("listening on {}: {}", a.socket, listener.error().message());
    return Fail(listener.error().message());
  }
  spdlog::info("shim for namespace {} (first task {}) serving on {}, bangerd home {}", a.ns, a.id, a.socket,
               ShimHome().root);
  service.WaitForShutdown([&stop] { return stop.load(); });
  spdlog::info("shutting down ({} tasks left)", service.tasks());
  events.Flush(std::chrono::seconds(5));
  (*listener)->Stop();
  ::unlink((a.socket + ".lock").c_str());
  spdlog::shutdown();
  std::_Exit(0);  // detached stream threads may still be blocked on bangerd
}

}  // namespace
}  // namespace banger::shim

int main(int argc, char** argv) {
  using namespace banger::shim;  // NOLINT(google-build-using-namespace)
  ::signal(SIGPIPE, SIG_IGN);
  google::protobuf::SetLogHandler(&ProtobufLog);
  auto a = ParseShimArgs(std::vector<std::string>(argv, argv + argc));
  if (!a.ok()) return Fail(a.error().message());
  if (a->version) {
    std::printf("%s (banger 0.1.0)\n", kName);
    return 0;
  }
  if (a->action == "start") return Start(*a);
  if (a->action == "delete") return Delete(*a);
  return Serve(*a);
}
