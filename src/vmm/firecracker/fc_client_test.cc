#include "vmm/firecracker/fc_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <mutex>
#include <thread>
#include <vector>

#include "base/testing/temp_dir.h"
#include "http/http.h"

namespace banger {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Seen {
  std::string method;
  std::string path;
  Json body;
};

// A stand-in for Firecracker's API: records every request and answers 204,
// or 400 with a fault_message for paths listed in `faults`.
class FakeFcApi : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = HttpServer::ListenUnix(sock_, 0600);
    ASSERT_TRUE(server.ok()) << server.error().message();
    server_ = std::move(*server);
    thread_ = std::thread([this] { server_->Serve([this](const HttpRequest& r) { return Handle(r); }); });
  }
  void TearDown() override {
    server_->Shutdown();
    thread_.join();
  }

  HttpResponse Handle(const HttpRequest& r) {
    std::lock_guard<std::mutex> lk(mu_);
    seen_.push_back({r.method, r.Path(), r.body.empty() ? Json() : Json::parse(r.body)});
    HttpResponse resp;
    if (auto it = faults_.find(r.Path()); it != faults_.end()) {
      resp.status = 400;
      resp.body = Json{{"fault_message", it->second}}.dump();
    } else if (r.method == "GET" && r.Path() == "/") {
      resp.body =
          Json{{"app_name", "Firecracker"}, {"id", "vm-1"}, {"state", state_}, {"vmm_version", "1.14.2"}}
              .dump();
    } else {
      resp.status = 204;
    }
    return resp;
  }

  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lk(mu_);
    return seen_;
  }

  FcClient Client() { return FcClient(sock_, seconds(5)); }

  testing::TempDir dir_{"bgfc"};
  std::string sock_ = dir_ / "fc.sock";
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Seen> seen_;                     // Guarded by mu_.
  std::map<std::string, std::string> faults_;  // Set before any call.
  std::string state_ = "Not started";          // Set before any call.
};

TEST_F(FakeFcApi, BootSequenceSendsFirecrackersSchema) {
  FcClient fc = Client();
  ASSERT_TRUE(fc.PutLogger("/vm/fc.log", "Info").ok());
  ASSERT_TRUE(fc.PutMetrics("/vm/metrics.json").ok());
  ASSERT_TRUE(fc.PutMachineConfig(2, 512).ok());
  ASSERT_TRUE(fc.PutBootSource("/k/vmlinux", "/k/initrd.img", "console=ttyS0").ok());
  ASSERT_TRUE(fc.PutDrive({"rootfs", "/vm/root.ext4", true}).ok());
  ASSERT_TRUE(fc.PutNetworkInterface("eth0", "tap7", "06:00:ac:10:00:02").ok());
  ASSERT_TRUE(fc.PutVsock(3, "/vm/v.sock").ok());
  ASSERT_TRUE(fc.InstanceStart().ok());

  auto got = seen();
  ASSERT_EQ(got.size(), 8u);
  for (const auto& s : got) EXPECT_EQ(s.method, "PUT") << s.path;
  EXPECT_EQ(got[0].path, "/logger");
  EXPECT_EQ(got[0].body, Json::parse(R"({"log_path":"/vm/fc.log","level":"Info"})"));
  EXPECT_EQ(got[1].path, "/metrics");
  EXPECT_EQ(got[1].body, Json::parse(R"({"metrics_path":"/vm/metrics.json"})"));
  EXPECT_EQ(got[2].path, "/machine-config");
  EXPECT_EQ(got[2].body, Json::parse(R"({"vcpu_count":2,"mem_size_mib":512,"smt":false})"));
  EXPECT_EQ(got[3].path, "/boot-source");
  EXPECT_EQ(got[3].body, Json::parse(R"({"kernel_image_path":"/k/vmlinux","initrd_path":"/k/initrd.img",
                                         "boot_args":"console=ttyS0"})"));
  EXPECT_EQ(got[4].path, "/drives/rootfs");
  EXPECT_EQ(got[4].body, Json::parse(R"({"drive_id":"rootfs","path_on_host":"/vm/root.ext4",
                                         "is_root_device":false,"is_read_only":true})"));
  EXPECT_EQ(got[5].path, "/network-interfaces/eth0");
  EXPECT_EQ(got[5].body,
            Json::parse(R"({"iface_id":"eth0","host_dev_name":"tap7","guest_mac":"06:00:ac:10:00:02"})"));
  EXPECT_EQ(got[6].path, "/vsock");
  EXPECT_EQ(got[6].body, Json::parse(R"({"guest_cid":3,"uds_path":"/vm/v.sock"})"));
  EXPECT_EQ(got[7].path, "/actions");
  EXPECT_EQ(got[7].body, Json::parse(R"({"action_type":"InstanceStart"})"));
}

TEST_F(FakeFcApi, RateLimitersAtConfigurationAndLive) {
  FcClient fc = Client();
  const RateLimits limits{10485760, 500, 1048576};
  ASSERT_TRUE(fc.PutDrive({"work", "/vm/work.ext4", false}, limits).ok());
  ASSERT_TRUE(fc.PutNetworkInterface("eth0", "tap7", "06:00:ac:10:00:02", limits).ok());
  ASSERT_TRUE(fc.PatchDriveRateLimiter("work", {0, 100, 0}).ok());
  ASSERT_TRUE(fc.PatchNetworkRateLimiters("eth0", {0, 0, 2048}).ok());
  auto got = seen();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].body, Json::parse(R"({"drive_id":"work","path_on_host":"/vm/work.ext4",
      "is_root_device":false,"is_read_only":false,
      "rate_limiter":{"bandwidth":{"size":10485760,"refill_time":1000},"ops":{"size":500,"refill_time":1000}}})"));
  EXPECT_EQ(got[1].body,
            Json::parse(R"({"iface_id":"eth0","host_dev_name":"tap7","guest_mac":"06:00:ac:10:00:02",
      "rx_rate_limiter":{"bandwidth":{"size":1048576,"refill_time":1000},"ops":{"size":0,"refill_time":1000}},
      "tx_rate_limiter":{"bandwidth":{"size":1048576,"refill_time":1000},"ops":{"size":0,"refill_time":1000}}})"));
  EXPECT_EQ(got[2].method, "PATCH");
  EXPECT_EQ(got[2].path, "/drives/work");
  EXPECT_EQ(got[2].body, Json::parse(R"({"drive_id":"work",
      "rate_limiter":{"bandwidth":{"size":0,"refill_time":1000},"ops":{"size":100,"refill_time":1000}}})"));
  EXPECT_EQ(got[3].method, "PATCH");
  EXPECT_EQ(got[3].path, "/network-interfaces/eth0");
  EXPECT_EQ(got[3].body, Json::parse(R"({"iface_id":"eth0",
      "rx_rate_limiter":{"bandwidth":{"size":2048,"refill_time":1000},"ops":{"size":0,"refill_time":1000}},
      "tx_rate_limiter":{"bandwidth":{"size":2048,"refill_time":1000},"ops":{"size":0,"refill_time":1000}}})"));
}

TEST_F(FakeFcApi, BootSourceWithoutInitrdOmitsTheKey) {
  ASSERT_TRUE(Client().PutBootSource("/k/vmlinux", "", "quiet").ok());
  EXPECT_EQ(seen().at(0).body, Json::parse(R"({"kernel_image_path":"/k/vmlinux","boot_args":"quiet"})"));
}

TEST_F(FakeFcApi, RejectionCarriesMethodPathStatusAndFaultMessage) {
  faults_["/boot-source"] = "The kernel file cannot be opened: No such file or directory (os error 2)";
  auto st = Client().PutBootSource("/missing", "", "");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(
      st.error().message(),
      "PUT /boot-source: HTTP 400: The kernel file cannot be opened: No such file or directory (os error 2)");
}

TEST_F(FakeFcApi, DescribeInstanceReadsState) {
  state_ = "Paused";
  auto info = Client().DescribeInstance();
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->state, "Paused");
  EXPECT_EQ(info->id, "vm-1");
  EXPECT_EQ(info->vmm_version, "1.14.2");
}

TEST_F(FakeFcApi, PauseResumeAndCtrlAltDel) {
  FcClient fc = Client();
  ASSERT_TRUE(fc.PauseVm().ok());
  ASSERT_TRUE(fc.ResumeVm().ok());
  ASSERT_TRUE(fc.SendCtrlAltDel().ok());
  auto got = seen();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].method, "PATCH");
  EXPECT_EQ(got[0].path, "/vm");
  EXPECT_EQ(got[0].body, Json::parse(R"({"state":"Paused"})"));
  EXPECT_EQ(got[1].body, Json::parse(R"({"state":"Resumed"})"));
  EXPECT_EQ(got[2].path, "/actions");
  EXPECT_EQ(got[2].body, Json::parse(R"({"action_type":"SendCtrlAltDel"})"));
}

TEST_F(FakeFcApi, PassedDeadlineFailsWithoutCalling) {
  FcClient fc(sock_, seconds(5), Deadline(milliseconds(0)));
  auto st = fc.InstanceStart();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kTimeout);
  EXPECT_TRUE(seen().empty());
}

TEST(FcClientTest, MissingSocketIsUnavailable) {
  auto info = FcClient("/nonexistent/fc.sock", seconds(1)).DescribeInstance();
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().kind(), ErrorKind::kUnavailable);
  EXPECT_NE(info.error().message().find("GET /"), std::string::npos) << info.error().message();
}

TEST(NewestMetricsLineTest, TakesTheLastCompleteLine) {
  auto j = NewestMetricsLine("{\"utc_timestamp_ms\":1}\n{\"utc_timestamp_ms\":2}\n{\"utc_ti");
  ASSERT_TRUE(j.ok()) << j.error().message();
  EXPECT_EQ((*j)["utc_timestamp_ms"], 2);
  // A tail whose first line was cut (or a sparse file's zeros) is tolerated.
  auto cut = NewestMetricsLine(std::string("\0\0p\":3}\n", 8) + "{\"utc_timestamp_ms\":4}\n");
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ((*cut)["utc_timestamp_ms"], 4);
  EXPECT_EQ(NewestMetricsLine("").error().kind(), ErrorKind::kUnavailable);
  EXPECT_EQ(NewestMetricsLine("{\"partial").error().kind(), ErrorKind::kUnavailable);
  EXPECT_FALSE(NewestMetricsLine("{}\nnot json\n").ok());
}

}  // namespace
}  // namespace banger
