// `banger __complete`: names from a (fake) daemon; nothing, quickly and
// without starting a daemon, when none answers.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "api/fake_daemon_test.h"
#include "base/fs.h"
#include "cli/app.h"
#include "model/json.h"

namespace banger {
namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
  std::chrono::milliseconds took;
};

class CompleteTest : public FakeDaemonTest {
 protected:
  Outcome Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"banger", "--home", home_.root});
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    testing::internal::CaptureStdout();
    testing::internal::CaptureStderr();
    auto start = std::chrono::steady_clock::now();
    int code = RunCli(static_cast<int>(args.size()), argv.data());
    auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    std::string out = testing::internal::GetCapturedStdout();
    return {code, out, testing::internal::GetCapturedStderr(), took};
  }

  // A daemon answering the lists.
  void ServeLists() {
    Serve([](const HttpRequest& r) {
      HttpResponse resp;
      resp.status = 200;
      resp.content_type = "application/json";
      Json j;
      if (r.Path() == "/v1/vms") {
        j = {{"vms", {{{"name", "web1"}, {"id", "a1b2c3"}}, {{"name", "db"}, {"id", "d4e5f6"}}}}};
      } else if (r.Path() == "/v1/images") {
        j = {{"images", {{{"name", "base"}, {"id", "i1"}}}}};
      } else if (r.Path() == "/v1/sessions") {
        // The same name in two VMs is offered once.
        j = {{"sessions", {{{"name", "build"}, {"id", "s1"}}, {{"name", "build"}, {"id", "s2"}}}}};
      } else if (r.Path() == "/v1/templates") {
        j = {{"templates", {{{"id", "t0ff1ce"}}}}};
      } else if (r.Path() == "/v1/vms/web1/snapshots") {
        j = {{"snapshots", {{{"name", "snap-1"}}, {{"name", "before"}}}}};
      } else {
        resp.status = 404;
        j = {{"error", {{"code", "not_found"}, {"message", "no"}}}};
      }
      resp.body = SafeDump(j);
      return resp;
    });
  }

  // BANGER_BANGERD as a program that leaves a mark when started.
  std::string MarkingBangerd() {
    std::string prog = home_.root + "/fake-bangerd";
    EXPECT_TRUE(WriteFileAtomic(prog, "#!/bin/sh\ntouch " + home_.root + "/started\n", 0755).ok());
    ::setenv("BANGER_BANGERD", prog.c_str(), 1);
    return home_.root + "/started";
  }
};

TEST_F(CompleteTest, PrintsNamesOnePerLine) {
  ServeLists();
  Outcome r = Run({"__complete", "vms"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "db\nweb1\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(Run({"__complete", "vms", "w"}).out, "web1\n");
  EXPECT_EQ(Run({"__complete", "images"}).out, "base\n");
  EXPECT_EQ(Run({"__complete", "sessions"}).out, "build\n");
  EXPECT_EQ(Run({"__complete", "templates"}).out, "t0ff1ce\n");
  EXPECT_EQ(Run({"__complete", "snapshots", "web1"}).out, "before\nsnap-1\n");
  EXPECT_EQ(Run({"__complete", "snapshots", "web1", "s"}).out, "snap-1\n");
}

TEST_F(CompleteTest, OffersIdsWhenNoNameMatches) {
  ServeLists();
  EXPECT_EQ(Run({"__complete", "vms", "a1"}).out, "a1b2c3\n");
  EXPECT_EQ(Run({"__complete", "vms", "zz"}).out, "");
}

TEST_F(CompleteTest, AnErrorIsSilent) {
  ServeLists();
  Outcome r = Run({"__complete", "snapshots", "nosuchvm"});
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.code, 0);
  r = Run({"__complete", "bogus"});
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
}

TEST_F(CompleteTest, NoDaemonPrintsNothingAndStartsNone) {
  std::string mark = MarkingBangerd();
  Outcome r = Run({"__complete", "vms"});
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.took.count(), 1000);
  // Give a started daemon time to leave its mark.
  ::usleep(200 * 1000);
  EXPECT_FALSE(std::filesystem::exists(mark)) << "__complete started a daemon";
  // The check can fail: a command that auto-starts does leave the mark.
  Run({"vm", "list"});
  for (int i = 0; i < 50 && !std::filesystem::exists(mark); ++i) ::usleep(100 * 1000);
  EXPECT_TRUE(std::filesystem::exists(mark)) << "vm list should have started the marking bangerd";
}

TEST_F(CompleteTest, AWedgedDaemonCostsUnderASecond) {
  // A socket that accepts connections (the kernel's backlog) but never answers.
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = home_.Socket();
  ASSERT_LT(path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  Outcome r = Run({"__complete", "vms"});
  ::close(fd);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  EXPECT_LT(r.took.count(), 1000);
  EXPECT_GE(r.took.count(), 500) << "it did wait for an answer";
}

}  // namespace
}  // namespace banger
