#include "daemon/guest_fixup.h"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "daemon/guest_exec.h"

namespace banger {
namespace {

using Clock = std::chrono::steady_clock;

// Bounds what a hostile guest can make the daemon hold.
constexpr size_t kMaxReportBytes = 16 * 1024;

// The time goes through stdin, written once the command runs (see below).
std::vector<std::string> FixupArgv(const GuestFixup& f, const std::string& agent_path) {
  std::vector<std::string> argv = {
      agent_path, "fixup",  "--hostname", f.hostname,        "--vm-id",
      f.vm_id,    "--time", "stdin",      "--entropy-stdin", std::to_string(kFixupEntropyBytes)};
  if (f.nic) {
    argv.insert(argv.end(), {"--mac", f.nic->mac, "--ip", f.nic->ip + "/" + std::to_string(f.nic->prefix)});
    if (!f.nic->gateway.empty()) argv.insert(argv.end(), {"--gateway", f.nic->gateway});
    if (!f.nic->dns.empty()) argv.insert(argv.end(), {"--dns", f.nic->dns});
  }
  return argv;
}

// The guest's error lines as one line.
std::string OneLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ';';
  }
  return s.empty() ? "(no message)" : s;
}

void Append(std::string* to, const std::string& data) {
  if (to->size() < kMaxReportBytes) to->append(data, 0, kMaxReportBytes - to->size());
}

}  // namespace

GuestFixup GuestFixupFor(const VmRecord& vm, const VmNetwork* net) {
  GuestFixup f;
  f.hostname = vm.name;
  f.vm_id = vm.id;
  if (net != nullptr && !vm.runtime.guest_ip.empty()) f.nic = net->NicFor(vm);
  return f;
}

FixupSources FixupSources::Host() {
  FixupSources s;
  s.realtime_ns = [] {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  };
  s.random = [](uint8_t* buf, size_t n) -> Status {
    size_t got = 0;
    while (got < n) {
      ssize_t r = getrandom(buf + got, n - got, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Error::FromErrno("getrandom");
      got += static_cast<size_t>(r);
    }
    return OkStatus();
  };
  return s;
}

Result<GuestFixupReport> FixupGuest(AgentConn& conn, const GuestFixup& f, std::chrono::milliseconds deadline,
                                    const FixupSources& src, const std::string& agent_path) {
  auto start = Clock::now();
  auto until = start + deadline;
  // stdin: 8 bytes of time (big-endian ns), then the entropy.
  std::array<uint8_t, 8 + kFixupEntropyBytes> input{};
  BANGER_RETURN_IF_ERROR(
      Annotate(src.random(input.data() + 8, kFixupEntropyBytes), "guest fixup: host entropy"));

  ExecRequest req;
  req.argv = FixupArgv(f, agent_path);
  req.cwd = "/";
  req.open_timeout = deadline;
  auto ch = conn.Exec(req);
  if (!ch.ok()) {
    explicit_bzero(input.data(), input.size());
    return std::move(ch).error().Wrap("guest fixup");
  }
  // The clock is read now that the command runs, so the guest is behind by
  // one stdin frame's transit, not by the exec's start-up.
  auto now = static_cast<uint64_t>(src.realtime_ns());
  for (int i = 0; i < 8; ++i) input[i] = static_cast<uint8_t>(now >> (56 - 8 * i));
  Status wrote =
      (*ch)->WriteStdin(std::string_view(reinterpret_cast<const char*>(input.data()), input.size()));
  explicit_bzero(input.data(), input.size());
  if (wrote.ok()) wrote = (*ch)->CloseStdin();
  if (!wrote.ok()) {
    (*ch)->Abort("guest fixup: writing the entropy failed");
    return std::move(wrote).error().Wrap("guest fixup: sending entropy");
  }

  GuestFixupReport report;
  std::string err;
  for (;;) {
    auto ev = (*ch)->NextUntil(until);
    if (!ev.ok()) {
      (*ch)->Abort("guest fixup: past its deadline");
      if (ev.error().kind() == ErrorKind::kTimeout) {
        return Error::Timeout("guest fixup did not finish within " + std::to_string(deadline.count()) +
                              " ms");
      }
      return std::move(ev).error().Wrap("guest fixup");
    }
    if (ev->kind == ExecEvent::kStdout) {
      Append(&report.lines, ev->data);
    } else if (ev->kind == ExecEvent::kStderr) {
      Append(&err, ev->data);
    } else if (ev->kind == ExecEvent::kExit) {
      report.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      const ExitStatus& st = ev->exit;
      if (!st.signaled && st.code == 0) return report;
      if (!st.signaled && (st.code == 126 || st.code == 127)) {
        return Error::Internal("guest fixup: the guest has no usable " + agent_path +
                               " fixup (an image built by an older banger? rebuild it): " + OneLine(err));
      }
      return Error::Internal("guest fixup failed (exit " + std::to_string(st.ShellCode()) +
                             "): " + OneLine(err));
    }
  }
}

Result<GuestFixupReport> FixupGuest(GuestExec& exec, const VmRecord& vm, const GuestFixup& f,
                                    std::chrono::milliseconds deadline, const std::string& agent_path) {
  auto until = Clock::now() + deadline;
  BANGER_ASSIGN_OR_RETURN(auto conn, exec.WaitForAgent(vm.id, deadline));
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
  if (left <= std::chrono::milliseconds(0)) {
    return Error::Timeout("guest fixup of vm " + vm.name + ": no time left after its agent answered");
  }
  return Annotate(FixupGuest(*conn, f, left, FixupSources::Host(), agent_path), "vm " + vm.name);
}

}  // namespace banger
