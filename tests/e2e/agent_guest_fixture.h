// A fixture for e2e tests that need a guest with the agent (QEMU TCG, network
// off, the minimal image "t" built in a fresh home): exec a script, start a
// counter process in a session, read it, and check one-line refusals.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "e2e_util.h"

namespace banger::e2e {

class AgentGuestE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    using namespace std::chrono_literals;
    ASSERT_NO_FATAL_FAILURE(
        h_.WriteConfig("backend = \"qemu\"\nqemu_accel = \"tcg\"\nnetwork = \"off\"\nstop_timeout = \"5s\"\n"
                       "default_image_name = \"t\"\n"
                       "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 256\nwork_disk_size = \"128M\"\n"
                       "system_overlay_size = \"512M\"\n"));
    ASSERT_NO_FATAL_FAILURE(h_.BuildAgentImage("t"));
  }

  // `sh -c script` in `vm`; the test fails when it does not exit 0.
  std::string Exec(const std::string& vm, const std::string& script) {
    CliRun r = h_.Banger({"vm", "exec", vm, "--", "sh", "-c", script}, std::chrono::seconds(240));
    EXPECT_EQ(r.code, 0) << vm << ": " << script << ": " << r.err;
    return r.out;
  }

  // A session "counter" writing an increasing number to /root/counter every 0.2 s.
  void StartCounter(const std::string& vm) {
    CliRun sess = h_.Banger({"session", "start", vm, "--name", "counter", "--", "sh", "-c",
                             "i=0; while :; do i=$((i+1)); echo $i > /root/counter; sleep 0.2; done"},
                            std::chrono::seconds(120));
    ASSERT_EQ(sess.code, 0) << sess.err;
  }

  int64_t Counter(const std::string& vm) {
    std::string out = Exec(vm, "cat /root/counter");
    return out.empty() ? -1 : std::stoll(out);
  }

  // The counter moves on (the process runs): two reads 1.5 s apart.
  void ExpectCounting(const std::string& vm, int64_t at_least) {
    int64_t a = Counter(vm);
    EXPECT_GE(a, at_least);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_GT(Counter(vm), a) << "the counter process does not run";
  }

  // Fails with one line containing `want`.
  void ExpectRefused(const std::vector<std::string>& args, const std::string& want) {
    CliRun r = h_.Banger(args, std::chrono::seconds(120));
    EXPECT_NE(r.code, 0) << "banger " << args[0] << " " << args[1] << " succeeded";
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
    EXPECT_LE(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "more than one line: " << r.err;
  }

  BangerHome h_;
};

}  // namespace banger::e2e
