// FixupGuest through the daemon's GuestExec and AgentPool, against the real
// agent on the host. The fixup itself would change the host (clock,
// hostname), so the agent path is a script that records what it was given.
#include <gtest/gtest.h>

#include <cstdlib>

#include "base/fs.h"
#include "daemon/guest_fixup.h"
#include "daemon/testing/guest_exec_fixture.h"

namespace banger {
namespace {

using namespace std::chrono_literals;

class GuestFixupExecTest : public GuestExecTest {
 protected:
  // A stand-in for `banger-agent fixup`: records argv and stdin (as hex),
  // reports one line, exits with `code`.
  std::string Recorder(int code) {
    std::string path = root_ + "/fake-fixup";
    std::string script =
        "#!/bin/sh\necho \"$@\" > " + root_ + "/args\nod -An -v -tx1 > " + root_ +
        "/stdin.hex\necho 'fixup: done in 1 us'\necho 'banger-agent fixup: clock: nope' >&2\n"
        "exit " +
        std::to_string(code) + "\n";
    EXPECT_TRUE(WriteFileAtomic(path, script).ok());
    EXPECT_EQ(::chmod(path.c_str(), 0755), 0);
    return path;
  }
};

TEST_F(GuestFixupExecTest, RunsThroughTheVmsAgentWithTimeAndEntropyOnStdin) {
  VmRecord vm = MustCreate("src");
  GuestFixup f = GuestFixupFor(vm, nullptr);
  f.hostname = "fork-2";
  auto before = std::chrono::system_clock::now();
  auto r = FixupGuest(*exec_, vm, f, 20s, Recorder(0));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->lines, "fixup: done in 1 us\n");

  auto args = ReadFile(root_ + "/args");
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(*args, "fixup --hostname fork-2 --vm-id " + vm.id + " --time stdin --entropy-stdin 64\n");
  auto hex = ReadFile(root_ + "/stdin.hex");
  ASSERT_TRUE(hex.ok());
  std::string digits;
  for (char c : *hex) {
    if (c != ' ' && c != '\n') digits += c;
  }
  ASSERT_EQ(digits.size(), 2 * (8 + kFixupEntropyBytes)) << *hex;
  auto sent_ns = static_cast<int64_t>(std::stoull(digits.substr(0, 16), nullptr, 16));
  auto before_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(before.time_since_epoch()).count();
  EXPECT_GE(sent_ns, before_ns);
  EXPECT_LT(sent_ns - before_ns, int64_t{20'000'000'000});
  EXPECT_NE(digits.substr(16), std::string(2 * kFixupEntropyBytes, '0')) << "the entropy is random";
}

TEST_F(GuestFixupExecTest, AFailingGuestAndASilentOneAreOneLineErrors) {
  VmRecord vm = MustCreate("src");
  auto failed = FixupGuest(*exec_, vm, GuestFixupFor(vm, nullptr), 20s, Recorder(1));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message(), "vm src: guest fixup failed (exit 1): banger-agent fixup: clock: nope");

  VmRecord mute = MustCreate("mute-fork");
  auto t0 = std::chrono::steady_clock::now();
  auto silent = FixupGuest(*exec_, mute, GuestFixupFor(mute, nullptr), 700ms, Recorder(0));
  ASSERT_FALSE(silent.ok());
  EXPECT_EQ(silent.error().kind(), ErrorKind::kTimeout) << silent.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

}  // namespace
}  // namespace banger
