#include "app/daemon_app.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "api/server.h"
#include "api/web_ui.h"
#include "app/systemd_glue.h"
#include "base/account.h"
#include "base/fs.h"
#include "base/fs_cloexec.h"
#include "base/log.h"
#include "config/config.h"
#include "daemon/agent_pool.h"
#include "daemon/cow_root.h"
#include "daemon/events.h"
#include "daemon/guest_exec.h"
#include "daemon/image_service.h"
#include "daemon/monitor.h"
#include "daemon/port_service.h"
#include "daemon/reconcile.h"
#include "daemon/session_service.h"
#include "daemon/snapshot_service.h"
#include "daemon/template_service.h"
#include "daemon/upkeep.h"
#include "daemon/vm_service.h"
#include "http/http.h"
#include "storage/devmapper.h"
#include "storage/disk.h"
#include "store/store.h"
#include "vmm/backend.h"
#include "vmm/cgroup.h"

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
// banger-agent beside this bangerd (a build tree, setup.sh's /usr/local/bin),
// else <prefix>/lib/banger/banger-agent for bangerd in <prefix>/bin (the
// Debian package: /usr/lib/banger, it is no command of the host's).
std::string AgentBinaryPath() {
  if (const char* env = std::getenv("BANGER_AGENT_BIN"); env && *env) return env;
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string self(buf, static_cast<size_t>(n));
  std::string dir = self.substr(0, self.rfind('/'));
  std::string beside = dir + "/banger-agent";
  if (IsRegularFile(beside)) return beside;
  std::string prefix = dir.substr(0, dir.rfind('/'));
  if (std::string lib = prefix + "/lib/banger/banger-agent"; IsRegularFile(lib)) return lib;
  return beside;  // named in the "not found" error
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

// What one listener lets clients hold (config api_/web_max_connections, http_*).
HttpLimits ListenerLimits(const DaemonConfig& config, int max_connections) {
  HttpLimits l;
  l.max_connections = max_connections;
  l.header_timeout = config.http_header_timeout;
  l.idle_timeout = config.http_idle_timeout;
  l.ws_write_timeout = config.ws_write_timeout;
  l.max_body_bytes = static_cast<size_t>(config.http_max_body_bytes);
  return l;
}

// The API socket, 0600 (0660 with config socket_group): the one systemd
// passed (socket activation, `activated`), else bound here.
Result<std::unique_ptr<HttpServer>> ListenApi(const HomeLayout& home, const DaemonConfig& config,
                                              std::optional<UniqueFd> activated) {
  std::optional<gid_t> sock_group;
  if (!config.socket_group.empty()) {
    auto g = LookupGroup(config.socket_group);
    if (!g.ok()) return Error::Invalid("config: socket_group: " + g.error().message());
    sock_group = *g;
  }
  const mode_t mode = sock_group ? 0660 : 0600;
  Result<std::unique_ptr<HttpServer>> server = Error::Internal("api socket: not made");
  if (activated) {
    // The config decides who may connect, whatever SocketMode/SocketGroup said.
    const std::string path = home.Socket();
    if (sock_group && ::chown(path.c_str(), static_cast<uid_t>(-1), *sock_group) != 0) {
      return Error::FromErrno("api socket: chown " + path + " to group " + config.socket_group);
    }
    if (::chmod(path.c_str(), mode) != 0) return Error::FromErrno("api socket: chmod " + path);
    server = HttpServer::AdoptUnix(std::move(*activated), path);
    spdlog::info("api socket {}: passed by the service manager (socket activation)", path);
  } else {
    server = HttpServer::ListenUnix(home.Socket(), mode, sock_group);
  }
  if (!server.ok()) return Error::Unavailable("api socket: " + server.error().message());
  (*server)->SetLimits(ListenerLimits(config, config.api_max_connections));
  return std::move(*server);
}

// The web UI's TCP listener when config web_listen_addr is set (else null):
// the same router behind WebUi's guards (api/web_ui.h).
Result<std::unique_ptr<HttpServer>> ListenWeb(const DaemonConfig& config) {
  if (config.web_listen_addr.empty()) return std::unique_ptr<HttpServer>();
  auto w = HttpServer::ListenTcp(config.web_listen_addr);
  if (!w.ok()) return Error::Invalid("config: web_listen_addr: " + w.error().message());
  (*w)->SetLimits(ListenerLimits(config, config.web_max_connections));
  return std::move(*w);
}

// Host networking when config network = "on" (else null), DNS responder running.
Result<std::unique_ptr<VmNetwork>> StartNetwork(const DaemonConfig& config,
                                                const std::optional<UserAccount>& vmm_user) {
  if (config.network != "on") return std::unique_ptr<VmNetwork>();
  // Taps belong to the VMM user, so an unprivileged Firecracker (jailed or
  // not) can attach to its own; QEMU opens its tap before -runas anyway.
  std::optional<TapPool::Owner> owner;
  if (vmm_user) owner = TapPool::Owner{vmm_user->name, vmm_user->uid};
  auto net = VmNetwork::Create(RealNetOps(), config, owner);
  if (!net.ok()) return Error::Unavailable("network: " + net.error().message());
  if (auto st = (*net)->StartDns(); !st.ok()) {
    return Error::Unavailable("network: DNS responder: " + st.error().message());
  }
  return std::move(*net);
}

}  // namespace

namespace {

// Who may enter the home (docs/security.md "Files on the host"): its owner
// only; with socket_group, that group may also traverse it (x, not r) to
// reach bangerd.sock. Everything inside is its owner's only. This is the one
// place deciding these modes.
constexpr mode_t kHomeMode = 0700;
constexpr mode_t kHomeGroupTraverseMode = 0710;
constexpr mode_t kInnerDirMode = 0700;
constexpr mode_t kFileMode = 0600;

// Whether a name at the top of the home is banger's (a home given with
// --home may hold other things: those are left alone).
bool IsBangerEntry(const std::string& name) {
  static const std::set<std::string> kNames = {"vms", "images", "cache", "ssh", "tmp", "config.toml"};
  return kNames.count(name) > 0 || name.rfind("banger.db", 0) == 0 || name.rfind("bangerd.", 0) == 0;
}

// Makes the home private whatever the umask it was made under or the banger
// that made it: every directory of banger's 0700, every file its owner's
// only, the home itself kHomeMode (or the socket group's traverse mode).
Status SecureHome(const HomeLayout& home, const DaemonConfig& config) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(home.root, ec)) {
    if (IsBangerEntry(e.path().filename().string())) {
      BANGER_RETURN_IF_ERROR(RestrictTree(e.path().string(), kInnerDirMode));
    }
  }
  if (ec) return Error::Internal("listing " + home.root + ": " + ec.message());
  mode_t home_mode = kHomeMode;
  if (!config.socket_group.empty()) {
    auto g = LookupGroup(config.socket_group);
    if (!g.ok()) return Error::Invalid("config: socket_group: " + g.error().message());
    if (::chown(home.root.c_str(), static_cast<uid_t>(-1), *g) != 0) {
      return Error::FromErrno("giving group " + config.socket_group + " the home " + home.root);
    }
    home_mode = kHomeGroupTraverseMode;
  }
  if (::chmod(home.root.c_str(), home_mode) != 0) return Error::FromErrno("chmod " + home.root);
  // SQLite creates the database (and its -wal/-shm, which take the
  // database's mode) with the umask's mode: made first, private.
  return CreateFileWithMode(home.Database(), kFileMode);
}

// Takes the home's lock (kept in `lock` for the daemon's life), reads the
// config, makes the home private, starts logging and makes the home's
// directories.
Result<DaemonConfig> PrepareHome(const DaemonOptions& opts, const HomeLayout& home,
                                 std::optional<FileLock>& lock) {
  BANGER_RETURN_IF_ERROR(MakeDirs(home.root, kHomeMode));
  auto l = FileLock::TryAcquire(home.LockFile());
  if (!l.ok()) {
    if (l.error().kind() == ErrorKind::kConflict) {
      return Error::Conflict(kHomeLockedMessage + home.root);
    }
    return std::move(l).error();
  }
  lock.emplace(std::move(*l));
  auto cfg = LoadConfig(opts.config_path);
  if (!cfg.ok()) return std::move(cfg).error().Wrap("config");
  // Staging of interrupted workspace copies: nothing in tmp outlives a daemon.
  (void)RemoveAll(home.root + "/tmp");
  BANGER_RETURN_IF_ERROR(Annotate(SecureHome(home, *cfg), "securing home " + home.root));
  BANGER_RETURN_IF_ERROR(InitLogging(cfg->log_level, home.DaemonLog(), opts.foreground,
                                     LogFileLimits{cfg->log_max_bytes, cfg->log_max_files}));
  for (const auto& d : {home.VmsDir(), home.ImagesDir()}) BANGER_RETURN_IF_ERROR(MakeDirs(d, kInnerDirMode));
  spdlog::info("bangerd {} starting: home {}, config {}", kBangerVersion, home.root, opts.config_path);
  return *cfg;
}

// Per-VM cgroups when config vm_cgroups = "auto" and this host lets us
// (else null: VMs run without, as in a container without cgroup access).
std::unique_ptr<VmCgroups> StartCgroups(const DaemonConfig& config) {
  if (config.vm_cgroups == "off") {
    spdlog::info("per-VM cgroups: off (config vm_cgroups)");
    return nullptr;
  }
  auto cg = std::make_unique<VmCgroups>(DetectCgroupHost());
  if (!cg->enabled()) {
    spdlog::warn("per-VM cgroups: unavailable ({}); VMs run without", cg->host().why_none);
    return nullptr;
  }
  if (auto st = cg->Probe(); !st.ok()) {
    spdlog::warn("per-VM cgroups: cgroup {} is not writable here ({}); VMs run without",
                 CgroupVersionName(cg->host().version), st.error().message());
    return nullptr;
  }
  spdlog::info("per-VM cgroups: on (cgroup {})", CgroupVersionName(cg->host().version));
  return cg;
}

// What the API serves, built over the store: every use case and its parts.
struct Services {
  BackendOptions backend_opts;
  BackendKind default_backend = BackendKind::kQemu;
  std::unique_ptr<VmmBackend> fc, qemu;
  std::unique_ptr<DiskOps> disks;  // e2fsprogs on guest-written disks as the vmm user
  std::unique_ptr<EventLog> events;
  std::unique_ptr<AgentPool> agents;
  std::unique_ptr<CowRoot> cow;
  std::unique_ptr<VmNetwork> network;
  std::unique_ptr<VmCgroups> cgroups;
  std::unique_ptr<VmService> vms;
  std::unique_ptr<ImageService> images;
  std::unique_ptr<SessionService> sessions;
  std::unique_ptr<VmMonitor> monitor;
  std::unique_ptr<WorkspaceService> workspaces;
  std::unique_ptr<SnapshotService> snapshots;
  std::unique_ptr<TemplateService> templates;
  std::unique_ptr<GuestExec> exec;
  std::unique_ptr<PortService> ports;  // published ports; follows VM state (SetStateHook)
};

Result<std::unique_ptr<Services>> MakeServices(const HomeLayout& home, const DaemonConfig& config,
                                               Store& store) {
  auto s = std::make_unique<Services>();
  s->backend_opts.firecracker_bin = config.firecracker_bin;
  s->backend_opts.qemu_bin = config.qemu_bin;
  s->backend_opts.qemu_accel = ResolveQemuAccel(config);
  s->backend_opts.jailer_bin = config.jailer_bin;
  BANGER_ASSIGN_OR_RETURN(s->backend_opts.vmm_user, ResolveVmmUser(config, ::geteuid()));
  std::optional<Credentials> tools_user;
  if (const auto& u = s->backend_opts.vmm_user) tools_user = Credentials{u->uid, u->gid, {}};
  s->disks = MakeRealDiskOps(tools_user);
  spdlog::info(
      "vmm processes run as {}{}",
      s->backend_opts.vmm_user ? s->backend_opts.vmm_user->name : std::string("the daemon's user"),
      config.jailer_bin.empty() ? "" : " (firecracker through its jailer " + config.jailer_bin + ")");
  s->fc = MakeFirecrackerBackend(s->backend_opts, RealProcessOps());
  s->qemu = MakeQemuBackend(s->backend_opts, RealProcessOps());
  s->default_backend = ResolveBackend(config);
  spdlog::info("default backend {}, qemu accel {}", BackendName(s->default_backend),
               s->backend_opts.qemu_accel);

  s->events = std::make_unique<EventLog>(store);
  s->agents = std::make_unique<AgentPool>(RealAgentConnector());
  // The copy-on-write root, chosen once (config cow_mode).
  s->cow = MakeCowRoot(config.cow_mode, &RealDeviceMapperOps(), RealDiskOps(), store);
  BANGER_ASSIGN_OR_RETURN(s->network, StartNetwork(config, s->backend_opts.vmm_user));
  s->cgroups = StartCgroups(config);
  VmServiceDeps deps;
  deps.home = home;
  deps.config = config;
  deps.store = &store;
  deps.events = s->events.get();
  deps.procs = &RealProcessOps();
  deps.disks = s->disks.get();
  deps.cow = s->cow.get();
  deps.agents = s->agents.get();
  deps.network = s->network.get();
  deps.cgroups = s->cgroups.get();
  deps.backends = {{BackendKind::kFirecracker, s->fc.get()}, {BackendKind::kQemu, s->qemu.get()}};
  deps.default_backend = s->default_backend;
  s->vms = std::make_unique<VmService>(deps);
  s->images = std::make_unique<ImageService>(
      ImageServiceDeps{home, config, &store, s->events.get(), AgentBinaryPath()});
  s->sessions = std::make_unique<SessionService>(*s->vms, store, *s->events);
  s->monitor = std::make_unique<VmMonitor>(*s->vms, store, RealProcessOps(), deps.backends);
  s->workspaces = std::make_unique<WorkspaceService>(*s->vms, store, *s->events, home.root + "/tmp");
  s->snapshots =
      std::make_unique<SnapshotService>(SnapshotServiceDeps{&store, s->events.get(), s->vms.get()});
  TemplateServiceDeps tdeps;
  tdeps.home = home;
  tdeps.file_sync = config.file_sync;
  tdeps.store = &store;
  tdeps.events = s->events.get();
  tdeps.vms = s->vms.get();
  tdeps.snapshots = s->snapshots.get();
  s->templates = std::make_unique<TemplateService>(std::move(tdeps));
  s->exec = std::make_unique<GuestExec>(*s->vms);
  VmService* vms = s->vms.get();
  s->ports = std::make_unique<PortService>(
      store, PortService::GuestExecOpener(*s->exec, std::chrono::seconds(30)), [vms](const std::string& id) {
        auto v = vms->store().GetVm(id);
        return v.ok() && VmStateHasVmm(v->state);
      });
  PortService* ports = s->ports.get();
  s->vms->SetStateHook([ports](const VmRecord& vm, VmState from) {
    bool had = VmStateHasVmm(from), has = VmStateHasVmm(vm.state);
    if (has && !had) ports->VmmUp(vm.id);
    if (!has && had) ports->VmmDown(vm.id);
  });
  s->images->SetOnDeleted([t = s->templates.get()](const std::string&) { t->RemoveOrphanDirs(); });
  return s;
}

// Serves the API (and the web UI) until a stop: signal, `daemon stop`.
void Serve(const HomeLayout& home, const DaemonConfig& config, Services& s, HttpServer& server,
           std::unique_ptr<HttpServer> web_server, sigset_t stop_sigs) {
  DaemonInfo info{kBangerVersion,
                  home.root,
                  static_cast<int>(::getpid()),
                  Now(),
                  BackendName(s.default_backend),
                  s.backend_opts.qemu_accel};
  if (web_server) {
    std::string host = config.web_listen_addr.substr(0, config.web_listen_addr.rfind(':'));
    info.web_url = "http://" + host + ":" + std::to_string(web_server->port()) + "/";
  }
  StopLatch stop;
  // The web UI's logins (api/web_auth.h), issued on the socket, checked on the web listener.
  WebAuth web_auth(config.web_session_ttl, WebAuth::kDefaultLoginTtl, home.WebMetricsTokens());
  ApiRouter router(
      *s.vms, *s.images, *s.sessions, *s.monitor, *s.workspaces, *s.events, info, [&stop] { stop.Trigger(); },
      &web_auth, s.snapshots.get(), s.templates.get(), s.ports.get());
  router.metrics().SetServer(Listener::kUnix, &server);  // GET /metrics: open connections
  if (web_server) router.metrics().SetServer(Listener::kWeb, web_server.get());

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
    NotifyStopping();
    s.vms->BeginShutdown();
    // Every wait on a guest (exec streams, session checks) fails now, so
    // a guest that never answers cannot hold up the stop.
    s.agents->Shutdown();
    // Closes the published ports and ends their relays (each fails fast now).
    s.ports->Shutdown();
    s.events->Close();
    server.Shutdown();
    if (web_server) web_server->Shutdown();
  });
  // Sweeper (incl. `vm run --rm`), stats, metrics and auto-stop threads (daemon/upkeep.h).
  Upkeep upkeep(*s.vms, *s.sessions, *s.monitor, config);
  upkeep.Start();

  WebUi web_ui(router, web_auth);
  std::thread web_thread;
  if (web_server) {
    spdlog::info("web UI on http://{} (port {}); `banger web open` logs in", config.web_listen_addr,
                 web_server->port());
    web_thread =
        std::thread([&] { web_server->Serve([&web_ui](const HttpRequest& r) { return web_ui.Handle(r); }); });
  }

  spdlog::info("bangerd ready on {}", home.Socket());
  // Listeners up (connections queue until accepted), reconcile done: a
  // Type=notify unit's start completes here.
  NotifyReady("serving on " + home.Socket());
  server.Serve([&router](const HttpRequest& r) { return router.Handle(r); });

  stop.Trigger();
  stopper.join();
  upkeep.Stop();
  if (web_thread.joinable()) web_thread.join();
  // SIGTERM is blocked and sigwait()ed by that thread: this wakes it, it kills nothing.
  // NOLINTNEXTLINE(bugprone-bad-signal-to-kill-thread)
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
}

}  // namespace

int RunDaemon(const DaemonOptions& opts) {
  // Whatever started us may have left fds open: none passes on to a VMM.
  if (auto st = MarkCloseOnExecFrom(3); !st.ok()) return Fail(st.error().message());
  HomeLayout home{opts.home};
  // Socket activation (bangerd.socket): taken first, so the variables do not
  // reach any child.
  auto activated = TakeActivatedSocket(home.Socket());
  if (!activated.ok()) return Fail(activated.error().message());
  std::optional<FileLock> lock;
  auto cfg = PrepareHome(opts, home, lock);
  if (!cfg.ok()) return Fail(cfg.error().message());
  const DaemonConfig& config = *cfg;

  auto store = Store::Open(home.Database());
  if (!store.ok()) return Fail("opening store: " + store.error().message());
  auto services = MakeServices(home, config, **store);
  if (!services.ok()) return Fail(services.error().message());
  Services& s = **services;
  if (auto st = Reconcile(*s.vms, {home, store->get(), s.network.get()}); !st.ok()) {
    return Fail("reconcile: " + st.error().message());
  }
  // After the VMs: it relies on their re-adopted VMMs.
  s.snapshots->Reconcile();
  s.templates->Reconcile();
  // Re-listens on the published ports of VMs that still have a VMM.
  s.ports->ReconcileAll();

  sigset_t stop_sigs = BlockStopSignals();
  auto server = ListenApi(home, config, std::move(*activated));
  if (!server.ok()) return Fail(server.error().message());
  auto web = ListenWeb(config);
  if (!web.ok()) return Fail(web.error().message());
  Serve(home, config, s, **server, std::move(*web), stop_sigs);
  if (s.network) s.network->Stop();
  spdlog::info("bangerd stopped (running VMs keep running)");
  return 0;
}

}  // namespace banger
