#include "model/requests.h"

#include <gtest/gtest.h>

#include "model/json.h"

namespace banger {
namespace {

using std::chrono::milliseconds;

// Every request decodes back to the JSON it was encoded as.
template <typename T>
void ExpectRoundTrip(const T& v) {
  Json j = ToJson(v);
  auto back = Decode<T>(j);
  ASSERT_TRUE(back.ok()) << back.error().message() << " in " << j.dump();
  EXPECT_EQ(ToJson(*back), j);
}

TEST(RequestsTest, CreateRoundTripsEveryField) {
  CreateVmRequest c;
  c.name = "web";
  c.image = "base";
  c.vcpu_count = 2;
  c.memory_mib = 1024;
  c.system_overlay_size_bytes = 8 * kGiB;
  c.work_disk_size_bytes = 4 * kGiB;
  c.nat_enabled = false;
  c.backend = "qemu";
  c.no_start = true;
  c.labels = {{"team", "infra"}};
  c.request_id = "r1";
  c.auto_remove = true;
  Json j = ToJson(c);
  EXPECT_EQ(j["auto_remove"], true);
  EXPECT_EQ(j["nat_enabled"], false);  // an optional that is set is sent, even when false
  ExpectRoundTrip(c);
}

TEST(RequestsTest, UnsetFieldsAreNotSent) {
  EXPECT_EQ(ToJson(CreateVmRequest{}), Json::object());
  EXPECT_EQ(ToJson(SetVmRequest{}), Json::object());
  EXPECT_EQ(ToJson(StopVmRequest{}), Json::object());
}

TEST(RequestsTest, EveryRequestRoundTrips) {
  ExpectRoundTrip(SetVmRequest{3, 512, 2 * kGiB, true});
  ExpectRoundTrip(StopVmRequest{milliseconds(2500)});
  ExecVmRequest e;
  e.argv = {"sh", "-c", "echo hi"};
  e.env = {{"A", "1"}};
  e.cwd = "/tmp";
  e.user = "app:staff";
  e.no_image_env = true;
  e.tty = true;
  e.rows = 40;
  e.cols = 100;
  e.agent_timeout = milliseconds(5000);
  ExpectRoundTrip(e);
  ExpectRoundTrip(BuildImageRequest{"img", "debian", true, 4 * kGiB});
  ExpectRoundTrip(ImportImageRequest{"img", "/k", "/r", "/i", "/m", "/w"});
  StartSessionRequest s;
  s.name = "job";
  s.argv = {"sleep", "1"};
  s.env = {{"B", "2"}};
  s.cwd = "/root";
  s.user = "1000";
  s.no_image_env = true;
  s.tags = {{"k", "v"}};
  s.stdin_pipe = true;
  s.agent_timeout = milliseconds(0);
  ExpectRoundTrip(s);
  auto stream = Decode<SessionStreamRequest>(ToJson(SessionStreamRequest{true}), "logs request");
  ASSERT_TRUE(stream.ok());
  EXPECT_TRUE(stream->follow);
  PrepareWorkspaceRequest w;
  w.source_path = "/src/repo";
  w.guest_path = "/root/repo";
  w.mode = "full_copy";
  w.readonly = true;
  w.branch = "wip";
  w.agent_timeout = milliseconds(1000);
  ExpectRoundTrip(w);
  ExpectRoundTrip(DeleteResponse{true, "abc"});
  ExpectRoundTrip(DeleteResponse{false, ""});
}

std::string ErrorOf(const Status& st) {
  EXPECT_FALSE(st.ok());
  if (st.ok()) return "";
  EXPECT_EQ(st.error().kind(), ErrorKind::kInvalidArgument);
  return st.error().message();
}

template <typename T>
std::string ErrorOf(const Result<T>& r) {
  return ErrorOf(r.ok() ? OkStatus() : Status(r.error()));
}

TEST(RequestsTest, UnknownKeyIsNamed) {
  EXPECT_EQ(ErrorOf(Decode<CreateVmRequest>(Json{{"cpus", 2}})), "create request: unknown field \"cpus\"");
  EXPECT_EQ(ErrorOf(Decode<SetVmRequest>(Json{{"name", "x"}})), "set request: unknown field \"name\"");
  EXPECT_EQ(ErrorOf(Decode<ExecVmRequest>(Json{{"argv", {"ls"}}, {"stdin", true}})),
            "exec request: unknown field \"stdin\"");
  EXPECT_EQ(ErrorOf(Decode<SessionStreamRequest>(Json{{"tail", 1}}, "attach request")),
            "attach request: unknown field \"tail\"");
}

TEST(RequestsTest, WrongTypeIsNamed) {
  EXPECT_EQ(ErrorOf(Decode<CreateVmRequest>(Json{{"vcpu_count", "2"}})),
            "create request: field \"vcpu_count\" must be an integer");
  EXPECT_EQ(ErrorOf(Decode<CreateVmRequest>(Json{{"auto_remove", 1}})),
            "create request: field \"auto_remove\" must be a boolean");
  EXPECT_EQ(ErrorOf(Decode<ImportImageRequest>(Json{{"kernel_path", 3}})),
            "image import request: field \"kernel_path\" must be a string");
  EXPECT_EQ(ErrorOf(Decode<StartSessionRequest>(Json{{"argv", "ls"}})),
            "session start request: field \"argv\" must be an array of strings");
  EXPECT_EQ(ErrorOf(Decode<PrepareWorkspaceRequest>(Json{{"source_path", "/x"}, {"timeout_ms", 1.5}})),
            "workspace prepare request: field \"timeout_ms\" must be an integer");
  EXPECT_EQ(ErrorOf(Decode<CreateVmRequest>(Json::array())), "create request: must be a JSON object");
}

TEST(RequestsTest, GuestUserForms) {
  for (const char* ok : {"root", "0", "1234", "0:0", "app:staff", "app:100", "1000:staff", "www-data"}) {
    EXPECT_TRUE(ValidateGuestUser(ok).ok()) << ok;
  }
  for (const std::string& bad : std::vector<std::string>{"", ":", "app:", ":app", "a:b:c", "a b", "../etc",
                                                         std::string("a\0b", 3), std::string(257, 'a')}) {
    EXPECT_FALSE(ValidateGuestUser(bad).ok()) << bad;
  }
  EXPECT_EQ(ValidateGuestUser("app:").error().message(),
            "user \"app:\" must be NAME, UID, UID:GID or NAME:GROUP");
}

TEST(RequestsTest, ChecksRangesAndRequiredFields) {
  EXPECT_EQ(ErrorOf(Decode<StopVmRequest>(Json{{"timeout_ms", -1}})),
            "timeout_ms must be between 0 and 3600000");
  // No argv: the image's command (the daemon resolves it).
  EXPECT_TRUE(Decode<ExecVmRequest>(Json::object()).ok());
  EXPECT_TRUE(Decode<StartSessionRequest>(Json::object()).ok());
  EXPECT_EQ(ErrorOf(Decode<ExecVmRequest>(Json{{"user", "a:b:c"}})),
            "exec request: user \"a:b:c\" must be NAME, UID, UID:GID or NAME:GROUP");
  EXPECT_EQ(ErrorOf(Decode<StartSessionRequest>(Json{{"argv", {"ls"}}, {"env", {{"1X", "x"}}}})),
            "session start request: bad environment variable name \"1X\"");
  EXPECT_EQ(ErrorOf(Decode<StartSessionRequest>(Json{{"argv", {"ls"}}, {"cwd", "rel"}})),
            "session start request: cwd must be an absolute path, got \"rel\"");
  EXPECT_EQ(ErrorOf(Decode<ExecVmRequest>(Json{{"argv", {"ls"}}, {"env", {{"A B", "x"}}}})),
            "exec request: bad environment variable name \"A B\"");
  EXPECT_EQ(ErrorOf(Decode<ExecVmRequest>(Json{{"argv", {"ls"}}, {"cwd", "tmp"}})),
            "exec request: cwd must be an absolute path, got \"tmp\"");
  EXPECT_EQ(ErrorOf(Decode<ExecVmRequest>(Json{{"argv", {"ls"}}, {"rows", 0}})),
            "exec request: bad window size");
  EXPECT_EQ(ErrorOf(Decode<StartSessionRequest>(Json{{"argv", {"ls"}}, {"timeout_ms", 3600001}})),
            "session start request: timeout_ms out of range");
  EXPECT_EQ(ErrorOf(Decode<PrepareWorkspaceRequest>(Json::object())),
            "workspace prepare request: source_path is required");
}

TEST(RequestsTest, RateLimitsAreCheckedAtTheEdge) {
  auto ok = Decode<CreateVmRequest>(Json{{"disk_bw_bytes_per_sec", 1048576}, {"disk_iops", 0}});
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(*ok->disk_bw_bytes_per_sec, 1048576);
  EXPECT_EQ(ErrorOf(Decode<CreateVmRequest>(Json{{"disk_iops", -5}})),
            "disk iops limit must be between 0 (unlimited) and 1099511627776, got -5");
  EXPECT_EQ(ErrorOf(Decode<SetVmRequest>(Json{{"net_bw_bytes_per_sec", (1LL << 40) + 1}})),
            "network bandwidth limit must be between 0 (unlimited) and 1099511627776, got 1099511627777");
  EXPECT_EQ(ErrorOf(Decode<SetVmRequest>(Json{{"disk_bw_bytes_per_sec", "10M"}})),
            "set request: field \"disk_bw_bytes_per_sec\" must be an integer");
  auto set = Decode<SetVmRequest>(Json{{"disk_bw_bytes_per_sec", 0}});
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(MergeRateLimits(RateLimits{5, 6, 7}, *set), (RateLimits{0, 6, 7}));
}

TEST(RequestsTest, NullMeansAbsent) {
  auto c = Decode<CreateVmRequest>(Json{{"vcpu_count", nullptr}, {"name", nullptr}});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_FALSE(c->vcpu_count.has_value());
  EXPECT_EQ(c->name, "");
}

}  // namespace
}  // namespace banger
