// The few DNS wire-format pieces (RFC 1035) the responder needs: read a
// query's header and question, build an answer for a name we own, and (for
// tests and tools) build a query and read a response's A records.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace banger {

using DnsBytes = std::vector<uint8_t>;

inline constexpr uint16_t kDnsTypeA = 1;
inline constexpr uint16_t kDnsTypeAAAA = 28;
inline constexpr uint16_t kDnsClassIN = 1;
inline constexpr uint8_t kDnsRcodeNoError = 0;
inline constexpr uint8_t kDnsRcodeFormErr = 1;
inline constexpr uint8_t kDnsRcodeServFail = 2;
inline constexpr uint8_t kDnsRcodeNxDomain = 3;
inline constexpr uint8_t kDnsRcodeNotImp = 4;

struct DnsQuery {
  uint16_t id = 0;
  uint16_t flags = 0;  // as received
  std::string name;    // lower case, no trailing dot: "t1.vm"
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  size_t question_end = 0;  // offset just past the first question
  bool is_response() const { return flags & 0x8000; }
  uint8_t opcode() const { return (flags >> 11) & 0xf; }
};

// Parses the header and the first question. Fails on truncated or
// malformed input, on compression pointers in the question and on qdcount 0.
Result<DnsQuery> ParseDnsQuery(const uint8_t* data, size_t len);

// An authoritative answer to `q` (whose raw bytes are `raw`, for the
// question section): with `ipv4` (host order) an A record of `ttl`, else no
// answer; `rcode` as given (kDnsRcodeNoError with no address = NODATA).
DnsBytes BuildDnsAnswer(const DnsQuery& q, const uint8_t* raw, std::optional<uint32_t> ipv4, uint8_t rcode,
                        uint32_t ttl);
// A bare error reply (FORMERR, SERVFAIL, NOTIMP): the header only, with
// the query's id, opcode and RD bit.
DnsBytes BuildDnsError(uint16_t id, uint16_t flags, uint8_t rcode);

// A recursive query for `name` ("t1.vm") of `qtype`.
Result<DnsBytes> BuildDnsQuery(uint16_t id, const std::string& name, uint16_t qtype);

struct DnsResponse {
  uint16_t id = 0;
  uint8_t rcode = 0;
  bool authoritative = false;
  std::vector<uint32_t> a_records;  // host order
};
// Reads a response's header and its A answers (compressed names allowed).
Result<DnsResponse> ParseDnsResponse(const uint8_t* data, size_t len);

// Rewrites the 16-bit id at the start of a DNS message (forwarding).
void SetDnsId(DnsBytes& msg, uint16_t id);

}  // namespace banger
