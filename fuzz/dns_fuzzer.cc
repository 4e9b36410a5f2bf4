// The DNS codec (net/dns_message.h) and the responder's per-datagram decision
// (DnsResponder::Answer; no sockets, no network) against hostile datagrams
// from guests. Invariants: nothing crashes; a reply keeps the query's id and
// is a response; an answer the responder builds parses back; a query that
// parses and rebuilds from its name parses to the same name and type.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fuzz/fuzz_util.h"
#include "net/dns_message.h"
#include "net/dns_responder.h"

namespace banger {
namespace {

DnsResponder& Responder() {
  static DnsResponder* r = [] {
    DnsResponder::Options o;
    o.upstream = "";  // never started: Answer only
    auto* d = new DnsResponder(o);
    (void)d->SetRecord("t1", "172.16.0.2");
    (void)d->SetRecord("web.vm", "172.16.0.3");
    (void)d->SetRecord("UPPER.vm.", "172.16.0.4");
    return d;
  }();
  return *r;
}

}  // namespace
}  // namespace banger

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger;
  (void)ParseDnsResponse(data, size);

  auto q = ParseDnsQuery(data, size);
  if (q.ok()) {
    BANGER_FUZZ_CHECK(q->question_end <= size);
    // The answer echoes the question and parses as a response.
    for (bool with_ip : {false, true}) {
      DnsBytes a = BuildDnsAnswer(*q, data, with_ip ? std::optional<uint32_t>(0x0a000001) : std::nullopt,
                                  kDnsRcodeNoError, 5);
      auto r = ParseDnsResponse(a.data(), a.size());
      BANGER_FUZZ_CHECK(r.ok());
      BANGER_FUZZ_CHECK(r->id == q->id);
      BANGER_FUZZ_CHECK(r->a_records.size() == (with_ip ? 1u : 0u));
    }
    // The name rebuilt into a fresh query reads back the same.
    auto again = BuildDnsQuery(q->id, q->name, q->qtype);
    if (again.ok()) {
      auto q2 = ParseDnsQuery(again->data(), again->size());
      BANGER_FUZZ_CHECK(q2.ok());
      BANGER_FUZZ_CHECK(q2->name == q->name && q2->qtype == q->qtype && q2->id == q->id);
    }
  }

  for (bool can_forward : {false, true}) {
    auto v = Responder().Answer(data, size, can_forward);
    if (v.kind == DnsResponder::Verdict::kReply) {
      BANGER_FUZZ_CHECK(v.reply.size() >= 12);
      BANGER_FUZZ_CHECK(v.reply[0] == data[0] && v.reply[1] == data[1]);
      BANGER_FUZZ_CHECK(v.reply[2] & 0x80);  // QR: never a query back
      (void)ParseDnsResponse(v.reply.data(), v.reply.size());
    } else if (v.kind == DnsResponder::Verdict::kForward) {
      BANGER_FUZZ_CHECK(can_forward);
    }
  }

  // Any bytes as a name for a query of our own (the CLI and tests build these).
  if (size > 0 && size < 300) {
    std::string name(reinterpret_cast<const char*>(data), size);
    auto b = BuildDnsQuery(1, name, kDnsTypeA);
    if (b.ok()) BANGER_FUZZ_CHECK(ParseDnsQuery(b->data(), b->size()).ok());
  }
  return 0;
}
