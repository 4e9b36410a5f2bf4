// DnsResponder: the small UDP DNS server the daemon runs on the bridge
// address, so guests (and the host) resolve VMs by name ("t1.vm").
//
//  - A (and ANY) queries for "<name>.<domain>" are answered from the record
//    map (authoritative, short TTL); other types for a known name get an
//    empty NOERROR answer; unknown names under the domain get NXDOMAIN.
//  - Everything else is relayed to the upstream server (config default_dns)
//    and its answer relayed back; ids are rewritten so that concurrent
//    clients never see each other's answers. An upstream that does not
//    answer in time is forgotten (the client retries on its own).
//  - UDP only; an upstream answer with the TC bit is relayed as it is.
//
// One thread (poll loop) per responder, started by Start and joined by
// Stop (or the destructor). Record methods are thread-safe and may be
// called at any time, before or after Start.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace banger {

class DnsResponder {
 public:
  struct Options {
    std::string listen_addr = "127.0.0.1";  // IPv4; need not exist yet (IP_FREEBIND)
    uint16_t port = 53;                     // 0 = any free port (see port())
    std::string upstream = "1.1.1.1";       // "ip" or "ip:port"; "" = answer SERVFAIL
    std::string domain = "vm";
    uint32_t ttl_seconds = 5;
    std::chrono::milliseconds forward_timeout{std::chrono::seconds(5)};
    size_t max_pending = 1024;  // forwarded queries awaiting an answer
  };

  explicit DnsResponder(Options opts);
  ~DnsResponder();
  DnsResponder(const DnsResponder&) = delete;
  DnsResponder& operator=(const DnsResponder&) = delete;

  // Binds and starts the thread. A bind failure names the address and the
  // likely cause (another DNS server holding the port).
  Status Start();
  // Stops and joins the thread; idempotent.
  void Stop();
  bool running() const { return running_.load(); }
  // The bound port (useful with port 0); 0 before Start.
  uint16_t port() const { return bound_port_.load(); }

  // `name` is "t1.vm", "t1.vm." or "t1" (the domain is appended); case is
  // ignored. `ip` must be an IPv4 address.
  Status SetRecord(const std::string& name, const std::string& ip);
  void RemoveRecord(const std::string& name);
  // Replaces every record (for reconcile).
  Status ReplaceRecords(const std::map<std::string, std::string>& records);
  std::map<std::string, std::string> Records() const;
  std::optional<uint32_t> Lookup(const std::string& name) const;

  // What the responder does with one datagram from a client: the serving
  // loop's decision without its sockets (so it can be tested and fuzzed).
  // `can_forward`: an upstream is set and has room for one more query.
  struct Verdict {
    enum Kind { kDrop, kReply, kForward } kind = kDrop;
    std::vector<uint8_t> reply;  // kReply: the datagram to send back
  };
  Verdict Answer(const uint8_t* data, size_t len, bool can_forward) const;

 private:
  struct Pending;
  std::string Normalize(const std::string& name) const;
  void Loop();

  const Options opts_;
  mutable std::mutex mu_;
  std::map<std::string, uint32_t> records_;  // normalized name -> IPv4 (host order). Guarded by mu_.

  UniqueFd listen_fd_;
  UniqueFd upstream_fd_;
  UniqueFd stop_r_, stop_w_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<uint16_t> bound_port_{0};
};

}  // namespace banger
