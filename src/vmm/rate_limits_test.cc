#include "vmm/rate_limits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vmm/backend.h"

namespace banger {
namespace {

TEST(RateLimitsTest, FirecrackerTokenBucketsRefillEverySecond) {
  EXPECT_EQ(FcRateLimiter(10485760, 500), Json::parse(R"({"bandwidth":{"size":10485760,"refill_time":1000},
                                                          "ops":{"size":500,"refill_time":1000}})"));
  // Zero keeps the bucket in the object: size 0 tells FC to drop it.
  EXPECT_EQ(FcRateLimiter(0, 0), Json::parse(R"({"bandwidth":{"size":0,"refill_time":1000},
                                                 "ops":{"size":0,"refill_time":1000}})"));
}

TEST(RateLimitsTest, QemuDriveOptionsOnlyForSetLimits) {
  EXPECT_EQ(QemuDriveThrottleOptions({}), "");
  EXPECT_EQ(QemuDriveThrottleOptions({1048576, 0, 0}), ",throttling.bps-total=1048576");
  EXPECT_EQ(QemuDriveThrottleOptions({0, 200, 99}), ",throttling.iops-total=200");
  EXPECT_EQ(QemuDriveThrottleOptions({5, 6, 0}), ",throttling.bps-total=5,throttling.iops-total=6");
}

TEST(RateLimitsTest, QemuBlockSetIoThrottleHasEveryRequiredRate) {
  EXPECT_EQ(QemuBlockThrottleArgs("work", {2048, 30, 0}),
            Json::parse(R"({"device":"work","bps":2048,"bps_rd":0,"bps_wr":0,
                            "iops":30,"iops_rd":0,"iops_wr":0})"));
}

TEST(RateLimitsTest, SupportPerBackend) {
  EXPECT_TRUE(RateLimitSupportOf(BackendKind::kFirecracker).net);
  EXPECT_TRUE(RateLimitSupportOf(BackendKind::kFirecracker).disk);
  EXPECT_TRUE(RateLimitSupportOf(BackendKind::kQemu).disk);
  EXPECT_FALSE(RateLimitSupportOf(BackendKind::kQemu).net);
  EXPECT_TRUE(CheckRateLimitSupport(BackendKind::kFirecracker, {1, 2, 3}).ok());
  EXPECT_TRUE(CheckRateLimitSupport(BackendKind::kQemu, {1, 2, 0}).ok());
  auto st = CheckRateLimitSupport(BackendKind::kQemu, {0, 0, 1});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(st.error().message(),
            "--net-bw is not supported by the qemu backend (only firecracker limits network bandwidth)");
}

}  // namespace
}  // namespace banger
