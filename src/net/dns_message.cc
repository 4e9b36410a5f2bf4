#include "net/dns_message.h"

namespace banger {

namespace {

constexpr size_t kHeaderLen = 12;
constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kFlagAa = 0x0400;
constexpr uint16_t kFlagRd = 0x0100;
constexpr uint16_t kFlagRa = 0x0080;

uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Get32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
void Put16(DnsBytes& b, uint16_t v) {
  b.push_back(v >> 8);
  b.push_back(v & 0xff);
}
void Put32(DnsBytes& b, uint32_t v) {
  Put16(b, v >> 16);
  Put16(b, v & 0xffff);
}

uint16_t ReplyFlags(uint16_t query_flags, uint8_t rcode, bool authoritative) {
  uint16_t f = kFlagQr | (query_flags & 0x7800) | (query_flags & kFlagRd) | kFlagRa | (rcode & 0xf);
  if (authoritative) f |= kFlagAa;
  return f;
}

void PutHeader(DnsBytes& b, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an) {
  Put16(b, id);
  Put16(b, flags);
  Put16(b, qd);
  Put16(b, an);
  Put16(b, 0);
  Put16(b, 0);
}

// Skips a possibly compressed name starting at `off`; returns the offset
// just past it, or 0 if malformed.
size_t SkipName(const uint8_t* data, size_t len, size_t off) {
  for (int guard = 0; guard < 128; ++guard) {
    if (off >= len) return 0;
    uint8_t l = data[off];
    if (l == 0) return off + 1;
    if ((l & 0xc0) == 0xc0) return off + 2 <= len ? off + 2 : 0;
    if (l & 0xc0) return 0;
    off += 1 + l;
  }
  return 0;
}

}  // namespace

Result<DnsQuery> ParseDnsQuery(const uint8_t* data, size_t len) {
  if (len < kHeaderLen) return Error::Invalid("dns: message shorter than its header");
  DnsQuery q;
  q.id = Get16(data);
  q.flags = Get16(data + 2);
  if (Get16(data + 4) == 0) return Error::Invalid("dns: no question");
  size_t off = kHeaderLen;
  std::string name;
  while (true) {
    if (off >= len) return Error::Invalid("dns: truncated name");
    uint8_t l = data[off++];
    if (l == 0) break;
    if (l & 0xc0) return Error::Invalid("dns: compressed or reserved label in the question");
    if (off + l > len) return Error::Invalid("dns: truncated label");
    if (!name.empty()) name += '.';
    for (size_t i = 0; i < l; ++i) {
      char c = static_cast<char>(data[off + i]);
      // The name is returned dotted: a dot inside a label would make the one
      // label "t1.vm" read as the name t1.vm (found by fuzz/dns_fuzzer.cc).
      if (c == '.') return Error::Invalid("dns: a label holds a dot");
      name += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    off += l;
    if (name.size() > 253) return Error::Invalid("dns: name too long");
  }
  if (off + 4 > len) return Error::Invalid("dns: truncated question");
  q.name = std::move(name);
  q.qtype = Get16(data + off);
  q.qclass = Get16(data + off + 2);
  q.question_end = off + 4;
  return q;
}

DnsBytes BuildDnsAnswer(const DnsQuery& q, const uint8_t* raw, std::optional<uint32_t> ipv4, uint8_t rcode,
                        uint32_t ttl) {
  DnsBytes b;
  b.reserve(q.question_end + 16);
  PutHeader(b, q.id, ReplyFlags(q.flags, rcode, true), 1, ipv4 ? 1 : 0);
  b.insert(b.end(), raw + kHeaderLen, raw + q.question_end);
  if (ipv4) {
    Put16(b, 0xc000 | kHeaderLen);  // pointer to the question's name
    Put16(b, kDnsTypeA);
    Put16(b, kDnsClassIN);
    Put32(b, ttl);
    Put16(b, 4);
    Put32(b, *ipv4);
  }
  return b;
}

DnsBytes BuildDnsError(uint16_t id, uint16_t flags, uint8_t rcode) {
  DnsBytes b;
  PutHeader(b, id, ReplyFlags(flags, rcode, false), 0, 0);
  return b;
}

Result<DnsBytes> BuildDnsQuery(uint16_t id, const std::string& name, uint16_t qtype) {
  DnsBytes b;
  PutHeader(b, id, kFlagRd, 1, 0);
  size_t start = 0;
  std::string n = !name.empty() && name.back() == '.' ? name.substr(0, name.size() - 1) : name;
  if (n.empty() || n.size() > 253) return Error::Invalid("dns: bad name \"" + name + "\"");
  while (start <= n.size()) {
    size_t dot = n.find('.', start);
    if (dot == std::string::npos) dot = n.size();
    size_t l = dot - start;
    if (l == 0 || l > 63) return Error::Invalid("dns: bad name \"" + name + "\"");
    b.push_back(static_cast<uint8_t>(l));
    b.insert(b.end(), n.begin() + start, n.begin() + dot);
    start = dot + 1;
  }
  b.push_back(0);
  Put16(b, qtype);
  Put16(b, kDnsClassIN);
  return b;
}

Result<DnsResponse> ParseDnsResponse(const uint8_t* data, size_t len) {
  if (len < kHeaderLen) return Error::Invalid("dns: message shorter than its header");
  DnsResponse r;
  r.id = Get16(data);
  uint16_t flags = Get16(data + 2);
  if (!(flags & kFlagQr)) return Error::Invalid("dns: not a response");
  r.rcode = flags & 0xf;
  r.authoritative = flags & kFlagAa;
  uint16_t qd = Get16(data + 4), an = Get16(data + 6);
  size_t off = kHeaderLen;
  for (int i = 0; i < qd; ++i) {
    off = SkipName(data, len, off);
    if (off == 0 || off + 4 > len) return Error::Invalid("dns: truncated question");
    off += 4;
  }
  for (int i = 0; i < an; ++i) {
    off = SkipName(data, len, off);
    if (off == 0 || off + 10 > len) return Error::Invalid("dns: truncated answer");
    uint16_t type = Get16(data + off), cls = Get16(data + off + 2), rdlen = Get16(data + off + 8);
    off += 10;
    if (off + rdlen > len) return Error::Invalid("dns: truncated answer data");
    if (type == kDnsTypeA && cls == kDnsClassIN && rdlen == 4) r.a_records.push_back(Get32(data + off));
    off += rdlen;
  }
  return r;
}

void SetDnsId(DnsBytes& msg, uint16_t id) {
  if (msg.size() < 2) return;
  msg[0] = id >> 8;
  msg[1] = id & 0xff;
}

}  // namespace banger
