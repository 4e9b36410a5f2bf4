#include "model/port.h"

#include <gtest/gtest.h>

#include "model/json.h"
#include "model/requests.h"

namespace banger {
namespace {

TEST(PortMapping, ParsesTheForms) {
  auto a = ParsePortMapping("18080:8080");
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->host_ip, "127.0.0.1");
  EXPECT_EQ(a->host_port, 18080);
  EXPECT_EQ(a->guest_port, 8080);
  EXPECT_EQ(a->protocol, "tcp");
  EXPECT_EQ(a->Spec(), "127.0.0.1:18080:8080/tcp");

  auto b = ParsePortMapping("0.0.0.0:1:65535/tcp");
  ASSERT_TRUE(b.ok()) << b.error().message();
  EXPECT_EQ(b->host_ip, "0.0.0.0");
  EXPECT_EQ(b->host_port, 1);
  EXPECT_EQ(b->guest_port, 65535);
}

TEST(PortMapping, RejectsBadInputWithOneLine) {
  for (const char* bad : {"", "8080", "a:b", "0:80", "80:0", "65536:80", "80:65536", "1.2.3:80:80",
                          "localhost:80:80", "80:80/sctp", "80:80/", "::1:80:80", "1:2:3:4", "-1:80",
                          "+80:80", "080000:80", " 80:80", "80:80/tcp/udp"}) {
    auto r = ParsePortMapping(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument) << bad;
    EXPECT_EQ(r.error().message().find('\n'), std::string::npos) << bad;
  }
}

TEST(PortMapping, UdpIsItsOwnAddress) {
  auto r = ParsePortMapping("5353:53/udp");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->protocol, "udp");
  EXPECT_EQ(r->Spec(), "127.0.0.1:5353:53/udp");
  auto t = ParsePortMapping("5353:53");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(r->SameHostAddress(*t));  // 5353/tcp and 5353/udp may both be published
}

TEST(PortMapping, CreateRequestChecksPortsAndDuplicates) {
  auto ok = Decode<CreateVmRequest>(Json::parse(R"({"ports":["18080:8080","127.0.0.2:18080:8080"]})"));
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(ok->ports.size(), 2U);
  auto dup = Decode<CreateVmRequest>(Json::parse(R"({"ports":["18080:8080","127.0.0.1:18080:9090"]})"));
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message().find("given twice"), std::string::npos) << dup.error().message();
  auto bad = Decode<CreateVmRequest>(Json::parse(R"({"ports":["99999:1"]})"));
  ASSERT_FALSE(bad.ok());
  auto add = Decode<AddPortRequest>(Json::parse(R"({"port":"x"})"));
  ASSERT_FALSE(add.ok());
}

TEST(PortMapping, JsonRoundTrip) {
  PortMapping m;
  m.vm_id = "abc";
  m.host_port = 1;
  m.guest_port = 2;
  auto back = Decode<PortMapping>(ToJson(m));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->Spec(), m.Spec());
  EXPECT_EQ(back->vm_id, "abc");
}

}  // namespace
}  // namespace banger
