#include "http/http.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cctype>
#include <charconv>
#include <cstring>
#include <sstream>

#include "base/log.h"
#include "http/http_internal.h"

namespace banger {

namespace bws = boost::beast::websocket;

namespace {

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexVal(s[i + 1]) >= 0 && HexVal(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexVal(s[i + 1]) * 16 + HexVal(s[i + 2])));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The supplementary groups of a Unix-socket peer (SO_PEERGROUPS, Linux
// 4.13+); [] when the kernel cannot tell.
std::vector<gid_t> PeerGroups(int fd) {
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 2; ++attempt) {
    socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE) break;
    groups.resize(len / sizeof(gid_t) + 1);
  }
  return {};
}

}  // namespace

std::string http_internal::Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string HttpRequest::Path() const {
  auto q = target.find('?');
  return UrlDecode(q == std::string::npos ? target : target.substr(0, q));
}

std::map<std::string, std::string> HttpRequest::Query() const {
  std::map<std::string, std::string> out;
  auto q = target.find('?');
  if (q == std::string::npos) return out;
  std::string qs = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= qs.size()) {
    size_t amp = qs.find('&', pos);
    std::string part = qs.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (!part.empty()) {
      auto eq = part.find('=');
      if (eq == std::string::npos) {
        out[UrlDecode(part)] = "";
      } else {
        out[UrlDecode(part.substr(0, eq))] = UrlDecode(part.substr(eq + 1));
      }
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

Result<std::unique_ptr<HttpServer>> HttpServer::ListenUnix(const std::string& path, unsigned mode,
                                                           std::optional<gid_t> group) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return Error::Invalid("socket path too long: " + path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Error::FromErrno("socket");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  // Bind with a restrictive umask so the socket is never briefly world-accessible.
  mode_t old = ::umask(0177);
  int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0) return Error::FromErrno("bind " + path);
  // Group first, then widen the mode: never group-accessible to the wrong group.
  if (group && ::chown(path.c_str(), static_cast<uid_t>(-1), *group) != 0) {
    return Error::FromErrno("chown " + path + " to group " + std::to_string(*group));
  }
  if (::chmod(path.c_str(), mode) != 0) return Error::FromErrno("chmod " + path);
  if (::listen(fd.get(), 128) != 0) return Error::FromErrno("listen " + path);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(fd), path, 0));
}

Result<std::unique_ptr<HttpServer>> HttpServer::ListenTcp(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Error::Invalid("listen address \"" + host_port + "\" must be HOST:PORT");
  }
  std::string host = host_port.substr(0, colon), port_s = host_port.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  int port = -1;
  auto [p, ec] = std::from_chars(port_s.data(), port_s.data() + port_s.size(), port);
  if (ec != std::errc() || p != port_s.data() + port_s.size() || port < 0 || port > 65535) {
    return Error::Invalid("listen address \"" + host_port + "\": bad port");
  }
  beast::error_code bec;
  auto ip = asio::ip::make_address(host, bec);
  if (bec)
    return Error::Invalid("listen address \"" + host_port + "\": HOST must be an IP address or localhost");
  asio::ip::tcp::endpoint ep(ip, static_cast<unsigned short>(port));
  UniqueFd fd(::socket(ep.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Error::FromErrno("socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), ep.data(), static_cast<socklen_t>(ep.size())) != 0)
    return Error::FromErrno("bind " + host_port);
  if (::listen(fd.get(), 128) != 0) return Error::FromErrno("listen " + host_port);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0)
    return Error::FromErrno("getsockname");
  int bound_port = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                               : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(fd), "", bound_port));
}

Result<std::unique_ptr<HttpServer>> HttpServer::AdoptUnix(UniqueFd fd, std::string path) {
  if (!fd.valid()) return Error::Invalid("no listening socket to adopt for " + path);
  auto server = std::unique_ptr<HttpServer>(new HttpServer(std::move(fd), std::move(path), 0, true));
  if (!server->wake_fd_.valid()) return Error::FromErrno("eventfd");
  return server;
}

HttpServer::HttpServer(UniqueFd fd, std::string path, int port, bool adopted)
    : listen_fd_(std::move(fd)),
      path_(std::move(path)),
      port_(port),
      adopted_(adopted),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

HttpServer::~HttpServer() { Shutdown(); }

namespace {

// A whole canned answer, for the places that cannot build one with Beast.
std::string CannedResponse(int status, const char* reason, const std::string& code,
                           const std::string& message) {
  std::string body = R"({"error":{"code":")" + code + R"(","message":")" + message + "\"}}";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nServer: bangerd\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

HttpResponse InternalErrorResponse() {
  HttpResponse r;
  r.status = 500;
  r.body = R"j({"error":{"code":"internal","message":"internal error (see the daemon log)"}})j";
  return r;
}

}  // namespace

void HttpServer::SetDeadline(int fd, Clock::time_point when) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = conns_.find(fd);
  if (it != conns_.end()) it->second = when;
  if (when != Clock::time_point::max()) watchdog_cv_.notify_all();
}

void HttpServer::SetAnswering(int fd, bool on) {
  std::lock_guard<std::mutex> lk(mu_);
  if (on) {
    answering_.insert(fd);
  } else {
    answering_.erase(fd);
  }
}

void HttpServer::RefuseBusy(int fd) {
  static const std::string kBusy =
      CannedResponse(503, "Service Unavailable", "unavailable", "too many connections; try again later");
  (void)::send(fd, kBusy.data(), kBusy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  // Closing with the request unread would reset the connection, and the
  // client could lose the answer: the watchdog reads and closes it shortly.
  ::shutdown(fd, SHUT_WR);
  std::lock_guard<std::mutex> lk(mu_);
  if (++refused_total_ % 1000 == 1) {
    spdlog::warn("http: {} connections at the limit of {}; refused {} so far", active_,
                 limits_.max_connections, refused_total_);
  }
  if (refused_.size() >= 64) {
    ::close(fd);
    return;
  }
  refused_.emplace_back(fd, Clock::now() + std::chrono::seconds(1));
  watchdog_cv_.notify_all();
}

void HttpServer::Watchdog() {
  std::unique_lock<std::mutex> lk(mu_);
  while (!watchdog_stop_) {
    auto now = Clock::now();
    auto next = now + std::chrono::seconds(1);
    for (auto& [fd, when] : conns_) {
      if (when <= now) {
        spdlog::debug("http: connection {} timed out; closing it", fd);
        ::shutdown(fd, SHUT_RDWR);
        when = Clock::time_point::max();
      } else {
        next = std::min(next, when);
      }
    }
    std::erase_if(refused_, [&](const auto& r) {
      char sink[4096];
      ssize_t n = 0;
      while ((n = ::recv(r.first, sink, sizeof sink, MSG_DONTWAIT)) > 0) {
      }
      if (n == 0 || r.second <= now) {
        ::close(r.first);
        return true;
      }
      return false;
    });
    if (!refused_.empty()) next = std::min(next, now + std::chrono::milliseconds(50));
    watchdog_cv_.wait_until(lk, next);
  }
  for (const auto& r : refused_) ::close(r.first);
  refused_.clear();
}

void HttpServer::Serve(HttpHandler handler) {
  handler_ = std::move(handler);
  {
    std::lock_guard<std::mutex> lk(mu_);
    watchdog_stop_ = false;
  }
  std::thread watchdog([this] { Watchdog(); });
  while (!stopping_) {
    if (adopted_) {
      // The listener is shared with systemd: Shutdown() wakes us through
      // wake_fd_ instead of shutting it down.
      std::array<pollfd, 2> pfds{{{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}}};
      if (::poll(pfds.data(), pfds.size(), -1) < 0 && errno != EINTR) {
        spdlog::error("http: poll: {}", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (stopping_ || pfds[1].revents != 0) break;
      if ((pfds[0].revents & POLLIN) == 0) continue;
    }
    int cfd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (stopping_) break;
      spdlog::error("http: accept: {}", std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    std::unique_lock<std::mutex> lk(mu_);
    if (stopping_) {
      ::close(cfd);
      break;
    }
    if (active_ >= limits_.max_connections) {
      lk.unlock();
      RefuseBusy(cfd);
      continue;
    }
    conns_[cfd] = Clock::now() + limits_.header_timeout;
    ++active_;
    watchdog_cv_.notify_all();
    try {
      // Detached: the thread signals idle_cv_ when done, Shutdown() waits on it.
      std::thread([this, cfd] {
        ServeConnection(cfd);
        std::lock_guard<std::mutex> done(mu_);
        if (--active_ == 0) idle_cv_.notify_all();
      }).detach();
    } catch (const std::exception& e) {
      // Out of threads: this connection is dropped, the daemon goes on.
      spdlog::error("http: no thread for a new connection ({}); closing it", e.what());
      conns_.erase(cfd);
      ::close(cfd);
      if (--active_ == 0) idle_cv_.notify_all();
    }
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    watchdog_stop_ = true;
    watchdog_cv_.notify_all();
  }
  watchdog.join();
}

void HttpServer::ServeConnectionForTest(UniqueFd fd, HttpHandler handler) {
  handler_ = std::move(handler);
  int cfd = fd.Release();
  {
    std::lock_guard<std::mutex> lk(mu_);
    conns_[cfd] = Clock::time_point::max();
    ++active_;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    watchdog_stop_ = false;
  }
  std::thread watchdog([this] { Watchdog(); });
  ServeConnection(cfd);
  {
    std::lock_guard<std::mutex> done(mu_);
    if (--active_ == 0) idle_cv_.notify_all();
    watchdog_stop_ = true;
    watchdog_cv_.notify_all();
  }
  watchdog.join();
}

void HttpServer::ServeConnection(int fd) {
  try {
    asio::io_context ioc;
    beast::error_code ec;
    if (path_.empty()) {
      asio::ip::tcp::socket sock(ioc);
      sockaddr_storage self{};
      socklen_t len = sizeof self;
      bool v6 =
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len) == 0 && self.ss_family == AF_INET6;
      sock.assign(v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd, ec);
      if (!ec) ServeOn(sock, fd);
    } else {
      local::socket sock(ioc);
      sock.assign(local(), fd, ec);
      if (!ec) ServeOn(sock, fd);
    }
    if (ec) spdlog::warn("http: connection {}: {}", fd, ec.message());
  } catch (const std::exception& e) {
    spdlog::error("http: connection dropped: unexpected exception: {}", e.what());
  } catch (...) {
    spdlog::error("http: connection dropped: unexpected exception");
  }
  // The socket objects closed the fd (or ServeOn did); forget it before the number is reused.
  std::lock_guard<std::mutex> lk(mu_);
  conns_.erase(fd);
  answering_.erase(fd);
}

template <typename Socket>
void HttpServer::ServeOn(Socket& sock, int fd) {
  beast::error_code ec;
  beast::flat_buffer buf;
  std::optional<uid_t> peer_uid;
  std::optional<gid_t> peer_gid;
  std::vector<gid_t> peer_groups;
  if (!path_.empty()) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      peer_uid = cred.uid;
      peer_gid = cred.gid;
      peer_groups = PeerGroups(fd);
    }
  }
  bool first = true;
  while (!stopping_) {
    if (!first && buf.size() == 0) {
      // Keep-alive: wait for the next request at most idle_timeout.
      pollfd p{fd, POLLIN, 0};
      int pr = 0;
      do {
        pr = ::poll(&p, 1, static_cast<int>(limits_.idle_timeout.count()));
      } while (pr < 0 && errno == EINTR);
      if (pr <= 0 || stopping_) break;
    }
    SetDeadline(fd, Clock::now() + limits_.header_timeout);
    first = false;
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(limits_.max_body_bytes);
    bhttp::read_header(sock, buf, parser, ec);
    if (!ec && !parser.is_done()) {
      SetDeadline(fd, Clock::now() + limits_.io_timeout);
      bhttp::read(sock, buf, parser, ec);
    }
    SetDeadline(fd, Clock::time_point::max());
    if (ec) {
      if (ec != bhttp::error::end_of_stream && ec != asio::error::connection_reset &&
          ec != asio::error::eof && ec != asio::error::bad_descriptor &&
          ec != asio::error::operation_aborted && ec != asio::error::broken_pipe) {
        // Malformed or oversized: answer once, then drop the connection.
        std::string answer =
            ec == bhttp::error::body_limit
                ? CannedResponse(
                      413, "Payload Too Large", "invalid_argument",
                      "request body larger than " + std::to_string(limits_.max_body_bytes) + " bytes")
            : ec == bhttp::error::header_limit
                ? CannedResponse(431, "Request Header Fields Too Large", "invalid_argument",
                                 "request head too large")
                : CannedResponse(400, "Bad Request", "invalid_argument", "malformed HTTP request");
        SetDeadline(fd, Clock::now() + limits_.io_timeout);
        asio::write(sock, asio::buffer(answer), ec);
      }
      break;
    }
    // From here to the end of the answer Shutdown leaves this connection be.
    SetAnswering(fd, true);
    auto r = parser.release();
    HttpRequest req;
    req.method = std::string(r.method_string());
    req.target = std::string(r.target());
    req.body = std::move(r.body());
    req.peer_uid = peer_uid;
    req.peer_gid = peer_gid;
    req.peer_groups = peer_groups;
    for (const auto& f : r) req.headers[Lower(std::string(f.name_string()))] = std::string(f.value());
    HttpResponse resp;
    try {
      resp = handler_(req);
    } catch (const std::exception& e) {
      spdlog::error("http: {} {}: handler threw: {}", req.method, req.target, e.what());
      resp = InternalErrorResponse();
    } catch (...) {
      spdlog::error("http: {} {}: handler threw", req.method, req.target);
      resp = InternalErrorResponse();
    }
    if (resp.websocket) {
      if (!bws::is_upgrade(r)) {
        spdlog::error("http: {} {}: handler accepted a WebSocket on a plain request", req.method, req.target);
        resp = InternalErrorResponse();
      } else {
        // The handshake is Beast's, from the request as read plus what followed it.
        std::ostringstream head;
        head << r.base();
        std::string raw = head.str();
        raw.append(static_cast<const char*>(buf.data().data()), buf.size());
        ServeWebSocket(fd, raw, resp, req.target);
        break;
      }
    }
    if (resp.status < 100 || resp.status > 599 || resp.status == 101) {
      spdlog::error("http: {} {}: handler answered status {}", req.method, req.target, resp.status);
      resp = InternalErrorResponse();
    }

    bhttp::response<bhttp::string_body> w{static_cast<bhttp::status>(resp.status), r.version()};
    w.set(bhttp::field::server, "bangerd");
    if (!resp.content_type.empty()) w.set(bhttp::field::content_type, resp.content_type);
    for (const auto& [k, v] : resp.headers) w.set(k, v);
    w.body() = std::move(resp.body);
    w.keep_alive(r.keep_alive() && !stopping_);
    w.prepare_payload();
    SetDeadline(fd, Clock::now() + limits_.io_timeout);
    bhttp::write(sock, w, ec);
    SetDeadline(fd, Clock::time_point::max());
    // Cleared before the loop looks at stopping_ again: either Shutdown
    // sees this connection idle and shuts it down, or the loop sees
    // stopping_ and ends.
    SetAnswering(fd, false);
    if (ec) break;
    if (!r.keep_alive()) break;
  }
}

void HttpServer::ServeWebSocket(int fd, const std::string& raw, HttpResponse& resp,
                                const std::string& target) {
  // The connection gets a duplicate fd: `fd` stays open (and in conns_, for
  // Shutdown and the watchdog) until the stream ends, so its number is never
  // reused while Shutdown may shut it down.
  UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!dup.valid()) {
    spdlog::error("http: {}: dup for the WebSocket: {}", target, std::strerror(errno));
    return;
  }
  WsOptions opts;
  opts.write_timeout = limits_.ws_write_timeout;
  opts.ping_interval = limits_.ws_ping_interval;
  SetDeadline(fd, Clock::now() + limits_.io_timeout);
  auto conn = WsAccept(std::move(dup), raw, opts, resp.headers);
  SetDeadline(fd, Clock::time_point::max());
  if (!conn.ok()) {
    spdlog::info("http: {}: {}", target, conn.error().message());
    return;
  }
  // Handshake answered: from now on Shutdown ends this stream like any other.
  SetAnswering(fd, false);
  if (stopping_) ::shutdown(fd, SHUT_RDWR);  // Shutdown() may have passed it already
  try {
    resp.websocket(**conn);
  } catch (const std::exception& e) {
    spdlog::error("http: {}: stream threw: {}", target, e.what());
  } catch (...) {
    spdlog::error("http: {}: stream threw", target);
  }
  (*conn)->Close(1000);
}

bool IsWebSocketUpgrade(const HttpRequest& req) {
  auto has_token = [&](const char* header, const std::string& token) {
    auto it = req.headers.find(header);
    if (it == req.headers.end()) return false;
    std::string v = Lower(it->second);
    size_t pos = 0;
    while (pos <= v.size()) {
      size_t comma = v.find(',', pos);
      std::string part = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      auto b = part.find_first_not_of(" \t");
      auto e = part.find_last_not_of(" \t");
      if (b != std::string::npos && part.substr(b, e - b + 1) == token) return true;
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    return false;
  };
  return req.method == "GET" && has_token("connection", "upgrade") && has_token("upgrade", "websocket");
}

void HttpServer::Shutdown() {
  if (stopping_.exchange(true)) return;
  if (adopted_) {
    uint64_t one = 1;
    if (::write(wake_fd_.get(), &one, sizeof one) < 0)
      spdlog::warn("http: waking the accept loop: {}", std::strerror(errno));
  } else {
    ::shutdown(listen_fd_.get(), SHUT_RDWR);
  }
  std::unique_lock<std::mutex> lk(mu_);
  for (const auto& [fd, when] : conns_) {
    if (!answering_.contains(fd)) ::shutdown(fd, SHUT_RDWR);
  }
  // Answers under way are delivered (each connection ends after its
  // answer, as stopping_ is set); one whose handler or client is slower
  // than the grace is cut off.
  if (!idle_cv_.wait_for(lk, kAnswerGrace, [this] { return active_ == 0; })) {
    for (const auto& [fd, when] : conns_) ::shutdown(fd, SHUT_RDWR);
    idle_cv_.wait(lk, [this] { return active_ == 0; });
  }
  if (!path_.empty() && !adopted_) ::unlink(path_.c_str());
}

}  // namespace banger
