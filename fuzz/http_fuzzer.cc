// The daemon's HTTP edge against hostile clients: the input is the bytes of
// one client connection into a real HttpServer (a Unix socket in a temp dir)
// whose handler is the real ApiRouter over the fake daemon the API tests use
// (SQLite in memory, fake VMM, processes and disks), or the web UI (WebUi's
// guards in front of the same router) on a second server. The first input
// byte picks the server and how the bytes are cut into writes.
//
// Invariants: nothing crashes, leaks or hangs; the server answers with HTTP
// (or closes); through the web UI, POST /v1/daemon/stop never reaches the
// daemon and a connection becomes a WebSocket only on a WebSocket request
// that sends an Origin.
//
// The process moves itself into a network namespace of its own first: the
// router could be asked for things that reach out (image builds download
// packages), and a fuzzer must never send traffic anywhere.
#include <poll.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "api/server.h"
#include "api/web_auth.h"
#include "api/web_ui.h"
#include "base/fs.h"
#include "base/time.h"
#include "daemon/events.h"
#include "daemon/fakes.h"
#include "daemon/image_service.h"
#include "daemon/monitor.h"
#include "daemon/session_service.h"
#include "daemon/vm_service.h"
#include "daemon/workspace_service.h"
#include "fuzz/fuzz_util.h"
#include "store/store.h"

namespace banger {
namespace {

using Clock = std::chrono::steady_clock;

// Set on a web UI connection's thread while WebUi handles its request.
thread_local bool t_in_web_ui = false;

// The fake daemon: everything ApiTest (api/server_test.cc) wires, plus one
// image and one VM so that routes with an id find something. Never freed:
// connection threads may still run when the process exits.
struct World {
  std::string root;
  std::unique_ptr<Store> store;
  std::unique_ptr<EventLog> events;
  testing::FakeProcs procs;
  testing::FakeDisks disks;
  std::unique_ptr<testing::FakeBackend> qemu;
  std::unique_ptr<VmService> vms;
  std::unique_ptr<ImageService> images;
  std::unique_ptr<SessionService> sessions;
  std::unique_ptr<VmMonitor> monitor;
  std::unique_ptr<WorkspaceService> workspaces;
  std::unique_ptr<ApiRouter> router;
  WebAuth auth;
  std::string session_cookie;  // a logged-in browser's, for inputs that say @S@
  std::unique_ptr<WebUi> web;
  std::unique_ptr<HttpServer> api_server, web_server;
  std::string api_sock, web_sock;
};

World* Build() {
  auto* w = new World;
  w->root = fuzz::MakeTempDir("bfh");
  BANGER_FUZZ_CHECK(MakeDirs(w->root + "/vms").ok());
  BANGER_FUZZ_CHECK(MakeDirs(w->root + "/tmp").ok());
  auto s = Store::Open(":memory:");
  BANGER_FUZZ_CHECK(s.ok());
  w->store = std::move(*s);
  w->events = std::make_unique<EventLog>(*w->store);
  w->qemu = std::make_unique<testing::FakeBackend>(BackendKind::kQemu, w->procs);
  VmServiceDeps d;
  d.home = HomeLayout{w->root};
  d.config.default_image_name = "base";
  d.store = w->store.get();
  d.events = w->events.get();
  d.procs = &w->procs;
  d.disks = &w->disks;
  d.backends = {{BackendKind::kQemu, w->qemu.get()}};
  w->vms = std::make_unique<VmService>(d);
  w->images =
      std::make_unique<ImageService>(ImageServiceDeps{d.home, d.config, w->store.get(), w->events.get(), ""});
  w->sessions = std::make_unique<SessionService>(*w->vms, *w->store, *w->events);
  w->monitor = std::make_unique<VmMonitor>(*w->vms, *w->store, w->procs, d.backends);
  w->workspaces = std::make_unique<WorkspaceService>(*w->vms, *w->store, *w->events, w->root + "/tmp");
  w->router = std::make_unique<ApiRouter>(
      *w->vms, *w->images, *w->sessions, *w->monitor, *w->workspaces, *w->events,
      DaemonInfo{"0.1.0", w->root, 1, Now(), "qemu", "tcg", ""},
      // Through the web UI, a stop must never get here.
      [] { BANGER_FUZZ_CHECK(!t_in_web_ui); }, &w->auth);
  auto login = w->auth.IssueLogin(1000);
  BANGER_FUZZ_CHECK(login.ok());
  auto session = w->auth.Redeem(*login);
  BANGER_FUZZ_CHECK(session.ok());
  w->session_cookie = *session;
  w->web = std::make_unique<WebUi>(*w->router, w->auth);

  for (const char* f : {"vmlinux", "rootfs.ext4"}) {
    BANGER_FUZZ_CHECK(WriteFileAtomic(w->root + "/" + f, "x").ok());
  }
  ImportImageRequest img;
  img.name = "base";
  img.kernel_path = w->root + "/vmlinux";
  img.rootfs_path = w->root + "/rootfs.ext4";
  BANGER_FUZZ_CHECK(w->images->ImportImage(img).ok());
  CreateVmRequest vm;
  vm.name = "v1";
  BANGER_FUZZ_CHECK(w->vms->Create(vm).ok());

  w->api_sock = w->root + "/api.sock";
  w->web_sock = w->root + "/web.sock";
  auto api = HttpServer::ListenUnix(w->api_sock, 0600);
  auto web = HttpServer::ListenUnix(w->web_sock, 0600);
  BANGER_FUZZ_CHECK(api.ok() && web.ok());
  w->api_server = std::move(*api);
  w->web_server = std::move(*web);
  std::thread([w] {
    w->api_server->Serve([w](const HttpRequest& r) { return w->router->Handle(r); });
  }).detach();
  std::thread([w] {
    w->web_server->Serve([w](const HttpRequest& r) {
      t_in_web_ui = true;
      HttpResponse resp = w->web->Handle(r);
      t_in_web_ui = false;
      // A WebSocket only on a WebSocket request with its Origin (web_ui.cc).
      BANGER_FUZZ_CHECK(resp.status != 101 ||
                        (resp.websocket && IsWebSocketUpgrade(r) && r.headers.count("origin")));
      return resp;
    });
  }).detach();
  return w;
}

void PrivateNetwork() {
  if (::unshare(CLONE_NEWNET) == 0) return;
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) return;
  std::fprintf(stderr, "http fuzzer: cannot enter a network namespace of its own (%s); refusing to run\n",
               std::strerror(errno));
  std::exit(1);
}

// Sends `bytes` in writes of `step`, half-closes, and reads the answer for at
// most `wait` (long polls may hold the connection for up to a minute).
std::string Exchange(const std::string& sock, std::string_view bytes, size_t step,
                     std::chrono::milliseconds wait) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BANGER_FUZZ_CHECK(fd.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
  BANGER_FUZZ_CHECK(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  for (size_t off = 0; off < bytes.size(); off += step) {
    std::string_view part = bytes.substr(off, step);
    if (::send(fd.get(), part.data(), part.size(), MSG_NOSIGNAL) < 0) break;
  }
  ::shutdown(fd.get(), SHUT_WR);
  std::string out;
  auto deadline = Clock::now() + wait;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[65536];
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    if (out.size() < (1u << 20)) out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace
}  // namespace banger

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  banger::PrivateNetwork();
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger;
  static World* world = Build();
  fuzz::Input in(data, size);
  uint8_t mode = in.U8();
  bool web = mode & 1;
  size_t step = mode & 2 ? 1 + (mode >> 2) : 1 << 20;
  // "@S@" in the input stands for a live web session token, so that inputs
  // reach the routes behind the login as well as the refusal in front of it.
  std::string bytes(in.Rest());
  for (size_t at = bytes.find("@S@"); at != std::string::npos; at = bytes.find("@S@", at)) {
    bytes.replace(at, 3, world->session_cookie);
    at += world->session_cookie.size();
  }
  std::string reply =
      Exchange(web ? world->web_sock : world->api_sock, bytes, step, std::chrono::milliseconds(2000));
  // HTTP/1.0 requests get HTTP/1.0 answers.
  if (!reply.empty()) BANGER_FUZZ_CHECK(reply.rfind("HTTP/1.1 ", 0) == 0 || reply.rfind("HTTP/1.0 ", 0) == 0);
  return 0;
}
