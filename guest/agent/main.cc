// banger-agent: runs commands for the host inside a guest.
//
//   banger-agent --serial NAME       the virtio-serial port named NAME
//   banger-agent --vsock PORT        AF_VSOCK listener (Firecracker)
//   banger-agent --listen-unix PATH  Unix socket listener (tests on the host)
//   banger-agent --pid1 ARGS...      PID 1 of an OCI image's guest: runs
//                                    `banger-agent ARGS...` and restarts it,
//                                    reaps orphans, powers off (pid1.h)
//   banger-agent --connect HOST:PORT copy stdin/stdout to and from one TCP
//                                    connection, then exit (`banger vm ssh`'s
//                                    ProxyCommand, run through `vm exec -i`)
//   banger-agent session-start|session-status|session-logs|session-attach|
//                session-stop|session-kill DIR ...
//                                    detached sessions (docs/sessions.md),
//                                    run by the daemon through ordinary execs
//   banger-agent fixup --hostname NAME --vm-id ID --time NS ...
//                                    a restored or forked guest takes its
//                                    new identity (fixup.h)
//   banger-agent ctr-root create|mount|exec|remove ROOT ...
//                                    a pod container's root inside the pod's
//                                    VM (ctr_root.h; the containerd shim)
//   banger-agent vm-id               prints the guest's current VM id
//   banger-agent cp-out|cp-in|stat|ls ...
//                                    `banger vm cp` and the files API
//                                    (cp.h, docs/adr/0022-vm-cp-wire-format.md)
//
// Logs its own errors to stderr, which the guest init sends to the console.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "agent.h"
#include "connect.h"
#include "connect_udp.h"
#include "cp.h"
#include "ctr_root.h"
#include "fixup.h"
#include "pid1.h"
#include "session.h"

namespace banger::agent {
namespace {

int Usage() {
  fprintf(stderr,
          "usage: banger-agent [--serial NAME] [--vsock PORT] [--listen-unix PATH]\n"
          "       banger-agent --pid1 [--serial NAME] [--vsock PORT] [--listen-unix PATH]\n"
          "       banger-agent --connect HOST:PORT\n"
          "       banger-agent --connect-udp 127.0.0.1:PORT\n"
          "       banger-agent session-{start,status,logs,attach,stop,kill} DIR ...\n"
          "       banger-agent fixup --hostname NAME --vm-id ID --time NS [...]\n"
          "       banger-agent ctr-root create|mount|exec|remove ROOT ...\n"
          "       banger-agent vm-id\n"
          "       banger-agent cp-out [--follow-links] PATH | cp-in [--chown UID:GID|keep] DIR\n"
          "       banger-agent stat PATH | ls PATH\n"
          "       banger-agent sync\n"
          "At least one transport is required. --connect copies stdin and stdout to\n"
          "and from a TCP connection to HOST:PORT until both directions are closed;\n"
          "--connect-udp carries datagrams framed as [u16 length][bytes] both ways.\n");
  return 2;
}

// Finds /dev/<port> whose /sys/class/virtio-ports/<port>/name is `name`
// (there is no udev in the initramfs to make /dev/virtio-ports/<name>).
std::string FindSerialPort(const std::string& name) {
  DIR* dir = opendir("/sys/class/virtio-ports");
  if (dir == nullptr) return {};
  std::string found;
  while (dirent* ent = readdir(dir)) {
    if (ent->d_name[0] == '.') continue;
    std::ifstream in(std::string("/sys/class/virtio-ports/") + ent->d_name + "/name");
    std::string port_name;
    std::getline(in, port_name);
    if (port_name == name) {
      found = std::string("/dev/") + ent->d_name;
      break;
    }
  }
  closedir(dir);
  return found;
}

// Opens the port once, read-write, and keeps it: a separate read-only open
// would see EOF at once.
UniqueFd OpenSerial(const std::string& name) {
  bool logged = false;
  for (;;) {
    std::string path = FindSerialPort(name);
    if (!path.empty()) {
      UniqueFd fd(open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
      if (fd.valid()) return fd;
      fprintf(stderr, "banger-agent: open %s: %s\n", path.c_str(), strerror(errno));
    } else if (!logged) {
      // The driver may still be loading: wait for the port to appear.
      fprintf(stderr, "banger-agent: waiting for virtio port %s\n", name.c_str());
      logged = true;
    }
    sleep(1);
  }
}

UniqueFd ListenVsock(uint32_t port) {
  UniqueFd fd(socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    fprintf(stderr, "banger-agent: vsock socket: %s\n", strerror(errno));
    return {};
  }
  sockaddr_vm addr = {};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = port;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd.get(), 64) != 0) {
    fprintf(stderr, "banger-agent: vsock port %u: %s\n", port, strerror(errno));
    return {};
  }
  return fd;
}

UniqueFd ListenUnix(const std::string& path) {
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    fprintf(stderr, "banger-agent: socket path too long: %s\n", path.c_str());
    return {};
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  unlink(path.c_str());  // a stale socket from an earlier run
  if (!fd.valid() || bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd.get(), 64) != 0) {
    fprintf(stderr, "banger-agent: listen on %s: %s\n", path.c_str(), strerror(errno));
    return {};
  }
  return fd;
}

// Commands get fds 0-2 by dup2 from fresh pipes; if the agent itself started
// without them, a pipe could land on 0-2 and be clobbered.
void EnsureStdio() {
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) open("/dev/null", O_RDWR);
  }
}

int Main(int argc, char** argv) {
  EnsureStdio();
  if (argc >= 2 && std::string(argv[1]) == "--pid1") return RunPid1(argc - 1, argv + 1);
  // A one-shot client, not an agent: nothing else may come with it.
  if (argc >= 2 && std::string(argv[1]) == "--connect") {
    if (argc != 3) return Usage();
    return RunConnect(argv[2]);
  }
  if (argc >= 2 && std::string(argv[1]) == "--connect-udp") {
    if (argc != 3) return Usage();
    return RunConnectUdp(argv[2]);
  }
  // Session subcommands: one-shot too, see session.h.
  if (argc >= 2 && std::string(argv[1]).rfind("session-", 0) == 0) {
    return RunSessionCommand(argc - 1, argv + 1);
  }
  if (argc >= 2 && std::string(argv[1]) == "fixup") return RunFixupCommand(argc - 1, argv + 1);
  if (argc >= 2 && std::string(argv[1]) == "ctr-root") return RunCtrRootCommand(argc - 1, argv + 1);
  if (argc >= 2) {
    std::string cmd = argv[1];
    if (cmd == "cp-out") return cp::RunCpOut(argc - 1, argv + 1);
    if (cmd == "cp-in") return cp::RunCpIn(argc - 1, argv + 1);
    if (cmd == "stat") return cp::RunStat(argc - 1, argv + 1);
    if (cmd == "ls") return cp::RunLs(argc - 1, argv + 1);
    // Writes the page cache back (the template settle of an image with no
    // shell or sync of its own).
    if (cmd == "sync" && argc == 2) {
      ::sync();
      return 0;
    }
  }
  if (argc == 2 && std::string(argv[1]) == "vm-id") {
    std::string id = CurrentVmId();
    if (id.empty()) {
      fprintf(stderr, "banger-agent: no vm id (neither %s nor banger.vm_id= in /proc/cmdline)\n",
              kVmIdOverridePath);
      return 1;
    }
    printf("%s\n", id.c_str());
    return 0;
  }
  Agent agent("banger-agent " BANGER_AGENT_VERSION);
  bool any = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return Usage();
    std::string value = argv[++i];
    if (flag == "--serial") {
      agent.AddSerialPort(OpenSerial(value));
    } else if (flag == "--vsock") {
      char* end = nullptr;
      unsigned long port = strtoul(value.c_str(), &end, 10);
      if (*end != '\0' || value.empty() || port > UINT32_MAX) return Usage();
      UniqueFd fd = ListenVsock(static_cast<uint32_t>(port));
      if (!fd.valid()) return 1;
      agent.AddListener(std::move(fd));
    } else if (flag == "--listen-unix") {
      UniqueFd fd = ListenUnix(value);
      if (!fd.valid()) return 1;
      agent.AddListener(std::move(fd));
    } else {
      return Usage();
    }
    any = true;
  }
  if (!any) return Usage();
  return agent.Run();
}

}  // namespace
}  // namespace banger::agent

int main(int argc, char** argv) { return banger::agent::Main(argc, argv); }
