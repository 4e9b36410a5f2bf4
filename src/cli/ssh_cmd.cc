// banger vm ssh NAME [-- CMD...]: OpenSSH to the guest's SSH server, with the
// key banger seeded into the image, tunnelled through the guest agent (so it
// works with no host networking): ssh's ProxyCommand is `banger vm exec -i
// NAME -- banger-agent --connect 127.0.0.1:22`, a byte pipe to the guest's
// port 22 carried by the agent's flow-controlled exec stream.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

#include "base/fs.h"
#include "base/process.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "config/config.h"

namespace banger {
namespace {

constexpr int kExitBangerFailed = 125;
constexpr const char* kGuestAgent = "/usr/local/sbin/banger-agent";

// Single-quotes a word for the POSIX shell ssh runs ProxyCommand with.
std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

std::string SelfPath() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "banger";
}

// True when a TCP connection to ip:port succeeds within a second.
bool PortOpen(const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) == 1;
  if (ok && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ok = errno == EINPROGRESS;
    if (ok) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      ok = ::poll(&p, 1, 1000) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
  }
  ::close(fd);
  return ok;
}

// Replaces this process with OpenSSH to root@host (through `proxy` when set).
int ExecSsh(const std::string& ssh, const std::string& key, const std::string& proxy, const std::string& host,
            const std::vector<std::string>& cmd) {
  std::vector<std::string> argv = {ssh,
                                   "-i",
                                   key,
                                   "-o",
                                   "IdentitiesOnly=yes",
                                   "-o",
                                   "StrictHostKeyChecking=no",
                                   "-o",
                                   "UserKnownHostsFile=/dev/null",
                                   "-o",
                                   "LogLevel=ERROR"};
  if (!proxy.empty()) {
    argv.push_back("-o");
    argv.push_back("ProxyCommand=" + proxy);
  }
  if (cmd.empty() && ::isatty(STDIN_FILENO)) argv.push_back("-t");
  argv.push_back("root@" + host);
  if (!cmd.empty()) {
    // ssh joins its arguments into one string for the remote shell; quoting
    // each keeps the command's argv exactly as given, as `vm exec` does.
    std::string remote;
    for (const auto& a : cmd) remote += (remote.empty() ? "" : " ") + ShellQuote(a);
    argv.push_back("--");
    argv.push_back(remote);
  }
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  // ssh takes over this process: its exit code (the remote command's) is ours.
  ::execv(ssh.c_str(), cargv.data());
  return Report(Error::FromErrno("exec ssh"), kExitBangerFailed);
}

int VmSsh(CliContext& ctx, const std::string& ref, const std::vector<std::string>& cmd) {
  if (ref.empty()) return Report(Error::Invalid("a VM name or id is required"), kExitBangerFailed);
  auto cfg = LoadConfig(ctx.client().config_path());
  if (!cfg.ok()) return Report(cfg.error(), kExitBangerFailed);
  std::string key =
      cfg->ssh_key_path.empty() ? ctx.client().home().root + "/ssh/id_ed25519" : cfg->ssh_key_path;
  if (!PathExists(key)) {
    return Report(Error::NotFound("ssh key " + key + " does not exist (it is made by `banger image build`)"),
                  kExitBangerFailed);
  }
  auto ssh = FindExecutable("ssh");
  if (!ssh.ok())
    return Report(Error::Unavailable("ssh not found (apt-get install openssh-client)"), kExitBangerFailed);
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error(), kExitBangerFailed);
  // A name or an id (or an id's unique prefix), as every verb takes; from
  // here on the VM's name, which is a DNS label and safe in the proxy command.
  auto vm = (*api)->Call("GET", "/v1/vms/" + UrlEncode(ref));
  if (!vm.ok()) return Report(vm.error(), kExitBangerFailed);
  const std::string name = JsonText(*vm, "/name");
  if (auto st = ValidateVmName(name); !st.ok()) return Report(st.error(), kExitBangerFailed);
  std::string guest_ip = JsonText(*vm, "/runtime/guest_ip");

  // With host networking, straight to the guest's address when it answers
  // from here (the CLI may run in another network namespace than bangerd).
  if (!guest_ip.empty() && PortOpen(guest_ip, 22)) return ExecSsh(*ssh, key, "", guest_ip, cmd);
  // A booting guest answers its agent before its SSH server listens: probe
  // port 22 through the agent until it accepts (stdin closed: the probe
  // connects, half-closes and ends).
  std::vector<std::string> probe = {SelfPath(),
                                    "--home",
                                    ctx.client().home().root,
                                    "--config",
                                    ctx.client().config_path(),
                                    "vm",
                                    "exec",
                                    name,
                                    "--",
                                    kGuestAgent,
                                    "--connect",
                                    "127.0.0.1:22"};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (;;) {
    auto r = RunCommand(probe, std::chrono::seconds(150));
    if (r.ok() && r->exit_code == 0) break;
    if (r.ok() && r->exit_code == kExitBangerFailed) {
      // The VM is not running or its agent never answered: that message is the answer.
      std::string msg = r->err;
      while (!msg.empty() && msg.back() == '\n') msg.pop_back();
      if (msg.rfind("banger: ", 0) == 0) msg = msg.substr(8);
      return Report(Error::Unavailable(msg), kExitBangerFailed);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Report(
          Error::Timeout("the SSH server of vm " + name + " did not accept connections within 120s"),
          kExitBangerFailed);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  std::string proxy = ShellQuote(SelfPath()) + " --home " + ShellQuote(ctx.client().home().root) +
                      " --config " + ShellQuote(ctx.client().config_path()) + " vm exec -i " + name + " -- " +
                      kGuestAgent + " --connect 127.0.0.1:22";
  return ExecSsh(*ssh, key, proxy, name, cmd);
}

}  // namespace

void AddSshCommand(CLI::App& vm, Command* selected) {
  auto name = std::make_shared<std::string>();
  auto cmd = std::make_shared<std::vector<std::string>>();
  auto* c =
      vm.add_subcommand("ssh", "SSH into a VM (through the guest agent): banger vm ssh NAME [-- CMD...]");
  c->add_option("name", *name, "VM name or id")->required();
  c->add_option("command", *cmd, "A command to run instead of a shell (after --)");
  c->callback([=] { *selected = [=](CliContext& ctx) { return VmSsh(ctx, *name, *cmd); }; });
}

}  // namespace banger
