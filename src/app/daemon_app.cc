#include "app/daemon_app.h"

#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "api/server.h"
#include "api/web_ui.h"
#include "base/account.h"
#include "base/fs.h"
#include "base/log.h"
#include "config/config.h"
#include "daemon/agent_pool.h"
#include "daemon/cow_root.h"
#include "daemon/events.h"
#include "daemon/guest_exec.h"
#include "daemon/image_service.h"
#include "daemon/monitor.h"
#include "daemon/reconcile.h"
#include "daemon/session_service.h"
#include "daemon/upkeep.h"
#include "daemon/vm_service.h"
#include "http/http.h"
#include "storage/devmapper.h"
#include "storage/disk.h"
#include "store/store.h"
#include "vmm/backend.h"

namespace banger {
namespace {

int Fail(const std::string& msg) {
  std::fprintf(stderr, "bangerd: %s\n", msg.c_str());
  spdlog::error("{}", msg);
  return 1;
}

// Signals a stop request from any thread (API handler, signal thread).
class StopLatch {
 public:
  void Trigger() {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [this] { return stop_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

// The static guest agent put into built images: $BANGER_AGENT_BIN, else
// banger-agent beside this bangerd.
std::string AgentBinaryPath() {
  if (const char* env = std::getenv("BANGER_AGENT_BIN"); env && *env) return env;
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string self(buf, static_cast<size_t>(n));
  return self.substr(0, self.rfind('/')) + "/banger-agent";
}

// Blocks the stop signals in every thread (one thread sigwaits for them)
// and ignores SIGPIPE.
sigset_t BlockStopSignals() {
  sigset_t stop_sigs;
  sigemptyset(&stop_sigs);
  sigaddset(&stop_sigs, SIGTERM);
  sigaddset(&stop_sigs, SIGINT);
  sigaddset(&stop_sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return stop_sigs;
}

// The API socket, 0600 (0660 with config socket_group).
Result<std::unique_ptr<HttpServer>> ListenApi(const HomeLayout& home, const DaemonConfig& config) {
  std::optional<gid_t> sock_group;
  if (!config.socket_group.empty()) {
    auto g = LookupGroup(config.socket_group);
    if (!g.ok()) return Error::Invalid("config: socket_group: " + g.error().message());
    sock_group = *g;
  }
  auto server = HttpServer::ListenUnix(home.Socket(), sock_group ? 0660 : 0600, sock_group);
  if (!server.ok()) return Error::Unavailable("api socket: " + server.error().message());
  return std::move(*server);
}

// The web UI's TCP listener when config web_listen_addr is set (else null):
// the same router behind WebUi's guards (api/web_ui.h).
Result<std::unique_ptr<HttpServer>> ListenWeb(const DaemonConfig& config) {
  if (config.web_listen_addr.empty()) return std::unique_ptr<HttpServer>();
  auto w = HttpServer::ListenTcp(config.web_listen_addr);
  if (!w.ok()) return Error::Invalid("config: web_listen_addr: " + w.error().message());
  return std::move(*w);
}

// Host networking when config network = "on" (else null), DNS responder running.
Result<std::unique_ptr<VmNetwork>> StartNetwork(const DaemonConfig& config) {
  if (config.network != "on") return std::unique_ptr<VmNetwork>();
  auto net = VmNetwork::Create(RealNetOps(), config);
  if (!net.ok()) return Error::Unavailable("network: " + net.error().message());
  if (auto st = (*net)->StartDns(); !st.ok()) {
    return Error::Unavailable("network: DNS responder: " + st.error().message());
  }
  return std::move(*net);
}

}  // namespace

int RunDaemon(const DaemonOptions& opts) {
  HomeLayout home{opts.home};
  if (auto st = MakeDirs(home.root, 0755); !st.ok()) return Fail(st.error().message());
  auto lock = FileLock::TryAcquire(home.LockFile());
  if (!lock.ok()) {
    if (lock.error().kind() == ErrorKind::kConflict) {
      return Fail("another bangerd is already running for home " + home.root);
    }
    return Fail(lock.error().message());
  }
  auto cfg = LoadConfig(opts.config_path);
  if (!cfg.ok()) return Fail("config: " + cfg.error().message());
  DaemonConfig config = *cfg;
  if (auto st = InitLogging(config.log_level, home.DaemonLog(), opts.foreground); !st.ok()) {
    return Fail(st.error().message());
  }
  // Staging of interrupted workspace copies: nothing in tmp outlives a daemon.
  (void)RemoveAll(home.root + "/tmp");
  for (const auto& d : {home.VmsDir(), home.ImagesDir()}) {
    if (auto st = MakeDirs(d, 0700); !st.ok()) return Fail(st.error().message());
  }
  spdlog::info("bangerd {} starting: home {}, config {}", kBangerVersion, home.root, opts.config_path);

  auto store = Store::Open(home.Database());
  if (!store.ok()) return Fail("opening store: " + store.error().message());

  BackendOptions bo;
  bo.firecracker_bin = config.firecracker_bin;
  bo.qemu_bin = config.qemu_bin;
  bo.qemu_accel = ResolveQemuAccel(config);
  auto fc = MakeFirecrackerBackend(bo, RealProcessOps());
  auto qemu = MakeQemuBackend(bo, RealProcessOps());
  BackendKind default_backend = ResolveBackend(config);
  spdlog::info("default backend {}, qemu accel {}", BackendName(default_backend), bo.qemu_accel);

  EventLog events(**store);
  AgentPool agents(RealAgentConnector());
  VmServiceDeps deps;
  deps.home = home;
  deps.config = config;
  deps.store = store->get();
  deps.events = &events;
  deps.procs = &RealProcessOps();
  deps.disks = &RealDiskOps();
  // The copy-on-write root, chosen once (config cow_mode).
  auto cow = MakeCowRoot(config.cow_mode, &RealDeviceMapperOps(), RealDiskOps(), **store);
  deps.cow = cow.get();
  deps.agents = &agents;
  auto net = StartNetwork(config);
  if (!net.ok()) return Fail(net.error().message());
  std::unique_ptr<VmNetwork> network = std::move(*net);
  deps.network = network.get();
  deps.backends = {{BackendKind::kFirecracker, fc.get()}, {BackendKind::kQemu, qemu.get()}};
  deps.default_backend = default_backend;
  VmService vms(deps);
  ImageService images({home, config, store->get(), &events, AgentBinaryPath()});
  if (auto st = Reconcile(vms, {home, store->get(), deps.network}); !st.ok()) {
    return Fail("reconcile: " + st.error().message());
  }

  sigset_t stop_sigs = BlockStopSignals();
  auto server = ListenApi(home, config);
  if (!server.ok()) return Fail(server.error().message());
  auto web = ListenWeb(config);
  if (!web.ok()) return Fail(web.error().message());
  std::unique_ptr<HttpServer> web_server = std::move(*web);

  DaemonInfo info{
      kBangerVersion, home.root, static_cast<int>(::getpid()), Now(), BackendName(default_backend),
      bo.qemu_accel};
  if (web_server) {
    std::string host = config.web_listen_addr.substr(0, config.web_listen_addr.rfind(':'));
    info.web_url = "http://" + host + ":" + std::to_string(web_server->port()) + "/";
  }
  StopLatch stop;

  SessionService sessions(vms, **store, events);
  VmMonitor monitor(vms, **store, RealProcessOps(), deps.backends);
  WorkspaceService workspaces(vms, **store, events, home.root + "/tmp");
  ApiRouter router(vms, images, sessions, monitor, workspaces, events, info, [&stop] { stop.Trigger(); });

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&stop_sigs, &sig);
    if (sig != 0) {
      spdlog::info("received signal {}; stopping", sig);
      stop.Trigger();
    }
  });
  std::thread stopper([&] {
    stop.Wait();
    vms.BeginShutdown();
    events.Close();
    (*server)->Shutdown();
    if (web_server) web_server->Shutdown();
  });
  // Sweeper (incl. `vm run --rm`), stats, metrics and auto-stop threads (daemon/upkeep.h).
  Upkeep upkeep(vms, sessions, monitor, config);
  upkeep.Start();

  WebUi web_ui(router);
  std::thread web_thread;
  if (web_server) {
    spdlog::info("web UI on http://{} (port {})", config.web_listen_addr, web_server->port());
    web_thread =
        std::thread([&] { web_server->Serve([&web_ui](const HttpRequest& r) { return web_ui.Handle(r); }); });
  }

  spdlog::info("bangerd ready on {}", home.Socket());
  (*server)->Serve([&router](const HttpRequest& r) { return router.Handle(r); });

  stop.Trigger();
  stopper.join();
  upkeep.Stop();
  if (web_thread.joinable()) web_thread.join();
  // SIGTERM is blocked and sigwait()ed by that thread: this wakes it, it kills nothing.
  // NOLINTNEXTLINE(bugprone-bad-signal-to-kill-thread)
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  if (network) network->Stop();
  spdlog::info("bangerd stopped (running VMs keep running)");
  return 0;
}

}  // namespace banger
