// Parsers of iproute2's JSON, on output captured from iproute2 6.1.
#include "net/net_ops.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

TEST(ParseIpLinkJsonTest, KindsMastersFlagsAndAddresses) {
  const char* json = R"([
    {"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"addr_info":[
       {"family":"inet","local":"127.0.0.1","prefixlen":8},{"family":"inet6","local":"::1","prefixlen":128}]},
    {"ifindex":2,"ifname":"br-fc","flags":["BROADCAST","MULTICAST","UP"],"address":"0a:00:ac:10:00:01",
     "linkinfo":{"info_kind":"bridge","info_data":{"stp_state":0}},
     "addr_info":[{"family":"inet","local":"172.16.0.1","prefixlen":24}]},
    {"ifindex":3,"ifname":"bgtap0","flags":["BROADCAST","MULTICAST"],"master":"br-fc",
     "linkinfo":{"info_kind":"tun","info_data":{"type":"tap","pi":false,"user":"banger-vmm"},"info_slave_kind":"bridge"},"addr_info":[]},
    {"ifindex":4,"ifname":"tun0","flags":[],"linkinfo":{"info_kind":"tun","info_data":{"type":"tun"}}},
    {"ifindex":5,"ifname":"eth0","flags":["UP"]}
  ])";
  auto r = ParseIpLinkJson(json);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 5u);
  const auto& v = *r;
  EXPECT_EQ(v[0].name, "lo");
  EXPECT_EQ(v[0].kind, "");
  EXPECT_TRUE(v[0].up);
  EXPECT_EQ(v[0].ipv4, std::vector<std::string>{"127.0.0.1/8"});
  EXPECT_EQ(v[1].kind, "bridge");
  EXPECT_EQ(v[1].mac, "0a:00:ac:10:00:01");
  EXPECT_EQ(v[2].mac, "");
  EXPECT_EQ(v[1].ipv4, std::vector<std::string>{"172.16.0.1/24"});
  EXPECT_EQ(v[2].kind, "tap");
  EXPECT_EQ(v[2].tap_user, "banger-vmm");
  EXPECT_EQ(v[1].tap_user, "");
  EXPECT_EQ(v[2].master, "br-fc");
  EXPECT_FALSE(v[2].up);
  EXPECT_EQ(v[3].kind, "tun");
  EXPECT_TRUE(v[4].up);
  EXPECT_FALSE(ParseIpLinkJson("not json").ok());
  EXPECT_TRUE(ParseIpLinkJson("[]")->empty());
}

TEST(ParseIpRouteJsonTest, Routes) {
  const char* json = R"([
    {"dst":"default","gateway":"10.0.2.2","dev":"eth0","flags":[]},
    {"dst":"10.0.2.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"10.0.2.15","flags":[]},
    {"type":"blackhole","dst":"192.168.9.0/24","flags":[]}
  ])";
  auto r = ParseIpRouteJson(json);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].dst, "default");
  EXPECT_EQ((*r)[0].gateway, "10.0.2.2");
  EXPECT_EQ((*r)[1].dev, "eth0");
  EXPECT_EQ((*r)[2].type, "blackhole");
  EXPECT_EQ((*r)[2].dev, "");
}

TEST(ValidateIfNameTest, Rules) {
  for (const char* good : {"br-fc", "bgtap12"}) EXPECT_TRUE(ValidateIfName(good).ok()) << good;
  for (const char* bad : {"", "a-name-that-is-too-long", "a b", "a\"b", "a/b"})
    EXPECT_FALSE(ValidateIfName(bad).ok()) << bad;
}

TEST(ValidateMacTest, Rules) {
  EXPECT_TRUE(ValidateMac("0a:00:ac:10:00:01").ok());
  // Upper case, too short, dashes, not hex, multicast.
  for (const char* bad :
       {"0A:00:ac:10:00:01", "0a:00:ac:10:00", "0a-00-ac-10-00-01", "0a:00:ac:10:00:0g", "01:00:5e:00:00:01"})
    EXPECT_FALSE(ValidateMac(bad).ok()) << bad;
}

}  // namespace
}  // namespace banger
