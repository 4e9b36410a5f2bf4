// The Task service's answers that need no VM: unknown tasks, bad requests,
// a bangerd that is not there, and the methods the shim does not serve.
// (Tasks that run are tested end to end: tests/e2e/containerd_e2e_test.cc.)
#include "runtime/task_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/testing/temp_dir.h"
#include "ttrpc/test_util.h"

namespace banger::shim {
namespace {

using ttrpc::Code;
using ttrpc::testing::In;

class TaskServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(service_.Register(served_.server).ok());
    ASSERT_NO_FATAL_FAILURE(served_.Start());
    client_ = served_.Client();
    ASSERT_NE(client_, nullptr);
  }

  template <typename Resp, typename Req>
  ttrpc::RpcResult<Resp> Call(const char* method, const Req& req) {
    return client_->CallTyped<Resp>("containerd.task.v2.Task", method, req,
                                    {{"containerd-namespace-ttrpc", "default"}},
                                    In(std::chrono::seconds(10)));
  }

  // A bundle whose config.json is `config`.
  std::string Bundle(const Json& config) {
    const std::string b = dir_ / ("bundle" + std::to_string(++bundles_));
    EXPECT_TRUE(MakeDirs(b).ok());
    EXPECT_TRUE(WriteFileAtomic(b + "/config.json", config.dump(), 0644).ok());
    return b;
  }

  banger::testing::TempDir dir_{"shimts"};
  EventPublisher events_{"", "default"};
  // A home where no bangerd runs.
  TaskService service_{Bangerd(HomeLayout{dir_ / "home"}), events_, "default"};
  ttrpc::testing::Served served_;
  std::unique_ptr<ttrpc::TtrpcClient> client_;
  int bundles_ = 0;
};

TEST_F(TaskServiceTest, UnknownTasksAreNotFound) {
  task::StateRequest st;
  st.set_id("nope");
  EXPECT_EQ(Call<task::StateResponse>("State", st).code(), Code::kNotFound);
  task::StartRequest start;
  start.set_id("nope");
  EXPECT_EQ(Call<task::StartResponse>("Start", start).code(), Code::kNotFound);
  task::KillRequest kill;
  kill.set_id("nope");
  kill.set_signal(9);
  EXPECT_EQ(Call<Empty>("Kill", kill).code(), Code::kNotFound);
  task::DeleteRequest del;
  del.set_id("nope");
  EXPECT_EQ(Call<task::DeleteResponse>("Delete", del).code(), Code::kNotFound);
  task::WaitRequest wait;
  wait.set_id("nope");
  EXPECT_EQ(Call<task::WaitResponse>("Wait", wait).code(), Code::kNotFound);
  task::ExecProcessRequest exec;
  exec.set_id("nope");
  exec.set_exec_id("e1");
  EXPECT_EQ(Call<Empty>("Exec", exec).code(), Code::kNotFound);
  task::PauseRequest pause;
  pause.set_id("nope");
  EXPECT_EQ(Call<Empty>("Pause", pause).code(), Code::kNotFound);
}

TEST_F(TaskServiceTest, BadCreatesSayWhy) {
  task::CreateTaskRequest r;
  r.set_id("t1");
  EXPECT_EQ(Call<task::CreateTaskResponse>("Create", r).code(), Code::kInvalidArgument);  // no bundle

  r.set_bundle(dir_ / "missing");
  auto missing = Call<task::CreateTaskResponse>("Create", r);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message.find("config.json"), std::string::npos) << missing.status().message;

  r.set_bundle(Bundle(Json{{"process", {{"args", {"true"}}}}}));
  auto no_root = Call<task::CreateTaskResponse>("Create", r);
  EXPECT_EQ(no_root.code(), Code::kInvalidArgument);
  EXPECT_NE(no_root.status().message.find("neither rootfs mounts nor root.path"), std::string::npos);

  r.set_stdout("binary:///usr/bin/logger");
  auto binary = Call<task::CreateTaskResponse>("Create", r);
  EXPECT_EQ(binary.code(), Code::kInvalidArgument);
  EXPECT_NE(binary.status().message.find("binary://"), std::string::npos);

  r.clear_stdout();
  r.set_checkpoint("/cp");
  EXPECT_EQ(Call<task::CreateTaskResponse>("Create", r).code(), Code::kUnimplemented);
}

TEST_F(TaskServiceTest, NoBangerdIsUnavailableAndLeavesNoTask) {
  ASSERT_TRUE(MakeDirs(dir_ / "rootfs").ok());
  task::CreateTaskRequest r;
  r.set_id("t1");
  r.set_bundle(Bundle(Json{{"process", {{"args", {"true"}}}}, {"root", {{"path", dir_ / "rootfs"}}}}));
  auto c = Call<task::CreateTaskResponse>("Create", r);
  EXPECT_EQ(c.code(), Code::kUnavailable);
  EXPECT_NE(c.status().message.find("bangerd is not running at " + dir_ / "home"), std::string::npos)
      << c.status().message;
  EXPECT_EQ(service_.tasks(), 0u);
}

TEST_F(TaskServiceTest, UnservedMethodsAreUnimplemented) {
  task::StatsRequest stats;
  stats.set_id("t1");
  EXPECT_EQ(Call<task::StatsResponse>("Stats", stats).code(), Code::kUnimplemented);
  task::UpdateTaskRequest update;
  EXPECT_EQ(Call<Empty>("Update", update).code(), Code::kUnimplemented);
  task::CheckpointTaskRequest cp;
  EXPECT_EQ(Call<Empty>("Checkpoint", cp).code(), Code::kUnimplemented);
}

TEST_F(TaskServiceTest, ConnectAndShutdown) {
  task::ConnectRequest conn;
  conn.set_id("t1");
  auto c = Call<task::ConnectResponse>("Connect", conn);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->shim_pid(), static_cast<uint32_t>(::getpid()));
  task::ShutdownRequest sd;
  ASSERT_TRUE(Call<Empty>("Shutdown", sd).ok());
  // No task left: the shim may go.
  bool returned = false;
  std::thread t([&] {
    service_.WaitForShutdown([] { return false; });
    returned = true;
  });
  t.join();
  EXPECT_TRUE(returned);
}

}  // namespace
}  // namespace banger::shim
