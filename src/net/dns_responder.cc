#include "net/dns_responder.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <vector>

#include "net/address.h"
#include "net/dns_message.h"

namespace banger {

namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in MakeAddr(uint32_t ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip);
  a.sin_port = htons(port);
  return a;
}

Result<sockaddr_in> ParseHostPort(const std::string& s, uint16_t default_port) {
  auto colon = s.find(':');
  BANGER_ASSIGN_OR_RETURN(uint32_t ip, ParseIpv4(s.substr(0, colon)));
  uint16_t port = default_port;
  if (colon != std::string::npos) {
    std::string p = s.substr(colon + 1);
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(p) == 0 || std::stoi(p) > 65535) {
      return Error::Invalid("bad port in \"" + s + "\"");
    }
    port = static_cast<uint16_t>(std::stoi(p));
  }
  return MakeAddr(ip, port);
}

// One datagram into `buf` (nonblocking socket); < 0 when drained.
ssize_t RecvFrom(int fd, std::vector<uint8_t>& buf, sockaddr_in& from) {
  from = sockaddr_in{};
  socklen_t flen = sizeof from;
  return ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &flen);
}

void SendTo(int fd, const DnsBytes& msg, const sockaddr_in& to) {
  // Best effort, like any UDP server: a lost reply is retried by the client.
  (void)::sendto(fd, msg.data(), msg.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to), sizeof to);
}

}  // namespace

struct DnsResponder::Pending {
  sockaddr_in client{};
  uint16_t client_id = 0;
  Clock::time_point deadline;
};

DnsResponder::DnsResponder(Options opts) : opts_(std::move(opts)) {}

DnsResponder::~DnsResponder() { Stop(); }

std::string DnsResponder::Normalize(const std::string& raw) const {
  std::string n;
  for (char c : raw) n += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  if (!n.empty() && n.back() == '.') n.pop_back();
  std::string suffix = "." + opts_.domain;
  if (n.size() <= suffix.size() || n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0) {
    n += suffix;
  }
  return n;
}

Status DnsResponder::SetRecord(const std::string& name, const std::string& ip) {
  if (name.empty()) return Error::Invalid("dns record: empty name");
  auto v = ParseIpv4(ip);
  if (!v.ok()) return v.error().Wrap("dns record " + name);
  std::lock_guard<std::mutex> lk(mu_);
  records_[Normalize(name)] = *v;
  return OkStatus();
}

void DnsResponder::RemoveRecord(const std::string& name) {
  std::lock_guard<std::mutex> lk(mu_);
  records_.erase(Normalize(name));
}

Status DnsResponder::ReplaceRecords(const std::map<std::string, std::string>& records) {
  std::map<std::string, uint32_t> next;
  for (const auto& [name, ip] : records) {
    auto v = ParseIpv4(ip);
    if (!v.ok()) return v.error().Wrap("dns record " + name);
    next[Normalize(name)] = *v;
  }
  std::lock_guard<std::mutex> lk(mu_);
  records_ = std::move(next);
  return OkStatus();
}

std::map<std::string, std::string> DnsResponder::Records() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::map<std::string, std::string> out;
  for (const auto& [n, ip] : records_) out[n] = FormatIpv4(ip);
  return out;
}

std::optional<uint32_t> DnsResponder::Lookup(const std::string& name) const {
  std::string n = Normalize(name);
  std::lock_guard<std::mutex> lk(mu_);
  auto it = records_.find(n);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

Status DnsResponder::Start() {
  if (running_) return Error::Conflict("dns responder already running");
  std::string where = opts_.listen_addr + ":" + std::to_string(opts_.port);
  std::string ctx = "starting DNS responder on " + where;
  auto ip = ParseIpv4(opts_.listen_addr);
  if (!ip.ok()) return ip.error().Wrap(ctx);
  if (!opts_.upstream.empty()) {
    auto up = ParseHostPort(opts_.upstream, 53);
    if (!up.ok()) return up.error().Wrap(ctx + ": upstream (default_dns)");
  }

  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return Error::FromErrno(ctx + ": socket");
  int one = 1;
  // The bridge address may not exist yet when the daemon starts.
  (void)::setsockopt(fd.get(), IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
  sockaddr_in addr = MakeAddr(*ip, opts_.port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    std::string hint;
    if (err == EADDRINUSE)
      hint =
          " (another DNS server, e.g. dnsmasq or systemd-resolved, holds it: stop it or bind it elsewhere)";
    if (err == EACCES) hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
    return Error(err == EADDRINUSE ? ErrorKind::kConflict : ErrorKind::kUnavailable,
                 ctx + ": bind: " + std::strerror(err) + hint);
  }
  socklen_t alen = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &alen) != 0) {
    return Error::FromErrno(ctx + ": getsockname");
  }

  UniqueFd up(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!up.valid()) return Error::FromErrno(ctx + ": upstream socket");
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return Error::FromErrno(ctx + ": pipe");
  stop_r_.Reset(p[0]);
  stop_w_.Reset(p[1]);
  listen_fd_ = std::move(fd);
  upstream_fd_ = std::move(up);
  bound_port_ = ntohs(addr.sin_port);
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
  return OkStatus();
}

void DnsResponder::Stop() {
  if (!thread_.joinable()) return;
  char c = 'x';
  (void)::write(stop_w_.get(), &c, 1);
  thread_.join();
  running_ = false;
  listen_fd_.Reset();
  upstream_fd_.Reset();
  stop_r_.Reset();
  stop_w_.Reset();
}

DnsResponder::Verdict DnsResponder::Answer(const uint8_t* data, size_t len, bool can_forward) const {
  auto reply = [](DnsBytes b) { return Verdict{Verdict::kReply, std::move(b)}; };
  if (len < 12) return {};
  auto q = ParseDnsQuery(data, len);
  uint16_t id = static_cast<uint16_t>(data[0] << 8 | data[1]);
  uint16_t flags = static_cast<uint16_t>(data[2] << 8 | data[3]);
  if (flags & 0x8000) return {};  // a response: never answer those
  if (!q.ok()) return reply(BuildDnsError(id, flags, kDnsRcodeFormErr));
  if (q->opcode() != 0) return reply(BuildDnsError(id, flags, kDnsRcodeNotImp));
  const std::string& name = q->name;
  const std::string suffix = "." + opts_.domain;
  bool ours = name == opts_.domain || (name.size() > suffix.size() &&
                                       name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0);
  if (ours) {
    std::optional<uint32_t> ip;
    bool known = false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      auto it = records_.find(name);
      if (it != records_.end()) {
        known = true;
        ip = it->second;
      }
    }
    bool want_a =
        (q->qtype == kDnsTypeA || q->qtype == 255) && (q->qclass == kDnsClassIN || q->qclass == 255);
    if (!want_a) ip.reset();
    uint8_t rcode = known || name == opts_.domain ? kDnsRcodeNoError : kDnsRcodeNxDomain;
    return reply(BuildDnsAnswer(*q, data, ip, rcode, opts_.ttl_seconds));
  }
  if (!can_forward) return reply(BuildDnsError(id, flags, kDnsRcodeServFail));
  return Verdict{Verdict::kForward, {}};
}

void DnsResponder::Loop() {
  std::optional<sockaddr_in> upstream;
  if (!opts_.upstream.empty()) {
    auto up = ParseHostPort(opts_.upstream, 53);
    if (up.ok()) upstream = *up;
  }
  std::map<uint16_t, Pending> pending;
  std::mt19937 rng(std::random_device{}());
  std::vector<uint8_t> buf(65536);

  while (true) {
    // Forget forwarded queries whose upstream answer is overdue.
    auto now = Clock::now();
    int timeout_ms = -1;
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->second.deadline <= now) {
        it = pending.erase(it);
        continue;
      }
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(it->second.deadline - now).count() + 1;
      if (timeout_ms < 0 || ms < timeout_ms) timeout_ms = static_cast<int>(ms);
      ++it;
    }
    pollfd fds[3] = {
        {stop_r_.get(), POLLIN, 0}, {listen_fd_.get(), POLLIN, 0}, {upstream_fd_.get(), POLLIN, 0}};
    int n = ::poll(fds, 3, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) break;

    if (fds[1].revents & POLLIN) {
      while (true) {
        sockaddr_in from{};
        ssize_t len = RecvFrom(listen_fd_.get(), buf, from);
        if (len < 0) break;  // EAGAIN: drained
        Verdict v =
            Answer(buf.data(), static_cast<size_t>(len), upstream && pending.size() < opts_.max_pending);
        if (v.kind == Verdict::kReply) SendTo(listen_fd_.get(), v.reply, from);
        if (v.kind != Verdict::kForward) continue;
        uint16_t id = static_cast<uint16_t>(buf[0] << 8 | buf[1]);
        uint16_t fwd_id;
        do {
          fwd_id = static_cast<uint16_t>(rng());
        } while (pending.count(fwd_id));
        DnsBytes msg(buf.begin(), buf.begin() + len);
        SetDnsId(msg, fwd_id);
        pending[fwd_id] = Pending{from, id, Clock::now() + opts_.forward_timeout};
        SendTo(upstream_fd_.get(), msg, *upstream);
      }
    }

    if (fds[2].revents & POLLIN) {
      while (true) {
        sockaddr_in from{};
        ssize_t len = RecvFrom(upstream_fd_.get(), buf, from);
        if (len < 0) break;
        if (len < 12 || !upstream || from.sin_addr.s_addr != upstream->sin_addr.s_addr ||
            from.sin_port != upstream->sin_port) {
          continue;  // not from our upstream
        }
        uint16_t fwd_id = static_cast<uint16_t>(buf[0] << 8 | buf[1]);
        auto it = pending.find(fwd_id);
        if (it == pending.end()) continue;  // late or unknown
        DnsBytes msg(buf.begin(), buf.begin() + len);
        SetDnsId(msg, it->second.client_id);
        SendTo(listen_fd_.get(), msg, it->second.client);
        pending.erase(it);
      }
    }
  }
}

}  // namespace banger
