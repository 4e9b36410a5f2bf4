// Guest fixup (issue 10): a VM restored from a memory snapshot, or forked
// from another, resumes believing it is the VM whose memory it carries: the
// old wall clock, hostname, VM id, MAC and IP, and the kernel random pool of
// its source (which every fork would share). FixupGuest gives it its own
// again by running `banger-agent fixup` in the guest (guest/agent/fixup.h):
//
//   - the host's wall clock (CLOCK_REALTIME, read once the command runs and
//     written to its stdin, so the exec's start-up does not delay it);
//   - 64 bytes from the host's getrandom(2), written to the command's stdin
//     (never argv, which /proc shows to every guest process, and never
//     logged) and credited to the guest kernel's pool;
//   - the hostname (also /etc/hostname and /etc/hosts' 127.0.1.1 line) and
//     the VM id (/run/banger/vm_id, which the agent prefers to the stale
//     banger.vm_id= of /proc/cmdline and reports in its HELLO_ACK);
//   - with a NIC: eth0's MAC, address/prefix, default route and DNS server,
//     then a gratuitous ARP.
//
// The snapshot restore and fork code calls, once the VMM runs again:
//
//   BANGER_RETURN_IF_ERROR(FixupGuest(guest_exec, vm, GuestFixupFor(vm, network), 10s));
//
// Thread-safety: free functions; the AgentConn they use is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "agent/client.h"
#include "base/result.h"
#include "daemon/network.h"
#include "model/types.h"

namespace banger {

class GuestExec;

inline constexpr const char* kGuestAgentPath = "/usr/local/sbin/banger-agent";
inline constexpr size_t kFixupEntropyBytes = 64;

struct GuestFixup {
  std::string hostname;
  std::string vm_id;
  std::optional<GuestNic> nic;  // none: the guest's network is left alone
};

// What `vm`'s guest must become: its name as hostname, its id, and, when
// `net` is given (networking on) and the VM has a guest IP, the NIC a cold
// boot of it would configure (VmNetwork::NicFor, the source of its kernel
// command line's banger.ip=/gw=/dns=).
GuestFixup GuestFixupFor(const VmRecord& vm, const VmNetwork* net);

// Where FixupGuest takes the host's clock and randomness (tests replace them).
struct FixupSources {
  std::function<int64_t()> realtime_ns;                  // nanoseconds since the epoch
  std::function<Status(uint8_t* buf, size_t n)> random;  // fills buf with n random bytes
  static FixupSources Host();                            // CLOCK_REALTIME and getrandom(2)
};

// What the guest reported: one line per step it ran ("fixup: clock:
// stepped by +3600.002 s", ...), the last one saying how long it took.
struct GuestFixupReport {
  std::string lines;
  std::chrono::milliseconds took{0};  // host side, exec open to exit
};

// Runs the fixup on an agent connection, all of it (open, stdin, exit)
// within `deadline`. Errors: kTimeout past the deadline (the command is
// killed); kInternal when a step failed in the guest (the message carries
// the guest's error lines, e.g. "guest fixup: banger-agent fixup: hostname:
// sethostname: Operation not permitted"), or when the guest's agent has no
// fixup (exit 127: an image built before it; rebuild the image).
Result<GuestFixupReport> FixupGuest(AgentConn& conn, const GuestFixup& f, std::chrono::milliseconds deadline,
                                    const FixupSources& src = FixupSources::Host(),
                                    const std::string& agent_path = kGuestAgentPath);

// The same through the daemon's shared agent connection to `vm`: waits for
// its agent (the restored guest's vsock or serial link comes back) and runs
// the fixup, both within `deadline`.
Result<GuestFixupReport> FixupGuest(GuestExec& exec, const VmRecord& vm, const GuestFixup& f,
                                    std::chrono::milliseconds deadline,
                                    const std::string& agent_path = kGuestAgentPath);

}  // namespace banger
