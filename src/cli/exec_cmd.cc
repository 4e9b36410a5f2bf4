// banger vm exec | vm run: a command in the guest with live stdin/stdout/
// stderr over an upgraded API connection (api/stream.h), exiting with the
// guest command's exit code (125 when banger failed before it ran).
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <thread>

#include "api/stream.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "http/http.h"

namespace banger {
namespace {

// Docker's convention: the guest command never ran because banger failed.
constexpr int kExitBangerFailed = 125;

struct ExecFlags {
  std::string ref;
  std::vector<std::string> argv;
  bool interactive = false;  // -i
  bool tty = false;          // -t
  std::string cwd;
  std::vector<std::string> env;
  int timeout_s = 120;
};

// Puts the terminal in raw mode for the guest's pty; restores on scope exit.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(fd_, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

void WindowSize(uint16_t& rows, uint16_t& cols) {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) {
    rows = ws.ws_row;
    cols = ws.ws_col;
  }
}

// Serializes frame writes from the stdin pump and the signal thread.
class FrameWriter {
 public:
  explicit FrameWriter(int fd) : fd_(fd) {}
  void Send(StreamType t, std::string_view payload) {
    std::lock_guard<std::mutex> lk(mu_);
    WriteStreamFrame(fd_, t, payload).ok();  // a dead connection shows up on the read side
  }

 private:
  int fd_;
  std::mutex mu_;
};

int StreamExec(CliContext& ctx, const std::string& ref, const ExecFlags& f) {
  ExecVmRequest req;
  auto env = ParseEnvFlags(f.env);
  if (!env.ok()) return Report(env.error(), kExitBangerFailed);
  req.argv = f.argv;
  req.env = std::move(*env);
  req.cwd = f.cwd;
  req.tty = f.tty && ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
  uint16_t rows = 24, cols = 80;
  if (req.tty) WindowSize(rows, cols);
  req.rows = rows;
  req.cols = cols;
  req.agent_timeout = std::chrono::seconds(f.timeout_s);
  return StreamCommand(ctx, "/v1/vms/" + UrlEncode(ref) + "/exec", ToJson(req), f.interactive || req.tty,
                       req.tty);
}

// The threads below may outlive StreamCommand's return (the process exits
// right after), so they only hold shared state.

// Sends stdin as frames, then its end.
void StartStdinPump(const std::shared_ptr<FrameWriter>& writer) {
  std::thread([writer] {
    std::string buf(32 * 1024, '\0');
    for (;;) {
      ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      writer->Send(StreamType::kStdin, std::string_view(buf.data(), static_cast<size_t>(n)));
    }
    writer->Send(StreamType::kStdinEof, "");
  }).detach();
}

// Forwards the blocked signals `sigs` to the guest command, and window size
// changes to its pty.
void StartSignalForwarder(const std::shared_ptr<FrameWriter>& writer, sigset_t sigs, bool tty) {
  std::thread([writer, sigs, tty] {
    for (;;) {
      int sig = 0;
      if (sigwait(&sigs, &sig) != 0) return;
      if (sig == SIGWINCH) {
        if (!tty) continue;
        uint16_t r = 24, c = 80;
        WindowSize(r, c);
        writer->Send(StreamType::kResize, EncodeResize(r, c));
      } else {
        // Ctrl-C and friends go to the guest command, as if it ran here.
        char s = static_cast<char>(sig);
        writer->Send(StreamType::kSignal, std::string_view(&s, 1));
      }
    }
  }).detach();
}

}  // namespace

int StreamCommand(CliContext& ctx, const std::string& target, const Json& body, bool interactive, bool tty) {
  auto up = OpenStream(ctx, target, body);
  if (!up.ok()) return Report(up.error(), kExitBangerFailed);
  int fd = up->fd.get();

  // Signals are handled by one thread; nothing else may receive them.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto writer = std::make_shared<FrameWriter>(fd);
  bool forward_stdin = interactive || !::isatty(STDIN_FILENO);
  std::unique_ptr<RawTerminal> raw;
  if (tty) raw = std::make_unique<RawTerminal>(STDIN_FILENO);

  if (forward_stdin) {
    StartStdinPump(writer);
  } else {
    writer->Send(StreamType::kStdinEof, "");
  }
  StartSignalForwarder(writer, sigs, tty);

  StreamReader reader(fd, std::move(up->leftover));
  for (;;) {
    auto frame = reader.Next();
    if (!frame.ok() || !frame->has_value()) {
      raw.reset();
      return Report(Error::Unavailable("connection to bangerd lost before the command finished"),
                    kExitBangerFailed);
    }
    StreamFrame& fr = **frame;
    switch (fr.type) {
      case StreamType::kStdout:
        WriteAll(STDOUT_FILENO, fr.payload);
        break;
      case StreamType::kStderr:
        WriteAll(STDERR_FILENO, fr.payload);
        break;
      case StreamType::kExit: {
        raw.reset();
        auto j = ParseJson(fr.payload);
        if (!j.ok() || !(*j)["code"].is_number_integer()) {
          return Report(Error::Internal("bad exit frame from bangerd"), kExitBangerFailed);
        }
        return (*j)["code"].get<int>();
      }
      case StreamType::kError:
        raw.reset();
        return Report(DecodeErrorFrame(fr.payload), kExitBangerFailed);
      default:
        break;
    }
  }
}

namespace {

void AddCommandFlags(CLI::App& c, ExecFlags& f) {
  c.add_flag("-i,--interactive", f.interactive, "Forward stdin (also on when stdin is not a terminal)");
  c.add_flag("-t,--tty", f.tty, "Run the command on a pseudo-terminal");
  c.add_option("--cwd", f.cwd, "Working directory in the guest (default: /root)")->type_name("DIR");
  c.add_option("--env", f.env, "Environment variable KEY=VALUE (repeatable)")
      ->type_name("K=V")
      ->allow_extra_args(false);
  c.add_option("--timeout", f.timeout_s, "Seconds to wait for the guest agent of a booting VM")
      ->type_name("SECONDS")
      ->check(CLI::Range(1, 3600));
}

int VmRun(CliContext& ctx, const CreateFlags& create, const ExecFlags& f, bool rm) {
  CreateFlags cf = create;
  cf.no_start = false;
  auto req = BuildCreateRequest(cf);
  if (!req.ok()) return Report(req.error(), kExitBangerFailed);
  // --rm is the daemon's job: it deletes the VM when this command ends,
  // even if this process is killed (docs/api.md, auto_remove).
  req->auto_remove = rm;
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error(), kExitBangerFailed);
  ctx.Progress("starting vm...");
  Json body = ToJson(*req);
  auto vm = (*api)->Call("POST", "/v1/vms", &body, kLongTimeout);
  if (!vm.ok()) return Report(vm.error(), kExitBangerFailed);
  std::string name = (*vm)["name"];
  return StreamExec(ctx, name, f);
}

}  // namespace

void AddExecCommands(CLI::App& vm, Command* selected) {
  {
    auto f = std::make_shared<ExecFlags>();
    auto* c =
        vm.add_subcommand("exec", "Run a command in a running VM: banger vm exec NAME -- CMD [ARGS...]");
    c->add_option("name", f->ref, "VM name or id")->required();
    c->add_option("command", f->argv, "The command and its arguments (after --)")->required();
    AddCommandFlags(*c, *f);
    c->callback([f, selected] { *selected = [f](CliContext& ctx) { return StreamExec(ctx, f->ref, *f); }; });
  }
  {
    auto create = std::make_shared<CreateFlags>();
    auto f = std::make_shared<ExecFlags>();
    auto rm = std::make_shared<bool>(false);
    auto* c =
        vm.add_subcommand("run", "Create and start a VM, then run a command in it: banger vm run -- CMD");
    AddCreateFlags(*c, *create, /*with_no_start=*/false);
    c->add_flag("--rm", *rm, "Delete the VM when the command ends (even if banger is killed)");
    c->add_option("command", f->argv, "The command and its arguments (after --)")->required();
    AddCommandFlags(*c, *f);
    c->callback([=] { *selected = [=](CliContext& ctx) { return VmRun(ctx, *create, *f, *rm); }; });
  }
}

}  // namespace banger
