#include "model/json.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

TEST(JsonTest, VmRecordRoundTripsEveryField) {
  VmRecord vm;
  vm.id = NewId();
  vm.name = "t1";
  vm.image_id = NewId();
  vm.state = VmState::kRunning;
  vm.created_at = *ParseRfc3339("2026-01-02T03:04:05Z");
  vm.updated_at = *ParseRfc3339("2026-01-02T03:04:06Z");
  vm.last_touched_at = *ParseRfc3339("2026-01-02T03:04:07Z");
  vm.spec = {4, 1024, 2 * kGiB, 3 * kGiB, true, BackendKind::kFirecracker};
  vm.runtime.state = VmState::kRunning;
  vm.runtime.guest_ip = "172.16.0.2";
  vm.runtime.api_sock_path = "/x/api.sock";
  vm.runtime.vsock_cid = 42;
  vm.runtime.vm_dir = "/x";
  vm.runtime.last_error = "boom";
  vm.runtime.boot_id = "abc";
  vm.stats.rss_bytes = 123;
  vm.stats.metrics_raw = Json{{"vcpu", 1}};
  vm.labels = {{"team", "infra"}};
  vm.request_id = "req-1";
  Json j = ToJson(vm);
  EXPECT_EQ(j["spec"]["vcpu_count"], 4);
  EXPECT_EQ(j["runtime"]["guest_ip"], "172.16.0.2");
  auto back = VmRecordFromJson(j);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(ToJson(*back), j);
}

TEST(JsonTest, HandlesNeverCarryDurableFields) {
  VmHandles h;
  h.pid = 42;
  h.tap_device = "tap0";
  Json j = ToJson(h);
  EXPECT_EQ(j["pid"], 42);
  auto back = VmHandlesFromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->tap_device, "tap0");
}

TEST(JsonTest, StrictDecodingNamesTheField) {
  auto r = VmSpecFromJson(Json{{"vcpu_count", "two"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("vcpu_count"), std::string::npos);
  auto u = VmSpecFromJson(Json{{"vcpus", 2}});
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message().find("unknown field \"vcpus\""), std::string::npos);
}

TEST(JsonTest, MalformedTextIsInvalidArgument) {
  auto r = ParseJson("{\"a\":");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument);
}

TEST(JsonTest, NumberOverflowIsAnErrorNotAnException) {
  // nlohmann throws out_of_range (not parse_error) for these; found by
  // fuzz/stream_fuzzer.cc in an error frame's JSON.
  for (const char* text : {"55555520777777e77772577", "{\"code\": 1e99999}", "[-1e400]"}) {
    auto r = ParseJson(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument) << text;
  }
}

TEST(JsonTest, SessionExitCodeIsOptional) {
  GuestSession s;
  s.id = "s";
  s.status = GuestSessionStatus::kExited;
  s.exit_code = 7;
  auto back = GuestSessionFromJson(ToJson(s));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->exit_code, 7);
  s.exit_code.reset();
  back = GuestSessionFromJson(ToJson(s));
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->exit_code.has_value());
}

}  // namespace
}  // namespace banger
