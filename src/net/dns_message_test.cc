#include "net/dns_message.h"

#include <gtest/gtest.h>

#include "net/dns_responder.h"

namespace banger {
namespace {

TEST(DnsMessageTest, QueryRoundTrip) {
  auto q = BuildDnsQuery(0x1234, "T1.VM.", kDnsTypeA);
  ASSERT_TRUE(q.ok());
  // header(12) + 2 "t1" + 3 "vm"... : 1+2 + 1+2 + 1 + 4
  EXPECT_EQ(q->size(), 12u + 3 + 3 + 1 + 4);
  auto p = ParseDnsQuery(q->data(), q->size());
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->id, 0x1234);
  EXPECT_EQ(p->name, "t1.vm");  // lower case, no trailing dot
  EXPECT_EQ(p->qtype, kDnsTypeA);
  EXPECT_EQ(p->qclass, kDnsClassIN);
  EXPECT_FALSE(p->is_response());
  EXPECT_EQ(p->opcode(), 0);
  EXPECT_EQ(p->question_end, q->size());
  EXPECT_TRUE(p->flags & 0x0100);  // RD
}

TEST(DnsMessageTest, AnswerCarriesTheAddress) {
  auto q = BuildDnsQuery(7, "t1.vm", kDnsTypeA);
  auto p = ParseDnsQuery(q->data(), q->size());
  DnsBytes a = BuildDnsAnswer(*p, q->data(), 0xac100002, kDnsRcodeNoError, 5);
  auto r = ParseDnsResponse(a.data(), a.size());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->id, 7);
  EXPECT_EQ(r->rcode, kDnsRcodeNoError);
  EXPECT_TRUE(r->authoritative);
  EXPECT_EQ(r->a_records, std::vector<uint32_t>{0xac100002});
  // The answer's TTL sits after name pointer(2), type(2), class(2).
  size_t ans = q->size();
  EXPECT_EQ(a[ans], 0xc0);
  EXPECT_EQ(a[ans + 1], 12);
  EXPECT_EQ(a[ans + 9], 5);

  DnsBytes nx = BuildDnsAnswer(*p, q->data(), std::nullopt, kDnsRcodeNxDomain, 5);
  auto rn = ParseDnsResponse(nx.data(), nx.size());
  ASSERT_TRUE(rn.ok());
  EXPECT_EQ(rn->rcode, kDnsRcodeNxDomain);
  EXPECT_TRUE(rn->a_records.empty());
}

TEST(DnsMessageTest, RejectsMalformedQueries) {
  uint8_t short_msg[5] = {0};
  EXPECT_FALSE(ParseDnsQuery(short_msg, sizeof short_msg).ok());
  auto q = BuildDnsQuery(1, "a.vm", kDnsTypeA);
  // Truncated question.
  EXPECT_FALSE(ParseDnsQuery(q->data(), q->size() - 2).ok());
  // No question.
  DnsBytes none(q->begin(), q->begin() + 12);
  none[5] = 0;
  EXPECT_FALSE(ParseDnsQuery(none.data(), none.size()).ok());
  // Compression pointer in the question.
  DnsBytes ptr(q->begin(), q->begin() + 12);
  ptr.insert(ptr.end(), {0xc0, 0x0c, 0, 1, 0, 1});
  EXPECT_FALSE(ParseDnsQuery(ptr.data(), ptr.size()).ok());
  EXPECT_FALSE(BuildDnsQuery(1, "a..vm", kDnsTypeA).ok());
  EXPECT_FALSE(BuildDnsQuery(1, "", kDnsTypeA).ok());
}

TEST(DnsMessageTest, ErrorReplyAndIdRewrite) {
  DnsBytes e = BuildDnsError(0xbeef, 0x0100, kDnsRcodeServFail);
  auto r = ParseDnsResponse(e.data(), e.size());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, 0xbeef);
  EXPECT_EQ(r->rcode, kDnsRcodeServFail);
  SetDnsId(e, 0x0102);
  EXPECT_EQ(ParseDnsResponse(e.data(), e.size())->id, 0x0102);
  // A query is not a response.
  auto q = BuildDnsQuery(1, "x.org", kDnsTypeA);
  EXPECT_FALSE(ParseDnsResponse(q->data(), q->size()).ok());
}

TEST(DnsResponderRecordsTest, NamesAreNormalized) {
  DnsResponder d({});
  ASSERT_TRUE(d.SetRecord("T1.vm.", "172.16.0.2").ok());
  ASSERT_TRUE(d.SetRecord("t2", "172.16.0.3").ok());
  EXPECT_FALSE(d.SetRecord("t3", "nope").ok());
  EXPECT_EQ(d.Records(),
            (std::map<std::string, std::string>{{"t1.vm", "172.16.0.2"}, {"t2.vm", "172.16.0.3"}}));
  EXPECT_EQ(*d.Lookup("t1"), 0xac100002u);
  d.RemoveRecord("t1.vm");
  EXPECT_FALSE(d.Lookup("t1.vm"));
  ASSERT_TRUE(d.ReplaceRecords({{"a.vm", "172.16.0.9"}}).ok());
  EXPECT_EQ(d.Records().size(), 1u);
  EXPECT_FALSE(d.running());
}

// Found by the dns fuzzer: a single label "t1.vm" (with the dot as a byte of
// the label) read back as the two-label name t1.vm, so the responder answered
// it as if it were the VM's name. Such a label is malformed for us.
TEST(DnsMessageTest, ADotInsideALabelIsRefused) {
  DnsBytes q = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 't', '1', '.', 'v', 'm', 0, 0, 1, 0, 1};
  EXPECT_FALSE(ParseDnsQuery(q.data(), q.size()).ok());
  DnsResponder d({});
  ASSERT_TRUE(d.SetRecord("t1", "172.16.0.2").ok());
  auto v = d.Answer(q.data(), q.size(), true);
  ASSERT_EQ(v.kind, DnsResponder::Verdict::kReply);
  EXPECT_EQ(v.reply.at(3) & 0xf, kDnsRcodeFormErr);
}

// The serving loop's decision per datagram, without sockets (also what the
// dns fuzzer drives: fuzz/dns_fuzzer.cc).
TEST(DnsResponderAnswerTest, DecidesPerDatagram) {
  DnsResponder d({});
  ASSERT_TRUE(d.SetRecord("t1", "172.16.0.2").ok());
  auto rcode = [](const DnsResponder::Verdict& v) { return v.reply.at(3) & 0xf; };

  auto a = BuildDnsQuery(9, "T1.vm", kDnsTypeA);
  auto v = d.Answer(a->data(), a->size(), false);
  ASSERT_EQ(v.kind, DnsResponder::Verdict::kReply);
  auto r = ParseDnsResponse(v.reply.data(), v.reply.size());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->id, 9);
  EXPECT_EQ(r->a_records, std::vector<uint32_t>{0xac100002});

  auto nx = BuildDnsQuery(1, "nope.vm", kDnsTypeA);
  v = d.Answer(nx->data(), nx->size(), true);
  ASSERT_EQ(v.kind, DnsResponder::Verdict::kReply);
  EXPECT_EQ(rcode(v), kDnsRcodeNxDomain);

  auto other = BuildDnsQuery(2, "example.com", kDnsTypeA);
  EXPECT_EQ(d.Answer(other->data(), other->size(), true).kind, DnsResponder::Verdict::kForward);
  v = d.Answer(other->data(), other->size(), false);  // no upstream, or too many pending
  ASSERT_EQ(v.kind, DnsResponder::Verdict::kReply);
  EXPECT_EQ(rcode(v), kDnsRcodeServFail);

  DnsBytes response = *a;
  response[2] |= 0x80;  // QR: a response is never answered
  EXPECT_EQ(d.Answer(response.data(), response.size(), true).kind, DnsResponder::Verdict::kDrop);
  EXPECT_EQ(d.Answer(a->data(), 11, true).kind, DnsResponder::Verdict::kDrop);  // shorter than a header
  v = d.Answer(a->data(), a->size() - 3, true);                                 // truncated question
  ASSERT_EQ(v.kind, DnsResponder::Verdict::kReply);
  EXPECT_EQ(rcode(v), kDnsRcodeFormErr);
}

}  // namespace
}  // namespace banger
