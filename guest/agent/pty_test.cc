#include "pty.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace banger::agent {
namespace {

// The slave has a name under the directory its master came from (the same
// device as that name), the requested size, and both ends are close-on-exec.
TEST(AgentPty, SlaveIsNamedInThePtsDirectoryWithTheRequestedSize) {
  struct stat pts {};
  if (::stat("/dev/pts/ptmx", &pts) != 0) GTEST_SKIP() << "no devpts on /dev/pts here";
  winsize ws{};
  ws.ws_row = 37;
  ws.ws_col = 101;
  UniqueFd master, slave;
  ASSERT_TRUE(OpenPty("/dev/pts", ws, &master, &slave)) << std::strerror(errno);
  const char* name = ::ttyname(slave.get());
  ASSERT_NE(name, nullptr) << "the pty has no name: " << std::strerror(errno);
  EXPECT_EQ(std::string(name).rfind("/dev/pts/", 0), 0u) << name;
  struct stat by_name {
  }, by_fd{};
  ASSERT_EQ(::stat(name, &by_name), 0);
  ASSERT_EQ(::fstat(slave.get(), &by_fd), 0);
  EXPECT_EQ(by_name.st_rdev, by_fd.st_rdev);
  EXPECT_EQ(by_name.st_dev, by_fd.st_dev) << "the name belongs to another devpts instance";
  winsize got{};
  ASSERT_EQ(::ioctl(master.get(), TIOCGWINSZ, &got), 0);
  EXPECT_EQ(got.ws_row, 37);
  EXPECT_EQ(got.ws_col, 101);
  EXPECT_EQ(::fcntl(master.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(::fcntl(slave.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  // Master and slave talk to each other.
  ASSERT_EQ(::write(master.get(), "x\n", 2), 2);
  char c[2] = {};
  EXPECT_EQ(::read(slave.get(), c, sizeof c), 2);
  EXPECT_EQ(c[0], 'x');
}

TEST(AgentPty, FallsBackToDevPtmxWithoutAPtsDirectory) {
  struct stat ptmx {};
  if (::stat("/dev/ptmx", &ptmx) != 0) GTEST_SKIP() << "no /dev/ptmx here";
  UniqueFd master, slave;
  ASSERT_TRUE(OpenPty("/nonexistent-pts", winsize{}, &master, &slave)) << std::strerror(errno);
  EXPECT_TRUE(::isatty(slave.get()));
}

}  // namespace
}  // namespace banger::agent
