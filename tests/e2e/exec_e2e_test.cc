// End to end through the daemon with a banger-built image: `vm run --rm`
// handled by the daemon (the VM goes even when the CLI is killed),
// sessions with stdin driven through `session attach`, and the guest
// command's -u/-w/-e (the image's own defaults, OCI images, are in
// oci_e2e_test).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "e2e_util.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;

class ExecE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    home_ = new BangerHome();
    home_->WriteConfig(
        "backend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"5s\"\ndefault_image_name = \"t\"\n"
        "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 512\nwork_disk_size = \"256M\"\n"
        "system_overlay_size = \"1G\"\n");
    CliRun b = home_->Banger({"image", "build", "t", "--profile", "minimal"}, std::chrono::seconds(600));
    ASSERT_EQ(b.code, 0) << b.err;
  }
  static void TearDownTestSuite() {
    delete home_;
    home_ = nullptr;
  }
  void SetUp() override {
    if (!home_ || HasFatalFailure()) GTEST_SKIP() << "image build failed";
  }

  static pid_t SpawnBanger(const std::vector<std::string>& args, const std::string& out) {
    return home_->Spawn(args, out);
  }

  static bool VmListed(const std::string& name) {
    Json list = home_->BangerJson({"vm", "list"});
    for (const auto& vm : list) {
      if (vm["name"] == name) return true;
    }
    return false;
  }

  // `vm run --rm --name NAME` of a long command, once the command runs in the
  // guest (it printed through the exec stream): the CLI's pid, or -1 (the CLI
  // killed, a failure recorded) when it never started.
  static pid_t StartRunCommand(const std::string& name, const std::string& out) {
    pid_t cli = SpawnBanger(
        {"vm", "run", "--rm", "--name", name, "--", "sh", "-c", "echo started; exec sleep 300"}, out);
    if (cli <= 0) return -1;
    bool started = WaitUntil(
        [&] {
          auto s = ReadFile(out);
          return s.ok() && s->find("started") != std::string::npos;
        },
        240s);
    if (started) return cli;
    ::kill(cli, SIGKILL);
    ::waitpid(cli, nullptr, 0);
    auto got = ReadFile(out);
    ADD_FAILURE() << "the run command never started: " << (got.ok() ? *got : got.error().message());
    return -1;
  }
  static BangerHome* home_;
};
BangerHome* ExecE2E::home_ = nullptr;

TEST_F(ExecE2E, RmDeletesTheVmWhenTheCliIsKilled) {
  std::string out = home_->root() + "/rm-cli.out";
  pid_t cli = StartRunCommand("rmk", out);
  ASSERT_GT(cli, 0);
  Json vm = home_->BangerJson({"vm", "show", "rmk"});
  EXPECT_EQ(vm["state"], "running");
  EXPECT_EQ(vm["spec"]["auto_remove"], true) << vm.dump();

  ASSERT_EQ(::kill(cli, SIGKILL), 0);
  ASSERT_EQ(::waitpid(cli, nullptr, 0), cli);
  // The daemon: client gone -> SIGHUP -> the command exits -> VM deleted.
  EXPECT_TRUE(WaitUntil([&] { return !VmListed("rmk"); }, 60s)) << "vm rmk outlived its killed `vm run --rm`";
  EXPECT_TRUE(WaitUntil([&] { return home_->Vmms().empty(); }, 30s)) << "its VMM is gone too";
  CliRun show = home_->Banger({"vm", "show", "rmk"});
  EXPECT_NE(show.code, 0);
}

TEST_F(ExecE2E, RmDeletesTheVmWhenItsVmmDies) {
  std::string out = home_->root() + "/rm-vmm.out";
  pid_t cli = StartRunCommand("rmv", out);
  ASSERT_GT(cli, 0);
  std::vector<pid_t> vmms = home_->Vmms();
  ASSERT_EQ(vmms.size(), 1u);
  ASSERT_EQ(::kill(vmms[0], SIGKILL), 0);
  // The CLI learns the command is lost and fails; the VM is gone.
  int status = 0;
  bool cli_done = WaitUntil([&] { return ::waitpid(cli, &status, WNOHANG) == cli; }, 60s);
  if (!cli_done) {
    ::kill(cli, SIGKILL);
    ::waitpid(cli, nullptr, 0);
  }
  EXPECT_TRUE(cli_done) << "the CLI hung after its VM died";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 125) << status;
  EXPECT_TRUE(WaitUntil([&] { return !VmListed("rmv"); }, 60s)) << "vm rmv outlived its dead VMM";
}

TEST_F(ExecE2E, RmDeletesTheVmBeforeTheCliReturnsAndKeepsOthers) {
  ASSERT_EQ(home_->Banger({"vm", "create", "--name", "keeper"}).code, 0);
  CliRun r = home_->Banger({"vm", "run", "--rm", "--name", "quick", "--", "sh", "-c", "exit 5"});
  EXPECT_EQ(r.code, 5) << r.err;
  EXPECT_FALSE(VmListed("quick")) << "gone by the time the CLI returns";
  // Without --rm the VM stays; an exec into it does not make it a run command.
  CliRun kept = home_->Banger({"vm", "run", "--name", "kept", "--", "true"});
  EXPECT_EQ(kept.code, 0) << kept.err;
  EXPECT_TRUE(VmListed("kept"));
  EXPECT_EQ(home_->BangerJson({"vm", "show", "kept"})["spec"]["auto_remove"], false);
  EXPECT_EQ(home_->Banger({"vm", "exec", "keeper", "--", "true"}).code, 0);
  EXPECT_TRUE(VmListed("keeper"));
  ASSERT_EQ(home_->Banger({"vm", "delete", "kept"}).code, 0);
  ASSERT_EQ(home_->Banger({"vm", "delete", "keeper"}).code, 0);
}

TEST_F(ExecE2E, SessionWithStdinIsFedThroughAttach) {
  ASSERT_EQ(home_->Banger({"vm", "create", "--name", "sess"}).code, 0);
  CliRun st = home_->Banger({"session", "start", "sess", "--name", "reader", "--stdin", "--", "sh", "-c",
                             "read a; echo got:$a; read b; echo got:$b >&2; exit 4"});
  ASSERT_EQ(st.code, 0) << st.err;
  Json s = home_->BangerJson({"session", "show", "reader"});
  EXPECT_EQ(s["status"], "running");
  EXPECT_EQ(s["stdin_mode"], "pipe");
  // attach copies its stdin into the session and prints its output until it ends.
  std::string script = "printf 'one\\ntwo\\n' | " + std::string(BANGER_BIN) + " --home " + home_->root() +
                       " session attach reader";
  auto at = RunCommand({"sh", "-c", script}, std::chrono::minutes(2));
  ASSERT_TRUE(at.ok()) << at.error().message();
  EXPECT_EQ(at->exit_code, 0) << at->err;
  EXPECT_NE(at->out.find("got:one\n"), std::string::npos) << at->out;
  EXPECT_NE(at->err.find("got:two"), std::string::npos) << at->err;
  ASSERT_TRUE(WaitUntil(
      [&] {
        return home_->BangerJson({"session", "show", "reader"})["status"] != "running";
      },
      30s));
  Json done = home_->BangerJson({"session", "show", "reader"});
  EXPECT_EQ(done["status"], "exited");
  EXPECT_EQ(done["exit_code"], 4);
  CliRun logs = home_->Banger({"session", "logs", "reader"});
  EXPECT_EQ(logs.code, 0) << logs.err;
  EXPECT_EQ(logs.out, "got:one\n");
  // An ended session cannot be attached; the error says where its output is.
  CliRun again = home_->Banger({"session", "attach", "reader"});
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("session logs reader"), std::string::npos) << again.err;

  // A session without --stdin: attach only follows the output.
  ASSERT_EQ(home_
                ->Banger({"session", "start", "sess", "--name", "ticker", "--", "sh", "-c",
                          "for i in $(seq 1 10); do echo tick$i; sleep 1; done"})
                .code,
            0);
  CliRun follow = home_->Banger({"session", "attach", "ticker"}, std::chrono::seconds(120));
  EXPECT_EQ(follow.code, 0) << follow.err;
  EXPECT_NE(follow.out.find("tick10\n"), std::string::npos) << follow.out;
  EXPECT_TRUE(WaitUntil(
      [&] {
        return home_->BangerJson({"session", "show", "ticker"})["status"] == "exited";
      },
      30s));
  Json ticked = home_->BangerJson({"session", "show", "ticker"});
  EXPECT_EQ(ticked["exit_code"], 0);
  ASSERT_EQ(home_->Banger({"vm", "delete", "sess"}).code, 0);
}

TEST_F(ExecE2E, UserWorkdirAndEnvFlags) {
  ASSERT_EQ(home_->Banger({"vm", "create", "--name", "who"}).code, 0);
  auto exec = [](std::vector<std::string> args) {
    std::vector<std::string> argv = {"vm", "exec", "who"};
    argv.insert(argv.end(), args.begin(), args.end());
    return home_->Banger(argv);
  };
  // The minimal image's /etc/passwd has only root: numeric ids need no entry.
  CliRun uid = exec({"-u", "1234", "--", "id", "-u"});
  EXPECT_EQ(uid.code, 0) << uid.err;
  EXPECT_EQ(uid.out, "1234\n");
  CliRun gid = exec({"--user", "1234:5678", "--", "sh", "-c", "echo $(id -u):$(id -g)"});
  EXPECT_EQ(gid.out, "1234:5678\n") << gid.err;
  CliRun root = exec({"-u", "root", "--", "sh", "-c", "echo $(id -u):$(id -g) $HOME"});
  EXPECT_EQ(root.out, "0:0 /root\n") << root.err;
  CliRun zero = exec({"-u", "0:0", "--", "id", "-u"});
  EXPECT_EQ(zero.out, "0\n") << zero.err;
  // Default: root, as before.
  EXPECT_EQ(exec({"--", "id", "-u"}).out, "0\n");
  CliRun wd = exec({"-w", "/tmp", "--", "pwd"});
  EXPECT_EQ(wd.out, "/tmp\n") << wd.err;
  EXPECT_EQ(exec({"--workdir", "/etc", "--", "pwd"}).out, "/etc\n");
  CliRun env = exec({"-e", "A=1", "--env", "B=two words", "--", "sh", "-c", "echo $A/$B"});
  EXPECT_EQ(env.out, "1/two words\n") << env.err;
  // An unknown user: one line, exit 125 (the command never ran).
  CliRun nosuch = exec({"-u", "nosuch", "--", "true"});
  EXPECT_EQ(nosuch.code, 125);
  EXPECT_NE(nosuch.err.find("unable to find user nosuch"), std::string::npos) << nosuch.err;
  EXPECT_EQ(std::count(nosuch.err.begin(), nosuch.err.end(), '\n'), 1) << nosuch.err;
  // A session as another user.
  CliRun st = home_->Banger({"session", "start", "who", "--name", "asuser", "-u", "4321", "-w", "/tmp", "-e",
                             "X=y", "--", "sh", "-c", "echo $(id -u) $(pwd) $X"});
  ASSERT_EQ(st.code, 0) << st.err;
  ASSERT_TRUE(WaitUntil(
      [&] {
        return home_->BangerJson({"session", "show", "asuser"})["status"] != "running";
      },
      60s));
  CliRun logs = home_->Banger({"session", "logs", "asuser"});
  EXPECT_EQ(logs.out, "4321 /tmp y\n") << logs.err;
  ASSERT_EQ(home_->Banger({"vm", "delete", "who"}).code, 0);
}

TEST_F(ExecE2E, RunWithNoCommandNeedsAnImageWithOne) {
  // The minimal image is not an OCI image: no Entrypoint/Cmd.
  CliRun r = home_->Banger({"vm", "run", "--rm", "--name", "nocmd"});
  EXPECT_EQ(r.code, 125);
  EXPECT_EQ(r.err, "banger: image t has no command (Entrypoint/Cmd); give one after --\n");
  EXPECT_FALSE(VmListed("nocmd")) << "refused before a VM was made";
}

}  // namespace
}  // namespace banger::e2e
