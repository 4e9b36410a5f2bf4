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
#include "cli/output.h"
#include "config/config.h"
#include "http/http.h"
#include "model/image_defaults.h"

namespace banger {
namespace {

// Docker's convention: the guest command never ran because banger failed.
constexpr int kExitBangerFailed = 125;

struct ExecFlags {
  std::string ref;
  GuestCommandFlags cmd;     // argv, -u, -w, -e, --no-image-env
  bool interactive = false;  // -i
  bool tty = false;          // -t
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

// The stream as the stdin pump and the signal thread share it (WsConn
// serializes their messages).
class FrameWriter {
 public:
  explicit FrameWriter(std::shared_ptr<WsConn> ws) : ws_(std::move(ws)) {}
  void Send(StreamType t, std::string_view payload) {
    ws_->Send(Msg(t), payload).ok();  // a dead connection shows up on the read side
  }

 private:
  std::shared_ptr<WsConn> ws_;
};

int StreamExec(CliContext& ctx, const std::string& ref, const ExecFlags& f) {
  ExecVmRequest req;
  if (auto st = PutGuestCommand(req, f.cmd); !st.ok()) return Report(st.error(), kExitBangerFailed);
  req.tty = f.tty && ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
  uint16_t rows = 24, cols = 80;
  if (req.tty) WindowSize(rows, cols);
  req.rows = rows;
  req.cols = cols;
  req.agent_timeout = std::chrono::seconds(f.timeout_s);
  Json open = ToJson(req);
  return StreamCommand(ctx, "/v1/vms/" + UrlEncode(ref) + "/exec", &open, f.interactive || req.tty, req.tty);
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

int StreamCommand(CliContext& ctx, const std::string& target, const Json* open, bool interactive, bool tty) {
  // Signals are handled by one thread; nothing else may receive them. Blocked
  // before the stream opens: its I/O thread inherits this mask, so a
  // SIGWINCH or SIGINT is never taken (and dropped, or fatal) there.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto opened = OpenStream(ctx, target, open);
  if (!opened.ok()) return Report(opened.error(), kExitBangerFailed);
  std::shared_ptr<WsConn> ws(std::move(*opened));

  auto writer = std::make_shared<FrameWriter>(ws);
  bool forward_stdin = interactive || !::isatty(STDIN_FILENO);
  std::unique_ptr<RawTerminal> raw;
  if (tty) raw = std::make_unique<RawTerminal>(STDIN_FILENO);

  if (forward_stdin) {
    StartStdinPump(writer);
  } else {
    writer->Send(StreamType::kStdinEof, "");
  }
  StartSignalForwarder(writer, sigs, tty);

  for (;;) {
    auto m = ws->Recv();
    if (!m.ok() || !m->has_value()) {
      raw.reset();
      return Report(Error::Unavailable("connection to bangerd lost before the command finished"),
                    kExitBangerFailed);
    }
    const WsMessage& msg = **m;
    if (msg.text) continue;
    std::string payload(msg.payload());
    switch (static_cast<StreamType>(msg.type())) {
      case StreamType::kStdout:
        WriteAll(STDOUT_FILENO, payload);
        break;
      case StreamType::kStderr:
        WriteAll(STDERR_FILENO, payload);
        break;
      case StreamType::kExit: {
        raw.reset();
        auto exit = DecodeExitFrame(payload);
        if (!exit.ok()) return Report(Error::Internal("bad exit frame from bangerd"), kExitBangerFailed);
        return exit->code;
      }
      case StreamType::kError:
        raw.reset();
        return Report(DecodeErrorFrame(payload), kExitBangerFailed);
      default:
        break;
    }
  }
}

namespace {

void AddCommandFlags(CLI::App& c, ExecFlags& f, bool command_required) {
  AddGuestCommandFlags(c, f.cmd, command_required);
  c.add_flag("-i,--interactive", f.interactive, "Forward stdin (also on when stdin is not a terminal)");
  c.add_flag("-t,--tty", f.tty, "Run the command on a pseudo-terminal");
  c.add_option("--timeout", f.timeout_s, "Seconds to wait for the guest agent of a booting VM")
      ->type_name("SECONDS")
      ->check(CLI::Range(1, 3600));
}

// The image a new VM gets: --image, else the config's default_image_name
// (as the daemon picks it); "" when unknown.
std::string ImageOfNewVm(CliContext& ctx, const std::string& image) {
  if (!image.empty()) return image;
  auto cfg = LoadConfig(ctx.client().config_path());
  return cfg.ok() ? cfg->default_image_name : "";
}

// `vm run` with no command: the image must have an Entrypoint or Cmd. Only a
// known answer refuses; anything else (no such image) is left to the create.
Status CheckImageHasCommand(ApiClient& api, const std::string& ref) {
  if (ref.empty()) return OkStatus();
  auto img = api.Call("GET", "/v1/images/" + UrlEncode(ref));
  if (!img.ok() || !img->is_object()) return OkStatus();
  Image image;
  image.name = JsonText(*img, "/name");
  if (img->contains("source")) {
    auto source = Decode<ImageSource>((*img)["source"], "image source");
    if (!source.ok()) return OkStatus();
    image.source = std::move(*source);
  }
  return ToStatus(ApplyImageDefaults(image, UserCommand{}));
}

int VmRun(CliContext& ctx, const CreateFlags& create, const ExecFlags& f, bool rm) {
  CreateFlags cf = create;
  cf.no_start = false;
  auto req = BuildCreateRequest(cf);
  if (!req.ok()) return Report(req.error(), kExitBangerFailed);
  ExecVmRequest check;  // the exec's flags, checked before anything is made
  if (auto st = PutGuestCommand(check, f.cmd); !st.ok()) return Report(st.error(), kExitBangerFailed);
  // --rm is the daemon's job: it deletes the VM when this command ends,
  // even if this process is killed (docs/api.md, auto_remove).
  req->auto_remove = rm;
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error(), kExitBangerFailed);
  if (f.cmd.argv.empty()) {
    // The image's Entrypoint + Cmd: refused before a VM is made when the image has neither.
    if (auto st = CheckImageHasCommand(**api, ImageOfNewVm(ctx, req->image)); !st.ok()) {
      return Report(st.error(), kExitBangerFailed);
    }
  }
  ctx.Progress("starting vm...");
  Json body = ToJson(*req);
  auto vm = (*api)->Call("POST", "/v1/vms", &body, kLongTimeout);
  if (!vm.ok()) return Report(vm.error(), kExitBangerFailed);
  std::string name = (*vm)["name"];
  return StreamExec(ctx, name, f);
}

}  // namespace

void AddGuestCommandFlags(CLI::App& c, GuestCommandFlags& f, bool command_required) {
  auto* command = c.add_option("command", f.argv,
                               command_required ? "The command and its arguments (after --)"
                                                : "The command and its arguments (after --; default: "
                                                  "the image's Entrypoint + Cmd)");
  if (command_required) command->required();
  c.add_option("-u,--user", f.user,
               "Run as USER: NAME, UID, UID:GID or NAME:GROUP of the guest (default: the image's user, "
               "else root)")
      ->type_name("USER");
  c.add_option("-w,--workdir,--cwd", f.cwd,
               "Working directory in the guest (default: the image's, else /root)")
      ->type_name("DIR");
  c.add_option("-e,--env", f.env,
               "Environment variable KEY=VALUE (repeatable; over the image's env, key by key)")
      ->type_name("K=V")
      ->allow_extra_args(false);
  c.add_option("--env-file", f.env_files,
               "Read environment variables from FILE: KEY=VALUE lines, # comments; a bare KEY takes this "
               "shell's value (repeatable; -e wins)")
      ->type_name("FILE")
      ->allow_extra_args(false);
  c.add_flag("--no-image-env", f.no_image_env, "Do not start from the image's environment (OCI images)");
}

void AddExecCommands(CLI::App& vm, Command* selected) {
  {
    auto f = std::make_shared<ExecFlags>();
    auto* c =
        vm.add_subcommand("exec", "Run a command in a running VM: banger vm exec NAME -- CMD [ARGS...]");
    c->add_option("name", f->ref, "VM name or id")->required();
    AddCommandFlags(*c, *f, /*command_required=*/true);
    c->callback([f, selected] { *selected = [f](CliContext& ctx) { return StreamExec(ctx, f->ref, *f); }; });
  }
  {
    auto create = std::make_shared<CreateFlags>();
    auto f = std::make_shared<ExecFlags>();
    auto rm = std::make_shared<bool>(false);
    auto* c = vm.add_subcommand("run",
                                "Create and start a VM, then run a command in it: banger vm run [-- CMD] "
                                "(no CMD: the image's Entrypoint + Cmd)");
    AddCreateFlags(*c, *create, /*with_no_start=*/false);
    c->add_flag("--rm", *rm, "Delete the VM when the command ends (even if banger is killed)");
    AddCommandFlags(*c, *f, /*command_required=*/false);
    c->callback([=] { *selected = [=](CliContext& ctx) { return VmRun(ctx, *create, *f, *rm); }; });
  }
}

}  // namespace banger
