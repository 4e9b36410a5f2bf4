// fake-qemu: a test-only stand-in for qemu-system-x86_64 that bangerd can
// launch (config qemu_bin) without booting anything. It takes the argv
// bangerd builds (src/vmm/qemu/qemu_argv.cc), serves the QMP commands the
// QEMU backend uses on the -qmp socket, and plays the guest agent on the
// agent chardev socket with the real wire format (agent/protocol.h).
//
// The agent's behaviour is read, at every OPEN, from the file
// <home>/fake-agent/<vm name> (absent or "normal": well-behaved), so a test
// can turn one VM hostile while another stays normal:
//   normal     answers HELLO, PING and runs a few commands: true, false,
//              echo ARGS, and the agent's session-start/-status/-stop
//   noexit     OPEN_OK, then never an EXIT (keeps reading)
//   pingflood  stops reading and floods PINGs
//   exitflood  OPEN_OK, 10000 ERROR frames, then EXIT frames forever
//   garbage    max-size garbage: frames with a bad CRC, oversized lengths,
//              random bytes, forever
//   badexit    EXIT with signaled=1, signo=0x7fffffff
//   nocredit   OPEN_OK with a stdin window of 0, never a WINDOW, no EXIT
// A flood ends when bangerd drops the connection; the next one is served
// again (by the mode then in the file).
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/protocol.h"
#include "model/json.h"

namespace {

using namespace banger;
using namespace banger::agent;

std::string g_home;
std::string g_name;

std::string Mode() {
  std::ifstream f(g_home + "/fake-agent/" + g_name);
  std::string m;
  if (f) std::getline(f, m);
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m.empty() ? "normal" : m;
}

int Listen(const std::string& path) {
  ::unlink(path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 8) != 0) {
    std::perror(path.c_str());
    ::_exit(1);
  }
  return fd;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// ---- QMP ----

void ServeQmp(int cfd) {
  std::string greeting =
      R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "fake"}, "capabilities": []}})";
  if (!WriteAll(cfd, greeting + "\r\n")) return;
  std::string buf;
  char chunk[4096];
  for (;;) {
    ssize_t n = ::read(cfd, chunk, sizeof chunk);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      auto req = ParseJson(line);
      if (!req.ok() || !req->is_object()) continue;
      std::string cmd = (*req).value("execute", "");
      Json ret = Json::object();
      if (cmd == "query-status") ret = Json{{"status", "running"}, {"running", true}, {"singlestep", false}};
      if (cmd == "query-blockstats") ret = Json::array();
      Json reply{{"return", ret}};
      if (req->contains("id")) reply["id"] = (*req)["id"];
      WriteAll(cfd, reply.dump() + "\r\n");
      // The guest "powers off" at once; quit ends QEMU.
      if (cmd == "quit" || cmd == "system_powerdown") ::_exit(0);
    }
  }
  ::close(cfd);
}

// ---- the agent ----

std::string Msg(uint32_t channel, auto m, uint8_t flags = 0) {
  std::string out;
  AppendMessage(&out, channel, m, flags);
  return out;
}

// Runs one OPEN the well-behaved way: output, then EXIT.
bool RunNormal(int fd, uint32_t ch, const Open& open) {
  std::string out = Msg(ch, OpenOk{.pid = 100 + ch, .window = kDefaultGuestWindow});
  std::string cmd = open.argv.empty() ? "" : open.argv[0];
  std::string sub = open.argv.size() > 1 ? open.argv[1] : "";
  std::string stdout_text, stderr_text;
  uint32_t code = 0;
  if (cmd == "true") {
  } else if (cmd == "false") {
    code = 1;
  } else if (cmd == "echo") {
    for (size_t i = 1; i < open.argv.size(); ++i) stdout_text += (i > 1 ? " " : "") + open.argv[i];
    stdout_text += "\n";
  } else if (sub == "session-start") {
    stdout_text = R"({"pid": 4242})";
  } else if (sub == "session-status") {
    stdout_text = R"({"state": "running"})";
  } else if (sub == "session-stop") {
  } else {
    stderr_text = "fake agent: " + cmd + ": not found\n";
    code = 127;
  }
  if (!stdout_text.empty()) AppendDataFrame(&out, ch, Stream::kStdout, stdout_text);
  if (!stderr_text.empty()) AppendDataFrame(&out, ch, Stream::kStderr, stderr_text);
  out += Msg(ch, Eof{.stream = Stream::kStdout});
  out += Msg(ch, Eof{.stream = Stream::kStderr});
  out += Msg(ch, Exit{.code = code}, kFlagFin);
  return WriteAll(fd, out);
}

// Floods `frame` (or fresh garbage) until the host drops the connection.
void Flood(int fd, const std::string& frame) {
  while (WriteAll(fd, frame)) {
  }
}

void Garbage(int fd) {
  std::mt19937 rng(42);
  for (uint64_t i = 0;; ++i) {
    std::string out;
    // A header claiming a payload far beyond the limit, then a max-size
    // payload of random bytes, then a frame whose CRC is wrong.
    AppendFrame(&out, MsgType::kData, 0, 1, std::string(kMaxPayloadLimit, 'x'));
    out[8] = out[9] = out[10] = out[11] = '\xff';
    std::string junk(kMaxPayloadLimit, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    out += junk;
    std::string bad;
    AppendFrame(&bad, MsgType::kPing, 0, 0, Encode(Ping{.id = i}));
    bad[15] ^= 0x55;
    out += bad;
    if (!WriteAll(fd, out)) return;
  }
}

void ServeAgent(int fd) {
  FrameDecoder dec;
  char buf[65536];
  for (;;) {
    while (auto f = dec.Next()) {
      auto type = static_cast<MsgType>(f->type);
      if (type == MsgType::kHello) {
        auto h = agent::Decode<Hello>(f->payload);
        HelloAck ack{
            .nonce = h ? h->nonce : 0, .build = "fake-qemu", .boot_id = "fake-boot", .hostname = g_name};
        if (!WriteAll(fd, Msg(0, ack))) return;
      } else if (type == MsgType::kPing) {
        auto p = agent::Decode<Ping>(f->payload);
        if (!WriteAll(fd, Msg(0, Pong{.id = p ? p->id : 0}))) return;
      } else if (type == MsgType::kOpen) {
        auto open = agent::Decode<Open>(f->payload);
        if (!open) continue;
        uint32_t ch = f->channel;
        std::string mode = Mode();
        if (mode == "noexit") {
          if (!WriteAll(fd, Msg(ch, OpenOk{.pid = 7, .window = kDefaultGuestWindow}))) return;
        } else if (mode == "nocredit") {
          if (!WriteAll(fd, Msg(ch, OpenOk{.pid = 7, .window = 0}))) return;
        } else if (mode == "pingflood") {
          Flood(fd, Msg(0, Ping{.id = 1}));
          return;
        } else if (mode == "exitflood") {
          if (!WriteAll(fd, Msg(ch, OpenOk{.pid = 7, .window = kDefaultGuestWindow}))) return;
          // Errors first (each one a log line in bangerd.log unless
          // limited), then EXITs until the host gives up on us.
          std::string errors;
          for (int i = 0; i < 200; ++i) {
            errors += Msg(0, ErrorMsg{.code = 2, .channel = 0, .message = "flood " + std::string(200, 'E')});
          }
          for (int i = 0; i < 50; ++i) {
            if (!WriteAll(fd, errors)) return;
          }
          Flood(fd, Msg(ch, Exit{.code = 3}, kFlagFin));
          return;
        } else if (mode == "garbage") {
          Garbage(fd);
          return;
        } else if (mode == "badexit") {
          std::string out = Msg(ch, OpenOk{.pid = 7, .window = kDefaultGuestWindow});
          out += Msg(ch, Exit{.signaled = true, .signo = 0x7fffffff}, kFlagFin);
          if (!WriteAll(fd, out)) return;
        } else if (!RunNormal(fd, ch, *open)) {
          return;
        }
      }
      // DATA, WINDOW, EOF, SIGNAL, CLOSE...: nothing to do.
    }
    dec.TakeSkipped();
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    dec.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

std::string ValueAfter(const std::string& arg, const std::string& key) {
  auto pos = arg.find(key);
  if (pos == std::string::npos) return "";
  pos += key.size();
  return arg.substr(pos, arg.find(',', pos) - pos);
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  std::string qmp, agent_sock, console;
  for (int i = 1; i + 1 < argc; ++i) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "-qmp") qmp = ValueAfter(v, "unix:");
    if (a == "-name") g_name = v;
    if (a == "-chardev" && v.rfind("socket,id=ag,", 0) == 0) agent_sock = ValueAfter(v, "path=");
    if (a == "-chardev" && v.rfind("file,id=con0,", 0) == 0) console = ValueAfter(v, "path=");
  }
  if (qmp.empty()) {
    std::fprintf(stderr, "fake-qemu: no -qmp unix:PATH\n");
    return 2;
  }
  // <home>/vms/<id>/api.sock
  std::string dir = qmp.substr(0, qmp.rfind('/'));
  g_home = dir.substr(0, dir.rfind('/'));
  g_home = g_home.substr(0, g_home.rfind('/'));
  if (!console.empty()) {
    std::ofstream(console, std::ios::app) << "fake-qemu: guest " << g_name << " up\n";
  }
  if (!agent_sock.empty()) {
    int afd = Listen(agent_sock);
    std::thread([afd] {
      for (;;) {
        int c = ::accept4(afd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        ServeAgent(c);  // one client at a time, like QEMU's chardev
        ::close(c);
      }
    }).detach();
  }
  int qfd = Listen(qmp);
  for (;;) {
    int c = ::accept4(qfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::thread(ServeQmp, c).detach();
  }
}
