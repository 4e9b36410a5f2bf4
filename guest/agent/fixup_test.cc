// `banger-agent fixup`'s argument parsing and validation (fixup_parse.cc).
// The steps themselves change the machine (clock, hostname, network): they
// run in a guest, in tests/e2e/fixup_e2e_test.cc.
#include "fixup.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace banger::agent {
namespace {

constexpr const char* kId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

std::optional<FixupArgs> Parse(std::vector<std::string> args, std::string* err) {
  std::vector<const char*> argv;
  argv.reserve(args.size());
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseFixupArgs(static_cast<int>(argv.size()), argv.data(), err);
}

std::vector<std::string> Base() {
  return {"--hostname", "web-1", "--vm-id", kId, "--time", "1796000000123456789"};
}

std::string ErrorOf(std::vector<std::string> args) {
  std::string err;
  auto a = Parse(std::move(args), &err);
  EXPECT_FALSE(a.has_value());
  return err;
}

TEST(FixupArgs, ParsesTheIdentityWithoutNetwork) {
  std::string err;
  auto args = Base();
  args.insert(args.end(), {"--entropy-stdin", "64"});
  auto a = Parse(args, &err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->hostname, "web-1");
  EXPECT_EQ(a->vm_id, kId);
  EXPECT_EQ(a->time_ns, 1796000000123456789);
  EXPECT_EQ(a->entropy_bytes, 64u);
  EXPECT_FALSE(a->nic);
}

TEST(FixupArgs, TimeFromStdin) {
  std::string err;
  auto a = Parse({"--hostname", "a", "--vm-id", "ab", "--time", "stdin", "--entropy-stdin", "32"}, &err);
  ASSERT_TRUE(a) << err;
  EXPECT_TRUE(a->time_from_stdin);
  EXPECT_TRUE(ValidFixupTime(1796000000123456789));
  EXPECT_FALSE(ValidFixupTime(999'999'999'999'999'999));
  EXPECT_FALSE(ValidFixupTime(-1));
}

TEST(FixupArgs, ParsesTheNetwork) {
  std::string err;
  auto args = Base();
  args.insert(args.end(), {"--mac", "02:00:AC:10:00:07", "--ip", "172.16.0.7/24", "--gateway", "172.16.0.1",
                           "--dns", "172.16.0.1", "--iface", "eth1"});
  auto a = Parse(args, &err);
  ASSERT_TRUE(a) << err;
  ASSERT_TRUE(a->nic);
  EXPECT_EQ(FormatMac(a->nic->mac), "02:00:ac:10:00:07");
  EXPECT_EQ(FormatIpv4(a->nic->ip), "172.16.0.7");
  EXPECT_EQ(a->nic->prefix, 24);
  EXPECT_EQ(FormatIpv4(*a->nic->gateway), "172.16.0.1");
  EXPECT_EQ(FormatIpv4(*a->nic->dns), "172.16.0.1");
  EXPECT_EQ(a->nic->iface, "eth1");
  EXPECT_EQ(a->entropy_bytes, 0u);
}

TEST(FixupArgs, RequiresTheIdentityAndTime) {
  EXPECT_EQ(ErrorOf({"--vm-id", kId, "--time", "1796000000123456789"}), "--hostname is required");
  EXPECT_EQ(ErrorOf({"--hostname", "a", "--time", "1796000000123456789"}), "--vm-id is required");
  EXPECT_EQ(ErrorOf({"--hostname", "a", "--vm-id", kId}), "--time is required");
  EXPECT_EQ(ErrorOf({"--hostname"}), "--hostname needs a value");
  EXPECT_EQ(ErrorOf({"--bogus", "1"}), "unknown flag --bogus");
}

TEST(FixupArgs, RejectsBadValues) {
  auto with = [](std::vector<std::string> extra) {
    auto a = Base();
    a.insert(a.end(), extra.begin(), extra.end());
    return ErrorOf(a);
  };
  EXPECT_NE(with({"--hostname", "-bad"}).find("starting or ending with '-'"), std::string::npos);
  EXPECT_NE(with({"--hostname", "a;rm"}).find("only letters"), std::string::npos);
  EXPECT_NE(with({"--vm-id", "ABC"}).find("lowercase hex"), std::string::npos);
  EXPECT_NE(with({"--time", "12"}).find("nanoseconds"), std::string::npos);
  EXPECT_NE(with({"--time", "stdout"}).find("or stdin"), std::string::npos);
  EXPECT_NE(with({"--time", "99999999999999999999"}).find("nanoseconds"), std::string::npos);
  EXPECT_NE(with({"--time", "9999999999999999999"}).find("nanoseconds"), std::string::npos);  // > INT64_MAX
  EXPECT_NE(with({"--entropy-stdin", "16"}).find("32-4096"), std::string::npos);
  EXPECT_NE(with({"--entropy-stdin", "5000"}).find("32-4096"), std::string::npos);
  EXPECT_NE(with({"--ip", "172.16.0.7/24"}).find("go together"), std::string::npos);
  EXPECT_NE(with({"--dns", "1.1.1.1"}).find("go together"), std::string::npos);
  const std::vector<std::string> mac = {"--mac", "02:00:ac:10:00:07"};
  auto net = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), mac.begin(), mac.end());
    return with(extra);
  };
  EXPECT_NE(net({"--ip", "172.16.0.7"}).find("A.B.C.D/NN"), std::string::npos);
  EXPECT_NE(net({"--ip", "172.16.0.256/24"}).find("A.B.C.D/NN"), std::string::npos);
  EXPECT_NE(net({"--ip", "172.16.0.7/33"}).find("A.B.C.D/NN"), std::string::npos);
  EXPECT_NE(net({"--ip", "172.16.0.7/24", "--gateway", "10.0.0.1"}).find("is not another address"),
            std::string::npos);
  EXPECT_NE(net({"--ip", "172.16.0.7/24", "--gateway", "172.16.0.7"}).find("is not another address"),
            std::string::npos);
  EXPECT_NE(net({"--ip", "172.16.0.7/24", "--iface", "../x"}).find("not an interface name"),
            std::string::npos);
  EXPECT_NE(net({"--ip", "172.16.0.7/24", "--iface", "a-very-long-interface"}).find("not an interface name"),
            std::string::npos);
  EXPECT_NE(with({"--mac", "ff:ff:ff:ff:ff:ff", "--ip", "172.16.0.7/24"}).find("unicast MAC"),
            std::string::npos);
}

TEST(FixupHosts, ReplacesTheLoopbackNameLineAndIsIdempotent) {
  std::string boot = "127.0.0.1\tlocalhost\n127.0.1.1\told\n::1\tlocalhost\n";
  std::string once = HostsWithName(boot, "new");
  EXPECT_EQ(once, "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\tnew\n");
  EXPECT_EQ(HostsWithName(once, "new"), once);
  EXPECT_EQ(HostsWithName("", "new"), "127.0.1.1\tnew\n");
  // Only the exact address: 127.0.1.10 is someone else's line.
  EXPECT_EQ(HostsWithName("127.0.1.10 other\n127.0.1.1 a\n", "b"), "127.0.1.10 other\n127.0.1.1\tb\n");
}

TEST(FixupValidation, Hostnames) {
  EXPECT_EQ(CheckHostname("web-1"), "");
  EXPECT_EQ(CheckHostname("a.b.example"), "");
  EXPECT_EQ(CheckHostname(std::string(63, 'a')), "");
  EXPECT_NE(CheckHostname(std::string(64, 'a')), "");                               // a label over 63
  EXPECT_NE(CheckHostname(std::string(30, 'a') + "." + std::string(34, 'b')), "");  // 65 chars
  EXPECT_NE(CheckHostname(""), "");
  EXPECT_NE(CheckHostname("a..b"), "");
  EXPECT_NE(CheckHostname("a."), "");
  EXPECT_NE(CheckHostname("a_b"), "");
  EXPECT_NE(CheckHostname("a b"), "");
}

TEST(FixupValidation, MacsAndAddresses) {
  EXPECT_TRUE(ParseMac("0a:00:ac:10:00:01"));
  EXPECT_FALSE(ParseMac("0a:00:ac:10:00"));
  EXPECT_FALSE(ParseMac("0a-00-ac-10-00-01"));
  EXPECT_FALSE(ParseMac("01:00:5e:00:00:01"));  // multicast
  EXPECT_FALSE(ParseMac("00:00:00:00:00:00"));
  EXPECT_FALSE(ParseMac("0g:00:ac:10:00:01"));
  EXPECT_EQ(ParseIpv4("172.16.0.1"), 0xAC100001u);
  EXPECT_EQ(ParseIpv4("0.0.0.0"), 0u);
  EXPECT_FALSE(ParseIpv4("172.16.0"));
  EXPECT_FALSE(ParseIpv4("172.16.0.1.5"));
  EXPECT_FALSE(ParseIpv4("172.016.0.1"));
  EXPECT_FALSE(ParseIpv4("172.16..1"));
  EXPECT_FALSE(ParseIpv4("-1.16.0.1"));
  EXPECT_EQ(FormatIpv4(0xAC100001u), "172.16.0.1");
}

}  // namespace
}  // namespace banger::agent
