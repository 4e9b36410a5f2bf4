#include "daemon/port_service.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <thread>
#include <utility>

#include "base/log.h"
#include "daemon/guest_exec.h"

namespace banger {
namespace {

constexpr const char* kGuestAgent = "/usr/local/sbin/banger-agent";

// A GuestCommand as the relay's guest end.
class CommandGuest final : public RelayGuest {
 public:
  explicit CommandGuest(std::unique_ptr<GuestCommand> cmd) : cmd_(std::move(cmd)) {}
  Status Write(std::string_view data) override { return cmd_->channel().WriteStdin(data); }
  Status CloseWrite() override { return cmd_->channel().CloseStdin(); }
  Result<ExecEvent> Next() override { return cmd_->Next(); }
  void Abort(const std::string& reason) override { cmd_->channel().Abort(reason); }

 private:
  std::unique_ptr<GuestCommand> cmd_;
};

std::string HostAddress(const PortMapping& p) {
  return p.host_ip + ":" + std::to_string(p.host_port) + "/" + p.protocol;
}

}  // namespace

Result<UniqueFd> BindPort(const PortMapping& p) {
  if (p.protocol != "tcp" && p.protocol != "udp") {
    return Error::Invalid("port " + p.Spec() + ": only tcp and udp ports can be published");
  }
  const bool udp = p.protocol == "udp";
  UniqueFd fd(::socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return Error::Internal(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  // Lets a re-listen after a daemon restart bind over old TIME_WAIT connections.
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(p.host_port));
  if (::inet_pton(AF_INET, p.host_ip.c_str(), &a.sin_addr) != 1) {
    return Error::Invalid("port " + p.Spec() + ": host address is not an IPv4 literal");
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
      (!udp && ::listen(fd.get(), 128) != 0)) {
    int err = errno;
    if (err == EADDRINUSE) return Error::Conflict("host port " + HostAddress(p) + " is in use");
    return Error::Unavailable("cannot listen on host port " + HostAddress(p) + ": " + std::strerror(err));
  }
  return fd;
}

// One relayed connection, shared by its thread and whoever stops it.
struct Conn {
  std::string vm_id;
  std::string port_key;
  std::atomic<bool> stop{false};
  std::mutex mu;
  int fd = -1;                  // Guarded by mu; closed (-1) by the connection's thread.
  RelayGuest* guest = nullptr;  // Guarded by mu; set while the relay runs.

  void Stop(const std::string& why) {
    std::lock_guard<std::mutex> lk(mu);
    stop = true;
    if (guest) guest->Abort(why);
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
};

// Every live connection, for the caps and for Shutdown's wait.
struct PortService::Conns {
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::shared_ptr<Conn>> live;  // Guarded by mu.

  int Count(const std::function<bool(const Conn&)>& pred) {
    int n = 0;
    for (const auto& c : live) n += pred(*c) ? 1 : 0;
    return n;
  }
};

struct PortService::Listener {
  PortMapping port;
  UniqueFd fd, wake_r, wake_w;
  std::thread acceptor;

  ~Listener() {
    if (acceptor.joinable()) {
      char b = 1;
      (void)!::write(wake_w.get(), &b, 1);
      acceptor.join();
    }
  }
};

PortService::PortService(Store& store, OpenFn open, HasVmmFn has_vmm, PortServiceOptions opts)
    : store_(store),
      open_(std::move(open)),
      has_vmm_(std::move(has_vmm)),
      opts_(opts),
      conns_(std::make_shared<Conns>()) {}

PortService::~PortService() { Shutdown(); }

PortService::OpenFn PortService::GuestExecOpener(GuestExec& exec, std::chrono::milliseconds agent_timeout) {
  return [&exec, agent_timeout](const PortMapping& p) -> Result<std::unique_ptr<RelayGuest>> {
    ExecRequest req;
    req.argv = {kGuestAgent, p.protocol == "udp" ? "--connect-udp" : "--connect",
                "127.0.0.1:" + std::to_string(p.guest_port)};
    BANGER_ASSIGN_OR_RETURN(auto cmd, exec.Open(p.vm_id, req, agent_timeout));
    return std::unique_ptr<RelayGuest>(new CommandGuest(std::move(cmd)));
  };
}

Result<PortReservation> PortService::Reserve(const std::vector<PortMapping>& ports) {
  BANGER_ASSIGN_OR_RETURN(auto recorded, store_.ListPorts(""));
  PortReservation r;
  for (const auto& p : ports) {
    for (const auto& o : recorded) {
      if (o.SameHostAddress(p))
        return Error::Conflict("host port " + HostAddress(p) + " is already published");
    }
    BANGER_ASSIGN_OR_RETURN(UniqueFd fd, BindPort(p));
    r.sockets.emplace_back(p, std::move(fd));
  }
  return r;
}

Status PortService::Attach(const std::string& vm_id, PortReservation r) {
  auto sockets = std::move(r.sockets);  // consumed: closed unless served
  std::vector<PortMapping> done;
  for (auto& [p, fd] : sockets) {
    PortMapping row = p;
    row.vm_id = vm_id;
    if (auto st = store_.InsertPort(row); !st.ok()) {
      for (const auto& d : done) (void)store_.DeletePort(d);
      return st;
    }
    done.push_back(row);
  }
  bool up = has_vmm_(vm_id);
  std::lock_guard<std::mutex> lk(mu_);
  if (shut_down_) return OkStatus();
  // Under mu_: a VmmDown after has_vmm_ answered closes what this opens.
  if (up && has_vmm_(vm_id)) {
    for (auto& [p, fd] : sockets) {
      PortMapping row = p;
      row.vm_id = vm_id;
      ListenLocked(row, std::move(fd));
    }
  }
  return OkStatus();
}

Result<PortStatus> PortService::Add(const std::string& vm_id, const PortMapping& p) {
  PortMapping row = p;
  row.vm_id = vm_id;
  // Bound first: a taken port fails before anything is recorded.
  BANGER_ASSIGN_OR_RETURN(UniqueFd fd, BindPort(row));
  BANGER_RETURN_IF_ERROR(store_.InsertPort(row));
  PortStatus out{row, false, ""};
  std::lock_guard<std::mutex> lk(mu_);
  if (!shut_down_ && has_vmm_(vm_id)) {
    ListenLocked(row, std::move(fd));
    out.listening = true;
  }
  return out;  // a VM without a VMM: the test bind is released, VmmUp listens
}

Status PortService::Remove(const std::string& vm_id, const PortMapping& p) {
  PortMapping row = p;
  row.vm_id = vm_id;
  BANGER_RETURN_IF_ERROR(store_.DeletePort(row));
  std::lock_guard<std::mutex> lk(mu_);
  CloseLocked(vm_id, [&](const PortMapping& l) { return l.SameHostAddress(row); });
  errors_.erase(row.Spec());
  return OkStatus();
}

Result<std::vector<PortStatus>> PortService::List(const std::string& vm_id) {
  BANGER_ASSIGN_OR_RETURN(auto rows, store_.ListPorts(vm_id));
  std::vector<PortStatus> out;
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& p : rows) {
    PortStatus s{p, false, ""};
    auto it = listen_.find(p.Spec());
    s.listening = it != listen_.end() && it->second->port.vm_id == p.vm_id;
    if (auto e = errors_.find(p.Spec()); e != errors_.end() && !s.listening) s.error = e->second.second;
    out.push_back(std::move(s));
  }
  return out;
}

void PortService::VmmUp(const std::string& vm_id) {
  auto rows = store_.ListPorts(vm_id);
  if (!rows.ok()) {
    spdlog::warn("vm {}: published ports: {}", vm_id, rows.error().message());
    return;
  }
  std::lock_guard<std::mutex> lk(mu_);
  if (shut_down_) return;
  for (const auto& p : *rows) {
    if (listen_.count(p.Spec())) continue;
    auto fd = BindPort(p);
    if (!fd.ok()) {
      spdlog::warn("vm {}: not publishing {}: {}", vm_id, p.Spec(), fd.error().message());
      errors_[p.Spec()] = {vm_id, fd.error().message()};
      continue;
    }
    errors_.erase(p.Spec());
    ListenLocked(p, std::move(*fd));
  }
}

void PortService::VmmDown(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(mu_);
  CloseLocked(vm_id, [](const PortMapping&) { return true; });
  std::erase_if(errors_, [&](const auto& kv) { return kv.second.first == vm_id; });
}

void PortService::ReconcileAll() {
  auto rows = store_.ListPorts("");
  if (!rows.ok()) {
    spdlog::warn("reconcile: published ports: {}", rows.error().message());
    return;
  }
  std::set<std::string> vms;
  for (const auto& p : *rows) vms.insert(p.vm_id);
  for (const auto& id : vms) {
    if (has_vmm_(id)) VmmUp(id);
  }
}

int PortService::ActiveConnections() {
  std::lock_guard<std::mutex> lk(conns_->mu);
  return conns_->Count([](const Conn&) { return true; });
}

int PortService::ActiveConnections(const std::string& vm_id) {
  std::lock_guard<std::mutex> lk(conns_->mu);
  return conns_->Count([&](const Conn& c) { return c.vm_id == vm_id; });
}

void PortService::ListenLocked(const PortMapping& p, UniqueFd fd) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    errors_[p.Spec()] = {p.vm_id, std::string("pipe: ") + std::strerror(errno)};
    return;
  }
  auto l = std::make_unique<Listener>();
  l->port = p;
  l->fd = std::move(fd);
  l->wake_r = UniqueFd(pipefd[0]);
  l->wake_w = UniqueFd(pipefd[1]);
  auto conns = conns_;
  OpenFn open = open_;
  PortServiceOptions opts = opts_;
  int lfd = l->fd.get();
  int wake = l->wake_r.get();
  std::string key = p.Spec();
  try {
    l->acceptor = std::thread([conns, open, opts, lfd, wake, p, key] {
      if (p.protocol == "udp") {
        ServeUdpPort(
            lfd, wake, p.vm_id + " " + key, [open, p] { return open(p); }, opts.udp);
        return;
      }
      for (;;) {
        pollfd fds[2] = {{lfd, POLLIN, 0}, {wake, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
        if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) return;
        int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
          // EMFILE and friends: back off a little instead of spinning.
          if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) ::poll(nullptr, 0, 100);
          continue;
        }
        int one = 1;
        ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto c = std::make_shared<Conn>();
        c->vm_id = p.vm_id;
        c->port_key = key;
        c->fd = cfd;
        {
          std::lock_guard<std::mutex> lk(conns->mu);
          int per_port = conns->Count([&](const Conn& o) { return o.port_key == key; });
          int per_vm = conns->Count([&](const Conn& o) { return o.vm_id == p.vm_id; });
          if (per_port >= opts.max_conns_per_port || per_vm >= opts.max_conns_per_vm) {
            spdlog::warn("vm {}: port {}: too many connections ({} on the port, {} on the vm); refusing one",
                         p.vm_id, key, per_port, per_vm);
            ::close(cfd);
            continue;
          }
          conns->live.insert(c);
        }
        auto finish = [conns, c] {
          {
            std::lock_guard<std::mutex> lk(c->mu);
            if (c->fd >= 0) ::close(c->fd);
            c->fd = -1;
          }
          std::lock_guard<std::mutex> lk(conns->mu);
          conns->live.erase(c);
          conns->cv.notify_all();
        };
        try {
          std::thread([c, open, opts, p, finish] {
            auto guest = open(p);
            if (!guest.ok()) {
              spdlog::warn("vm {}: port {}: {}", p.vm_id, p.Spec(), guest.error().message());
              finish();
              return;
            }
            int fd = -1;
            {
              std::lock_guard<std::mutex> lk(c->mu);
              c->guest = guest->get();
              fd = c->fd;
              if (c->stop) (*guest)->Abort("port closed");
            }
            RelayResult r = RunRelay(fd, **guest, opts.relay, c->stop);
            spdlog::debug("vm {}: port {}: connection ended ({}; {} bytes up, {} down)", p.vm_id, p.Spec(),
                          r.end, r.up_bytes, r.down_bytes);
            {
              std::lock_guard<std::mutex> lk(c->mu);
              c->guest = nullptr;
            }
            guest->reset();
            finish();
          }).detach();
        } catch (const std::system_error& e) {
          spdlog::warn("vm {}: port {}: cannot start a relay thread: {}", p.vm_id, key, e.what());
          finish();
        }
      }
    });
  } catch (const std::system_error& e) {
    errors_[key] = {p.vm_id, std::string("cannot start the acceptor: ") + e.what()};
    return;
  }
  spdlog::info("vm {}: publishing {}", p.vm_id, key);
  listen_[key] = std::move(l);
}

void PortService::CloseLocked(const std::string& vm_id,
                              const std::function<bool(const PortMapping&)>& which) {
  std::set<std::string> closed;
  for (auto it = listen_.begin(); it != listen_.end();) {
    if (it->second->port.vm_id == vm_id && which(it->second->port)) {
      closed.insert(it->first);
      spdlog::info("vm {}: no longer publishing {}", vm_id, it->first);
      it = listen_.erase(it);  // joins the acceptor and closes the socket: the port is free
    } else {
      ++it;
    }
  }
  std::lock_guard<std::mutex> lk(conns_->mu);
  for (const auto& c : conns_->live) {
    if (c->vm_id == vm_id && closed.count(c->port_key)) c->Stop("port closed");
  }
}

void PortService::Shutdown() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    listen_.clear();
  }
  std::unique_lock<std::mutex> lk(conns_->mu);
  for (const auto& c : conns_->live) c->Stop("daemon stopping");
  if (!conns_->cv.wait_for(lk, opts_.shutdown_wait, [&] { return conns_->live.empty(); })) {
    spdlog::error("published ports: {} connection(s) did not end within {} ms", conns_->live.size(),
                  opts_.shutdown_wait.count());
  }
}

}  // namespace banger
