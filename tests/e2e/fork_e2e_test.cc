// `vm fork` end to end (QEMU TCG, network off, the minimal image with the
// agent): a VM with a file in /root and a counter process is forked three
// times; every fork sees the file and the counter going on from where the
// source was, has its own hostname and vm id, and a write in one fork is seen
// by no other VM. Bad input is refused with one line and makes nothing.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <thread>

#include "agent_guest_fixture.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;

using ForkE2E = AgentGuestE2E;

TEST_F(ForkE2E, ThreeForksContinueTheSourceWithTheirOwnIdentityAndDisks) {
  const std::string src = "src";
  ASSERT_EQ(h_.Banger({"vm", "create", "--name", src}, 300s).code, 0);
  Exec(src, "echo hello > /root/f && sync");
  ASSERT_NO_FATAL_FAILURE(StartCounter(src));
  ASSERT_TRUE(WaitUntil([&] { return Counter(src) >= 3; }, 60s));
  const std::string src_id = h_.BangerJson({"vm", "show", src})["id"].get<std::string>() + "\n";

  // Refusals first: nothing is made, the source runs on.
  ExpectRefused({"vm", "fork", src, "--name", "c", "--count", "0"}, "fork count must be 1 to 64");
  ExpectRefused({"vm", "fork", src, "--name", "c", "--count", "65"}, "fork count must be 1 to 64");
  ExpectRefused({"vm", "fork", src, "--name", src}, "a vm named \"src\" already exists");
  EXPECT_EQ(h_.BangerJson({"vm", "list"}).size(), 1u);

  const int64_t at_fork = Counter(src);
  auto t0 = std::chrono::steady_clock::now();
  CliRun fork = h_.Banger({"vm", "fork", src, "--name", "c", "--count", "3"}, 600s);
  ASSERT_EQ(fork.code, 0) << fork.err;
  std::printf("fork --count 3 took %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
                      .count()));
  EXPECT_EQ(fork.out, "c-1\nc-2\nc-3\n");
  EXPECT_EQ(h_.BangerJson({"vm", "show", src})["state"], "running");
  EXPECT_TRUE(h_.BangerJson({"vm", "snapshot", "list", src}).empty()) << "the fork's snapshot is gone";

  const std::vector<std::string> forks{"c-1", "c-2", "c-3"};
  std::set<std::string> hostnames{Exec(src, "hostname")};
  std::set<std::string> ids{src_id};
  for (const auto& f : forks) {
    Json show = h_.BangerJson({"vm", "show", f});
    EXPECT_EQ(show["state"], "running") << show.dump();
    EXPECT_EQ(Exec(f, "cat /root/f"), "hello\n");
    const int64_t a = Counter(f);
    EXPECT_GE(a, at_fork) << f << " continues the source's counter";
    EXPECT_TRUE(WaitUntil([&] { return Counter(f) > a; }, 30s)) << f << ": the counter process does not run";
    EXPECT_EQ(Exec(f, "hostname"), f + "\n");
    const std::string id = Exec(f, "cat /run/banger/vm_id");
    EXPECT_EQ(id, show["id"].get<std::string>() + "\n") << f;
    hostnames.insert(Exec(f, "hostname"));
    ids.insert(id);
    EXPECT_TRUE(h_.BangerJson({"session", "list", f}).empty()) << "sessions stay the source's";
  }
  // Host bytes per fork: the blocks its directory holds (sparse-aware).
  for (const auto& f : forks) {
    const std::string dir = h_.BangerJson({"vm", "show", f})["runtime"]["vm_dir"];
    int64_t bytes = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
      struct stat st {};
      if (::lstat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode))
        bytes += static_cast<int64_t>(st.st_blocks) * 512;
    }
    std::printf("fork %s: %lld KiB on the host\n", f.c_str(), static_cast<long long>(bytes / 1024));
  }
  EXPECT_EQ(hostnames.size(), 4u);
  EXPECT_EQ(ids.size(), 4u);

  // A write in one fork is its own.
  Exec("c-1", "echo mine > /root/only1 && sync");
  for (const auto& other : {std::string("c-2"), std::string("c-3"), src}) {
    EXPECT_EQ(Exec(other, "test -e /root/only1 && echo yes || echo no"), "no\n") << other;
  }
  EXPECT_EQ(Exec("c-1", "cat /root/only1"), "mine\n");
  // The source counts on too.
  const int64_t s = Counter(src);
  EXPECT_TRUE(WaitUntil([&] { return Counter(src) > s; }, 30s));

  for (const auto& f : forks) EXPECT_EQ(h_.Banger({"vm", "delete", f}, 120s).code, 0);
  ASSERT_EQ(h_.Banger({"vm", "delete", src}, 120s).code, 0);
}

}  // namespace
}  // namespace banger::e2e
