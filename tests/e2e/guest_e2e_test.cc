// End to end with a banger-built image: `image build --profile minimal`,
// then real guests under QEMU TCG driven through the guest agent
// (vm run / vm exec), copy-on-write roots, the work disk and file sync.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "e2e_util.h"

namespace banger::e2e {
namespace {

std::string Sha256File(const std::string& path) {
  auto r = RunCommand({"sha256sum", path});
  return r.ok() ? r->out.substr(0, 64) : "";
}

class GuestE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    home_ = new BangerHome();
    sync_src_ = home_->root() + "/sync-src";
    std::filesystem::create_directories(sync_src_);
    ASSERT_TRUE(WriteFileAtomic(sync_src_ + "/token", "s3cret\n").ok());
    ASSERT_NO_FATAL_FAILURE(home_->WriteConfig(
        "backend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"5s\"\ndefault_image_name = \"t\"\n"
        "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 512\nwork_disk_size = \"256M\"\n"
        "system_overlay_size = \"1G\"\n"
        "[[file_sync]]\nhost = \"" +
        sync_src_ + "/token\"\nguest = \".config/token\"\nmode = \"0640\"\n"));
    auto t0 = std::chrono::steady_clock::now();
    CliRun b = home_->Banger({"image", "build", "t", "--profile", "minimal"}, std::chrono::seconds(600));
    build_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(b.code, 0) << b.err;
  }
  static void TearDownTestSuite() {
    delete home_;
    home_ = nullptr;
  }
  void SetUp() override {
    if (!home_ || HasFatalFailure()) GTEST_SKIP() << "image build failed";
  }
  static BangerHome* home_;
  static std::string sync_src_;
  static double build_seconds_;
};
BangerHome* GuestE2E::home_ = nullptr;
std::string GuestE2E::sync_src_;
double GuestE2E::build_seconds_ = 0;

TEST_F(GuestE2E, RunPrintsHostnameAndPassesExitCodes) {
  std::printf("minimal image build took %.1f s\n", build_seconds_);
  CliRun r = home_->Banger({"vm", "run", "--name", "t1", "--rm", "--", "cat", "/etc/hostname"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "t1\n");
  CliRun seven = home_->Banger({"vm", "run", "--rm", "--", "sh", "-c", "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(seven.code, 7) << seven.err;
  EXPECT_EQ(seven.out, "out\n");
  EXPECT_NE(seven.err.find("err\n"), std::string::npos);
  EXPECT_EQ(seven.err.find("out"), std::string::npos);
  EXPECT_TRUE(home_->BangerJson({"vm", "list"}).empty()) << "--rm deletes the VMs";
}

TEST_F(GuestE2E, SshThroughTheAgent) {
  ASSERT_EQ(home_->Banger({"vm", "create", "--name", "sshvm"}).code, 0);
  CliRun r = home_->Banger({"vm", "ssh", "sshvm", "--", "uname", "-n"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "sshvm\n");
  CliRun code = home_->Banger({"vm", "ssh", "sshvm", "--", "sh", "-c", "exit 4"});
  EXPECT_EQ(code.code, 4);
  ASSERT_EQ(home_->Banger({"vm", "delete", "sshvm"}).code, 0);
}

TEST_F(GuestE2E, SessionSurvivesDaemonKillAndRecordsExit) {
  ASSERT_EQ(home_->Banger({"vm", "create", "--name", "sess"}).code, 0);
  CliRun st =
      home_->Banger({"session", "start", "sess", "--name", "job", "--tag", "kind=test", "--", "sh", "-c",
                     "for i in 1 2 3 4 5 6; do echo line$i; echo warn$i >&2; sleep 1; done; exit 3"});
  ASSERT_EQ(st.code, 0) << st.err;
  EXPECT_EQ(st.out, "job\n");
  Json s = home_->BangerJson({"session", "show", "job"});
  EXPECT_EQ(s["status"], "running");
  EXPECT_EQ(s["tags"]["kind"], "test");
  pid_t daemon = home_->DaemonPid();
  ASSERT_GT(daemon, 0);
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(daemon); }, std::chrono::seconds(5)));
  // The next CLI call starts a new daemon, which re-finds the session.
  CliRun logs = home_->Banger({"session", "logs", "job", "--follow"});
  EXPECT_EQ(logs.code, 0) << logs.err;
  EXPECT_EQ(logs.out, "line1\nline2\nline3\nline4\nline5\nline6\n");
  EXPECT_NE(logs.err.find("warn6"), std::string::npos) << logs.err;
  Json done = home_->BangerJson({"session", "show", "job"});
  EXPECT_EQ(done["status"], "exited");
  EXPECT_EQ(done["exit_code"], 3);
  Json list = home_->BangerJson({"session", "list", "sess"});
  ASSERT_EQ(list.size(), 1u);
  // Stop ends a long one.
  ASSERT_EQ(home_->Banger({"session", "start", "sess", "--name", "long", "--", "sleep", "1000"}).code, 0);
  ASSERT_EQ(home_->Banger({"session", "stop", "long"}).code, 0);
  Json stopped = home_->BangerJson({"session", "show", "long"});
  EXPECT_EQ(stopped["status"], "exited") << stopped.dump();
  EXPECT_EQ(stopped["exit_code"], 128 + SIGTERM) << "sleep ends on the SIGTERM of session-stop";
  ASSERT_EQ(home_->Banger({"vm", "delete", "sess"}).code, 0);
}

TEST_F(GuestE2E, ExecStreamsLargeStdinIntact) {
  ASSERT_EQ(home_->Banger({"vm", "create", "--name", "big"}).code, 0);
  std::string data = home_->root() + "/64m.bin";
  ASSERT_TRUE(RunChecked({"dd", "if=/dev/urandom", "of=" + data, "bs=1M", "count=64", "status=none"}).ok());
  std::string want = Sha256File(data);
  // stdin from a file: the CLI forwards it because stdin is not a terminal.
  std::string script =
      std::string(BANGER_BIN) + " --home " + home_->root() + " vm exec big -i -- sha256sum < " + data;
  auto r = RunCommand({"sh", "-c", script}, std::chrono::minutes(5));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->out.substr(0, 64), want);
  CliRun missing = home_->Banger({"vm", "exec", "big", "--", "no-such-command"});
  EXPECT_EQ(missing.code, 127);
  EXPECT_NE(missing.err.find("no-such-command"), std::string::npos) << missing.err;
  ASSERT_EQ(home_->Banger({"vm", "stop", "big"}).code, 0);
  CliRun stopped = home_->Banger({"vm", "exec", "big", "--", "true"});
  EXPECT_EQ(stopped.code, 125);
  EXPECT_NE(stopped.err.find("vm start big"), std::string::npos) << stopped.err;
  ASSERT_EQ(home_->Banger({"vm", "delete", "big"}).code, 0);
}

TEST_F(GuestE2E, WorkspacePrepareBringsTheRepoWithUncommittedChanges) {
  // A repository on the host: two commits, then uncommitted work.
  std::string repo = home_->root() + "/proj";
  std::filesystem::create_directories(repo + "/tools");
  auto git = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com"});
    return RunChecked(args).ok();
  };
  ASSERT_TRUE(git({"init", "-q", "-b", "main"}));
  ASSERT_TRUE(WriteFileAtomic(repo + "/README", "one\n").ok());
  ASSERT_TRUE(WriteFileAtomic(repo + "/.gitignore", "*.log\n").ok());
  ASSERT_TRUE(
      WriteFileAtomic(repo + "/tools/hello.sh", "#!/bin/sh\necho hello from the workspace\n", 0755).ok());
  ASSERT_TRUE(git({"add", "-A"}) && git({"commit", "-q", "-m", "one"}));
  ASSERT_TRUE(WriteFileAtomic(repo + "/README", "two\n").ok());
  ASSERT_TRUE(git({"commit", "-q", "-am", "two"}));
  ASSERT_TRUE(WriteFileAtomic(repo + "/README", "uncommitted\n").ok());
  ASSERT_TRUE(WriteFileAtomic(repo + "/notes.txt", "new file\n").ok());
  ASSERT_TRUE(WriteFileAtomic(repo + "/debug.log", "ignored\n").ok());

  ASSERT_EQ(home_->Banger({"vm", "create", "--name", "ws"}).code, 0);
  CliRun p = home_->Banger({"workspace", "prepare", "ws", repo + "/tools", "--json"});
  ASSERT_EQ(p.code, 0) << p.err;
  auto res = ParseJson(p.out);
  ASSERT_TRUE(res.ok()) << p.out;
  EXPECT_EQ((*res)["guest_path"], "/root/proj");
  EXPECT_EQ((*res)["mode"], "shallow_overlay");
  EXPECT_EQ((*res)["current_branch"], "main");
  EXPECT_EQ((*res)["head_commit"].get<std::string>().size(), 40u);
  auto in_guest = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"vm", "exec", "ws", "--"});
    return home_->Banger(argv);
  };
  EXPECT_EQ(in_guest({"cat", "/root/proj/README"}).out, "uncommitted\n");
  EXPECT_EQ(in_guest({"cat", "/root/proj/notes.txt"}).out, "new file\n");
  EXPECT_EQ(in_guest({"/root/proj/tools/hello.sh"}).out, "hello from the workspace\n") << "exec bit kept";
  EXPECT_NE(in_guest({"test", "-e", "/root/proj/debug.log"}).code, 0) << "ignored files stay home";
  EXPECT_EQ(in_guest({"test", "-d", "/root/proj/.git"}).code, 0);

  // Again, read-only and on a new branch at another path: the copy is
  // replaced whole, and writes are refused even to root.
  ASSERT_TRUE(WriteFileAtomic(repo + "/README", "changed again\n").ok());
  CliRun ro = home_->Banger(
      {"workspace", "prepare", "ws", repo, "--readonly", "--branch", "try/1", "--guest-path", "/root/ro"});
  ASSERT_EQ(ro.code, 0) << ro.err;
  EXPECT_EQ(ro.out, "/root/ro\n");
  EXPECT_EQ(in_guest({"cat", "/root/ro/README"}).out, "changed again\n");
  CliRun write = in_guest({"sh", "-c", "echo x > /root/ro/README"});
  EXPECT_NE(write.code, 0) << "read-only";
  EXPECT_NE(write.err.find("Read-only file system"), std::string::npos) << write.err;
  EXPECT_NE(in_guest({"touch", "/root/ro/new-file"}).code, 0) << "no new files either";
  EXPECT_NE(in_guest({"mkdir", "/root/ro/tools/sub"}).code, 0) << "read-only all the way down";
  EXPECT_EQ(in_guest({"sh", "-c", "grep ' /root/ro ' /proc/mounts | grep -c '[ ,]ro[ ,]'"}).out, "1\n");
  EXPECT_EQ(in_guest({"cat", "/root/ro/README"}).out, "changed again\n")
      << "the failed write changed nothing";
  EXPECT_EQ(in_guest({"cat", "/root/ro/.git/HEAD"}).out, "ref: refs/heads/try/1\n");
  // Prepared again (not read-only): the read-only copy is replaced whole by
  // the current contents, on the current branch, and is writable again.
  ASSERT_TRUE(WriteFileAtomic(repo + "/README", "third\n").ok());
  std::filesystem::remove(repo + "/notes.txt");
  CliRun again = home_->Banger({"workspace", "prepare", "ws", repo, "--guest-path", "/root/ro"});
  ASSERT_EQ(again.code, 0) << "a read-only copy can be prepared again: " << again.err;
  EXPECT_EQ(in_guest({"cat", "/root/ro/README"}).out, "third\n") << "content updated";
  EXPECT_NE(in_guest({"test", "-e", "/root/ro/notes.txt"}).code, 0) << "files removed on the host are gone";
  EXPECT_EQ(in_guest({"cat", "/root/ro/.git/HEAD"}).out, "ref: refs/heads/main\n");
  EXPECT_EQ(in_guest({"sh", "-c", "grep -c ' /root/ro ' /proc/mounts"}).out, "0\n")
      << "no read-only mount left";
  EXPECT_EQ(in_guest({"sh", "-c", "echo y > /root/ro/README && cat /root/ro/README"}).out, "y\n")
      << "writable";
  EXPECT_EQ(in_guest({"test", "-e", "/root/ro.banger-partial"}).code, 1) << "no staging directory left";

  Json list = home_->BangerJson({"workspace", "list", "ws"});
  ASSERT_EQ(list.size(), 2u) << list.dump();
  CliRun table = home_->Banger({"workspace", "list", "ws"});
  EXPECT_NE(table.out.find("/root/proj"), std::string::npos) << table.out;

  // Bad input: one line each, nothing copied.
  CliRun not_git = home_->Banger({"workspace", "prepare", "ws", home_->root()});
  EXPECT_EQ(not_git.code, 1);
  EXPECT_NE(not_git.err.find("not inside a git work tree"), std::string::npos) << not_git.err;
  CliRun bad_path = home_->Banger({"workspace", "prepare", "ws", repo, "--guest-path", "/root"});
  EXPECT_EQ(bad_path.code, 1);
  EXPECT_NE(bad_path.err.find("two levels deep"), std::string::npos) << bad_path.err;
  ASSERT_EQ(home_->Banger({"vm", "stop", "ws"}).code, 0);
  CliRun stopped = home_->Banger({"workspace", "prepare", "ws", repo});
  EXPECT_EQ(stopped.code, 1);
  EXPECT_NE(stopped.err.find("vm start ws"), std::string::npos) << stopped.err;
  ASSERT_EQ(home_->Banger({"vm", "delete", "ws"}).code, 0);
}

TEST_F(GuestE2E, RootIsCopyOnWritePrivateAndPersistent) {
  Json img = home_->BangerJson({"image", "show", "t"});
  std::string rootfs = img["rootfs_path"];
  std::string before = Sha256File(rootfs);
  ASSERT_EQ(home_->Banger({"vm", "create", "--name", "a"}).code, 0);
  ASSERT_EQ(home_->Banger({"vm", "create", "--name", "b"}).code, 0);
  CliRun w = home_->Banger({"vm", "exec", "a", "--", "sh", "-c", "echo hello > /etc/banger-test && sync"});
  ASSERT_EQ(w.code, 0) << w.err;
  EXPECT_EQ(home_->Banger({"vm", "exec", "a", "--", "cat", "/etc/banger-test"}).out, "hello\n");
  EXPECT_NE(home_->Banger({"vm", "exec", "b", "--", "cat", "/etc/banger-test"}).code, 0)
      << "b must not see a's file";
  ASSERT_EQ(home_->Banger({"vm", "exec", "a", "--", "sh", "-c", "echo keep > /root/note && sync"}).code, 0);
  ASSERT_EQ(home_->Banger({"vm", "restart", "a"}).code, 0);
  EXPECT_EQ(home_->Banger({"vm", "exec", "a", "--", "cat", "/etc/banger-test"}).out, "hello\n");
  EXPECT_EQ(home_->Banger({"vm", "exec", "a", "--", "cat", "/root/note"}).out, "keep\n");
  EXPECT_EQ(Sha256File(rootfs), before) << "the shared rootfs never changes";
  // File sync from config: content and mode.
  EXPECT_EQ(home_->Banger({"vm", "exec", "a", "--", "cat", "/root/.config/token"}).out, "s3cret\n");
  EXPECT_EQ(home_->Banger({"vm", "exec", "a", "--", "stat", "-c", "%a", "/root/.config/token"}).out, "640\n");
  for (const char* n : {"a", "b"}) ASSERT_EQ(home_->Banger({"vm", "delete", n}).code, 0);
}

TEST_F(GuestE2E, WorkDiskGrowsAfterRestart) {
  ASSERT_EQ(home_->Banger({"vm", "create", "--name", "g"}).code, 0);
  auto size_kib = [&] {
    CliRun r =
        home_->Banger({"vm", "exec", "g", "--", "sh", "-c", "df -k /root | tail -1 | awk '{print $2}'"});
    return r.code == 0 ? std::stol(r.out) : -1L;
  };
  long before = size_kib();
  ASSERT_GT(before, 0);
  ASSERT_EQ(home_->Banger({"vm", "stop", "g"}).code, 0);
  CliRun set = home_->Banger({"vm", "set", "g", "--work-disk-size", "1G"});
  ASSERT_EQ(set.code, 0) << set.err;
  CliRun shrink = home_->Banger({"vm", "set", "g", "--work-disk-size", "512M"});
  EXPECT_EQ(shrink.code, 1);
  EXPECT_NE(shrink.err.find("shrink"), std::string::npos) << shrink.err;
  ASSERT_EQ(home_->Banger({"vm", "start", "g"}).code, 0);
  long after = size_kib();
  EXPECT_GT(after, before * 3) << before << " -> " << after;
  ASSERT_EQ(home_->Banger({"vm", "delete", "g"}).code, 0);
}

}  // namespace
}  // namespace banger::e2e
