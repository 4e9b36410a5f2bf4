// The image's defaults (model/image_defaults.h) on the daemon's exec paths:
// GuestExec::UserRequest and session start, against the real static agent
// on the host (daemon/testing/guest_exec_fixture.h).
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "base/fs.h"
#include "daemon/session_service.h"
#include "daemon/testing/guest_exec_fixture.h"

namespace banger {
namespace {

using namespace std::chrono_literals;

class ImageDefaultsExecTest : public GuestExecTest {
 protected:
  void SetUp() override {
    GuestExecTest::SetUp();
    if (HasFatalFailure()) return;
    SessionGuestPaths paths;
    paths.agent = BANGER_AGENT_BIN;
    paths.sessions_dir = root_ + "/sessions";
    sessions_ = std::make_unique<SessionService>(*svc_, *store_, *events_, paths);
    ASSERT_TRUE(MakeDirs(root_ + "/app").ok());
  }
  void TearDown() override {
    if (sessions_) {
      if (auto all = store_->ListSessions(""); all.ok()) {
        for (const auto& s : *all) {
          if (s.guest_pid > 0 && s.status == GuestSessionStatus::kRunning) ::kill(-s.guest_pid, SIGKILL);
        }
      }
    }
    sessions_.reset();
    GuestExecTest::TearDown();
  }
  // Gives image "base" an OCI config, as `image pull` records it.
  void SetConfig(const OciImageConfig& c) {
    auto img = store_->GetImage("base");
    ASSERT_TRUE(img.ok()) << img.error().message();
    img->source.kind = "oci";
    img->source.config = c;
    ASSERT_TRUE(store_->UpdateImage(*img).ok());
  }
  OciImageConfig Config() const {
    OciImageConfig c;
    c.env = {"IMG=from-image", "FOO=image"};
    c.working_dir = root_ + "/app";
    c.cmd = {"sh", "-c", "echo $IMG $FOO; pwd"};
    return c;
  }
  GuestRunResult MustRun(const ExecRequest& req) {
    auto r = exec_->Run("v", req, GuestRunOptions{});
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? *r : GuestRunResult{};
  }
  std::unique_ptr<SessionService> sessions_;
};

TEST_F(ImageDefaultsExecTest, ExecGetsTheImageEnvWorkdirAndCommand) {
  ASSERT_NO_FATAL_FAILURE(SetConfig(Config()));
  VmRecord vm = MustCreate("v");
  UserCommand cmd;
  cmd.env = {{"FOO", "request"}};
  auto req = exec_->UserRequest(vm, cmd);
  ASSERT_TRUE(req.ok()) << req.error().message();
  EXPECT_EQ(req->user, "");
  GuestRunResult run = MustRun(*req);
  EXPECT_EQ(run.out, "from-image request\n" + root_ + "/app\n") << run.err;

  cmd.argv = {"sh", "-c", "echo ${IMG:-unset}; pwd"};
  cmd.cwd = "/";
  cmd.no_image_env = true;
  req = exec_->UserRequest(vm, cmd);
  ASSERT_TRUE(req.ok()) << req.error().message();
  run = MustRun(*req);
  EXPECT_EQ(run.out, "unset\n/\n") << run.err;
}

TEST_F(ImageDefaultsExecTest, ANonOciImageGetsNothingAndNeedsACommand) {
  VmRecord vm = MustCreate("v");
  UserCommand cmd;
  cmd.argv = {"sh", "-c", "echo ${IMG:-unset}"};
  auto req = exec_->UserRequest(vm, cmd);
  ASSERT_TRUE(req.ok()) << req.error().message();
  EXPECT_EQ(req->cwd, "");
  EXPECT_EQ(req->user, "");
  EXPECT_EQ(MustRun(*req).out, "unset\n");
  auto none = exec_->UserRequest(vm, UserCommand{});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message(), "image base has no command (Entrypoint/Cmd); give one after --");
}

TEST_F(ImageDefaultsExecTest, ARunCommandThatCannotBeResolvedDeletesItsAutoRemoveVm) {
  VmRecord keep = MustCreate("keep", /*auto_remove=*/true);
  VmRecord rm = MustCreate("rm", /*auto_remove=*/true);
  // Not the run command (a session): the VM stays.
  EXPECT_FALSE(exec_->UserRequest(keep, UserCommand{}).ok());
  EXPECT_TRUE(Exists("keep"));
  EXPECT_FALSE(exec_->UserRequest(rm, UserCommand{}, /*may_be_run_command=*/true).ok());
  EXPECT_FALSE(Exists("rm"));
}

TEST_F(ImageDefaultsExecTest, ASessionWithNoCommandRunsTheImagesWithItsEnvAndWorkdir) {
  ASSERT_NO_FATAL_FAILURE(SetConfig(Config()));
  MustCreate("v");
  StartSessionRequest r;
  r.vm = "v";
  r.env = {{"FOO", "request"}};
  auto s = sessions_->Start(r);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->command, "sh");
  EXPECT_EQ(s->args, (std::vector<std::string>{"-c", "echo $IMG $FOO; pwd"}));
  EXPECT_EQ(s->cwd, root_ + "/app");
  EXPECT_EQ(s->env, (std::map<std::string, std::string>{{"FOO", "request"}}));
  EXPECT_EQ(s->name.rfind("sh-", 0), 0u) << s->name;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  GuestSession done = *s;
  while (done.status == GuestSessionStatus::kRunning && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    auto g = sessions_->Get(s->name, "v");
    ASSERT_TRUE(g.ok()) << g.error().message();
    done = *g;
  }
  EXPECT_EQ(done.status, GuestSessionStatus::kExited);
  auto out = ReadFile(done.stdout_log_path);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "from-image request\n" + root_ + "/app\n");
}

TEST_F(ImageDefaultsExecTest, ASessionWithNoCommandOnAnImageWithoutOneIsRefusedBeforeARow) {
  MustCreate("v");
  StartSessionRequest r;
  r.vm = "v";
  auto s = sessions_->Start(r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "image base has no command (Entrypoint/Cmd); give one after --");
  auto rows = store_->ListSessions("");
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());
}

}  // namespace
}  // namespace banger
