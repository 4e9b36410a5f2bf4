// Benchmark: stream throughput daemon -> client, in-process, over a Unix
// socket: the real WebSocket layer (HttpServer + WsConn, http/ws.h, what
// exec/cp/console use) against the raw framing it replaced
// ([type u8][length u32][payload] with blocking writes, kept here only as
// the baseline). Prints MiB/s (p50 over runs) for each and their ratio.
// Asserts nothing.
//
//   bench_stream [--mib N] [--runs N] [--chunk-kib N]
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "http/http.h"
#include "http/ws.h"

namespace {

using Clock = std::chrono::steady_clock;

// ---- the old framing (src/api/stream.cc before ADR 0026), baseline only ----

bool WriteFrame(int fd, uint8_t type, std::string_view payload) {
  char head[5] = {static_cast<char>(type), static_cast<char>(payload.size() >> 24),
                  static_cast<char>(payload.size() >> 16), static_cast<char>(payload.size() >> 8),
                  static_cast<char>(payload.size())};
  iovec iov[2] = {{head, sizeof head}, {const_cast<char*>(payload.data()), payload.size()}};
  size_t total = sizeof head + payload.size(), done = 0;
  while (done < total) {
    iovec cur[2];
    int cnt = 0;
    size_t skip = done;
    for (auto& v : iov) {
      if (skip >= v.iov_len) {
        skip -= v.iov_len;
        continue;
      }
      cur[cnt++] = {static_cast<char*>(v.iov_base) + skip, v.iov_len - skip};
      skip = 0;
    }
    msghdr msg{};
    msg.msg_iov = cur;
    msg.msg_iovlen = static_cast<size_t>(cnt);
    ssize_t w = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

// The old StreamReader: reads into a buffer, hands out frames by copy.
class FrameReader {
 public:
  explicit FrameReader(int fd) : fd_(fd) {}
  bool Next(uint8_t& type, std::string& payload) {
    if (!Fill(5)) return false;
    auto byte = [this](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(buf_[i])); };
    uint32_t n = byte(1) << 24 | byte(2) << 16 | byte(3) << 8 | byte(4);
    if (!Fill(5 + n)) return false;
    type = static_cast<uint8_t>(buf_[0]);
    payload = buf_.substr(5, n);
    buf_.erase(0, 5 + n);
    return true;
  }

 private:
  bool Fill(size_t need) {
    char tmp[65536];
    while (buf_.size() < need) {
      ssize_t n = ::read(fd_, tmp, sizeof tmp);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf_.append(tmp, static_cast<size_t>(n));
    }
    return true;
  }
  int fd_;
  std::string buf_;
};

double RawRun(size_t total, size_t chunk) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 0;
  std::string data(chunk, 'x');
  auto t0 = Clock::now();
  std::thread writer([&] {
    for (size_t sent = 0; sent < total; sent += chunk) WriteFrame(sv[0], 2, data);
    WriteFrame(sv[0], 10, "{}");
  });
  FrameReader r(sv[1]);
  uint8_t type = 0;
  std::string payload;
  size_t got = 0;
  while (r.Next(type, payload) && type != 10) got += payload.size();
  auto t1 = Clock::now();
  writer.join();
  ::close(sv[0]);
  ::close(sv[1]);
  if (got != total) std::fprintf(stderr, "raw: got %zu of %zu bytes\n", got, total);
  return static_cast<double>(total) / (1024.0 * 1024.0) / std::chrono::duration<double>(t1 - t0).count();
}

double WsRun(const std::string& sock, size_t total) {
  auto d = banger::WsDialUnix(sock, "/stream", {}, std::chrono::seconds(10));
  if (!d.ok() || d->status != 101) {
    std::fprintf(stderr, "ws: %s\n", d.ok() ? d->response_body.c_str() : d.error().message().c_str());
    return 0;
  }
  auto& ws = *d->conn;
  auto t0 = Clock::now();
  if (!ws.Send(1, "go").ok()) return 0;
  size_t got = 0;
  for (;;) {
    auto m = ws.Recv();
    if (!m.ok() || !m->has_value()) break;
    if ((*m)->type() == 10) break;
    got += (*m)->payload().size();
  }
  auto t1 = Clock::now();
  if (got != total) std::fprintf(stderr, "ws: got %zu of %zu bytes\n", got, total);
  return static_cast<double>(total) / (1024.0 * 1024.0) / std::chrono::duration<double>(t1 - t0).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 256;
  int runs = 7;
  size_t chunk_kib = 256;  // the archive stream's message size (exec output comes in smaller ones)
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    long v = std::strtol(argv[i + 1], nullptr, 10);
    if (v <= 0) continue;
    if (a == "--mib") mib = static_cast<size_t>(v);
    if (a == "--runs") runs = static_cast<int>(v);
    if (a == "--chunk-kib") chunk_kib = std::min<size_t>(static_cast<size_t>(v), 1024);
  }
  size_t total = mib << 20, chunk = chunk_kib << 10;
  total -= total % chunk;
  std::string dir = "/tmp/bench-stream-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::string sock = dir + "/s.sock";
  auto server = banger::HttpServer::ListenUnix(sock, 0600);
  if (!server.ok()) {
    std::fprintf(stderr, "listen: %s\n", server.error().message().c_str());
    return 1;
  }
  std::thread serve([&] {
    (*server)->Serve([total, chunk](const banger::HttpRequest&) {
      banger::HttpResponse r;
      r.status = 101;
      r.websocket = [total, chunk](banger::WsConn& ws) {
        std::string data(chunk, 'x');
        if (auto go = ws.Recv(); !go.ok() || !go->has_value()) return;
        for (size_t sent = 0; sent < total; sent += chunk) {
          if (!ws.Send(2, data).ok()) return;
        }
        ws.Send(10, "{}").ok();
      };
      return r;
    });
  });
  std::vector<double> raw, wsr;
  for (int i = 0; i < runs; ++i) {  // alternated, so both see the same machine
    raw.push_back(RawRun(total, chunk));
    wsr.push_back(WsRun(sock, total));
  }
  (*server)->Shutdown();
  serve.join();
  std::filesystem::remove_all(dir);
  double r50 = Median(raw), w50 = Median(wsr);
  std::printf("stream throughput, %zu MiB in %zu KiB messages, p50 of %d runs (Unix socket, in-process)\n",
              mib, chunk_kib, runs);
  std::printf("  raw framing (old banger-stream/1): %8.1f MiB/s\n", r50);
  std::printf("  WebSocket (HttpServer + WsConn):   %8.1f MiB/s\n", w50);
  std::printf("  ratio WebSocket / raw:             %8.3f\n", r50 > 0 ? w50 / r50 : 0.0);
  return 0;
}
