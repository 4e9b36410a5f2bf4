// `banger-agent fixup ...`: gives a guest restored from a memory snapshot (or
// forked) its own identity again (docs/agent-protocol.md, "Guest fixup").
// The daemon runs it through an ordinary exec (src/daemon/guest_fixup.h):
//
//   banger-agent fixup --hostname NAME --vm-id ID --time UNIX_NS|stdin
//                      [--entropy-stdin BYTES]
//                      [--mac MAC --ip A.B.C.D/NN [--gateway A.B.C.D]
//                       [--dns A.B.C.D] [--iface NAME]]
//
// stdin carries, in this order: with `--time stdin`, the time as 8 bytes
// (big-endian nanoseconds since the epoch), which the host writes once the
// command runs, so the exec's start-up does not set the clock behind; then
// the entropy bytes.
//
// Steps, each idempotent, each reporting one line on stdout ("fixup: STEP:
// what changed") or one line on stderr ("banger-agent fixup: STEP: error"):
//   clock     CLOCK_REALTIME set to the host's wall clock
//   entropy   BYTES random bytes read from stdin (never argv: /proc shows
//             argv to every guest process) mixed into the kernel pool and
//             credited (RNDADDENTROPY); the buffer is wiped after use
//   hostname  sethostname, /etc/hostname and /etc/hosts' 127.0.1.1 line
//             (the ones guest/init/init.sh writes at boot)
//   vm-id     /run/banger/vm_id, which overrides banger.vm_id= of the
//             (stale after a restore) kernel command line; see CurrentVmId
//   network   eth0's MAC (link down, set, up, only when it differs), its
//             IPv4 addresses (all others removed), the default route,
//             a gratuitous ARP, and /etc/resolv.conf when --dns is given
// Exit code: 0 all steps done, 1 a step failed (the others still ran),
// 2 a usage or validation error (nothing was changed).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace banger::agent {

inline constexpr size_t kMinFixupEntropy = 32;
inline constexpr size_t kMaxFixupEntropy = 4096;
inline constexpr const char* kVmIdOverridePath = "/run/banger/vm_id";

struct FixupNic {
  std::string iface = "eth0";
  std::array<uint8_t, 6> mac{};
  uint32_t ip = 0;  // host byte order
  int prefix = 0;
  std::optional<uint32_t> gateway;  // host byte order
  std::optional<uint32_t> dns;
};

struct FixupArgs {
  std::string hostname;
  std::string vm_id;
  int64_t time_ns = 0;
  bool time_from_stdin = false;  // --time stdin: time_ns is read from stdin
  size_t entropy_bytes = 0;      // 0: no --entropy-stdin
  std::optional<FixupNic> nic;
};

// Validation, shared with the tests. Each returns "" when valid, else what
// is wrong (one line, without the flag name).
std::string CheckHostname(std::string_view name);                    // RFC 1123, at most 64 chars
std::string CheckVmId(std::string_view id);                          // 1-64 lowercase hex digits
std::optional<std::array<uint8_t, 6>> ParseMac(std::string_view s);  // unicast, not all zero
std::optional<uint32_t> ParseIpv4(std::string_view s);               // dotted quad, host order
std::string FormatIpv4(uint32_t ip);
std::string FormatMac(const std::array<uint8_t, 6>& mac);

// /etc/hosts' text `old` with its 127.0.1.1 line(s) replaced by one naming
// `name`, last (as guest/init/init.sh writes it at boot); other lines kept.
std::string HostsWithName(const std::string& old, const std::string& name);

// Parses the arguments after "fixup". On error returns nullopt and sets *err.
std::optional<FixupArgs> ParseFixupArgs(int argc, const char* const* argv, std::string* err);

// The range --time accepts (after 2001, before 2262).
bool ValidFixupTime(int64_t ns);

// argv[0] is "fixup". Returns the exit code described above.
int RunFixupCommand(int argc, char** argv);

// The VM id this guest currently has: /run/banger/vm_id when a fixup wrote
// it, else banger.vm_id= from /proc/cmdline; "" when neither says.
std::string CurrentVmId();

// The network step (fixup_net.cc). Returns false after printing the error;
// *changed lists what it changed, for the report.
bool FixupNetwork(const FixupNic& nic, std::string* changed);

}  // namespace banger::agent
