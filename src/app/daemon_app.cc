#include "app/daemon_app.h"

#include "base/account.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "api/server.h"
#include "api/web_ui.h"
#include "base/fs.h"
#include "base/log.h"
#include "config/config.h"
#include "daemon/agent_pool.h"
#include "daemon/events.h"
#include "daemon/monitor.h"
#include "daemon/session_service.h"
#include "daemon/vm_service.h"
#include "http/http.h"
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
  // Waits up to `d`; true if stop was requested.
  bool WaitFor(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, d, [this] { return stop_; });
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
  for (const auto& d : {home.VMsDir(), home.ImagesDir()}) {
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
  deps.dm = &RealDeviceMapperOps();
  deps.agents = &agents;
  std::unique_ptr<VmNetwork> network;
  if (config.network == "on") {
    auto net = VmNetwork::Create(RealNetOps(), config);
    if (!net.ok()) return Fail("network: " + net.error().message());
    network = std::move(*net);
    if (auto st = network->StartDns(); !st.ok()) return Fail("network: DNS responder: " + st.error().message());
    deps.network = network.get();
  }
  deps.agent_binary = AgentBinaryPath();
  deps.backends = {{BackendKind::kFirecracker, fc.get()}, {BackendKind::kQemu, qemu.get()}};
  deps.default_backend = default_backend;
  VmService vms(deps);
  if (auto st = vms.Reconcile(); !st.ok()) return Fail("reconcile: " + st.error().message());

  // Block the stop signals everywhere; one thread waits for them.
  sigset_t stop_sigs;
  sigemptyset(&stop_sigs);
  sigaddset(&stop_sigs, SIGTERM);
  sigaddset(&stop_sigs, SIGINT);
  sigaddset(&stop_sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::optional<gid_t> sock_group;
  if (!config.socket_group.empty()) {
    auto g = LookupGroup(config.socket_group);
    if (!g.ok()) return Fail("config: socket_group: " + g.error().message());
    sock_group = *g;
  }
  auto server = HttpServer::ListenUnix(home.Socket(), sock_group ? 0660 : 0600, sock_group);
  if (!server.ok()) return Fail("api socket: " + server.error().message());

  // The web UI, when configured: its own TCP listener, the same router behind
  // WebUi's guards (api/web_ui.h).
  std::unique_ptr<HttpServer> web_server;
  if (!config.web_listen_addr.empty()) {
    auto w = HttpServer::ListenTcp(config.web_listen_addr);
    if (!w.ok()) return Fail("config: web_listen_addr: " + w.error().message());
    web_server = std::move(*w);
  }

  DaemonInfo info{kBangerVersion, home.root, static_cast<int>(::getpid()), Now(), BackendName(default_backend),
                  bo.qemu_accel};
  if (web_server) {
    std::string host = config.web_listen_addr.substr(0, config.web_listen_addr.rfind(':'));
    info.web_url = "http://" + host + ":" + std::to_string(web_server->port()) + "/";
  }
  StopLatch stop;

  SessionService sessions(vms, **store, events);
  VmMonitor monitor(vms, **store, RealProcessOps(), deps.backends);
  WorkspaceService workspaces(vms, **store, events, home.root + "/tmp");
  ApiRouter router(vms, sessions, monitor, workspaces, events, info, [&stop] { stop.Trigger(); });

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
  std::thread sweeper([&] {
    for (int tick = 1; !stop.WaitFor(std::chrono::seconds(2)); ++tick) {
      vms.SweepDead();
      // Sessions cost an exec each to check: every 10 s is enough to record their end.
      if (tick % 5 == 0) sessions.PollRunning();
    }
  });

  // Stats, VMM metrics and auto-stop, each at its own interval (config).
  std::thread upkeep([&] {
    using clock = std::chrono::steady_clock;
    const auto idle_after = std::chrono::duration_cast<std::chrono::seconds>(config.auto_stop_stale_after);
    // The seed sweeps for stale VMs every minute; a shorter idle limit is checked more often.
    const auto stale_every = std::clamp<std::chrono::milliseconds>(config.auto_stop_stale_after / 4,
                                                                  std::chrono::seconds(1), std::chrono::minutes(1));
    auto next_stats = clock::now() + config.stats_poll_interval;
    auto next_metrics = clock::now() + config.metrics_poll_interval;
    auto next_stale = clock::now() + stale_every;
    while (!stop.WaitFor(std::chrono::milliseconds(500))) {
      auto now = clock::now();
      if (now >= next_stats) {
        monitor.CollectStats();
        next_stats = now + config.stats_poll_interval;
      }
      if (now >= next_metrics) {
        monitor.CollectMetrics();
        next_metrics = now + config.metrics_poll_interval;
      }
      if (idle_after.count() > 0 && now >= next_stale) {
        monitor.StopStale(Now(), idle_after);
        next_stale = now + stale_every;
      }
    }
  });

  WebUi web(router);
  std::thread web_thread;
  if (web_server) {
    spdlog::info("web UI on http://{} (port {})", config.web_listen_addr, web_server->port());
    web_thread = std::thread([&] { web_server->Serve([&web](const HttpRequest& r) { return web.Handle(r); }); });
  }

  spdlog::info("bangerd ready on {}", home.Socket());
  (*server)->Serve([&router](const HttpRequest& r) { return router.Handle(r); });

  stop.Trigger();
  stopper.join();
  sweeper.join();
  upkeep.join();
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
