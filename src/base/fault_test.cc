#include "base/fault.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace banger::fault {
namespace {

TEST(Fault, ParsesPointAndHit) {
  Arming a = ParseArming("vm.create.row_written");
  EXPECT_EQ(a.point, "vm.create.row_written");
  EXPECT_EQ(a.nth, 1);
  a = ParseArming("vm.start.begin:3");
  EXPECT_EQ(a.point, "vm.start.begin");
  EXPECT_EQ(a.nth, 3);
  EXPECT_EQ(ParseArming("").point, "");
  EXPECT_EQ(ParseArming("vm.start.begin:").point, "");
  EXPECT_EQ(ParseArming("vm.start.begin:0").point, "");
  EXPECT_EQ(ParseArming("vm.start.begin:x").point, "");
  EXPECT_EQ(ParseArming("vm.start.begin:99999999").point, "");
}

TEST(Fault, EnabledInTestBuilds) {
  // The chaos test relies on it; package builds turn it off (see fault.h).
  if (!Enabled()) GTEST_SKIP() << "built with -DBANGER_FAULT_INJECTION=OFF";
  EXPECT_FALSE(Points().empty());
  std::set<std::string> unique(Points().begin(), Points().end());
  EXPECT_EQ(unique.size(), Points().size()) << "a point is listed twice";
}

// The list the chaos test covers is exactly the set of points in the sources.
TEST(Fault, ListMatchesTheSources) {
  if (!Enabled()) GTEST_SKIP() << "built with -DBANGER_FAULT_INJECTION=OFF";
  std::set<std::string> in_sources;
  std::regex call(R"re(BANGER_FAULT_POINT\("([a-z0-9_.]+)"\))re");
  for (const char* dir : {"/src/daemon", "/src/image"}) {
    for (const auto& e :
         std::filesystem::recursive_directory_iterator(std::string(BANGER_SOURCE_DIR) + dir)) {
      if (e.path().extension() != ".cc") continue;
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      std::string text = ss.str();
      for (std::sregex_iterator it(text.begin(), text.end(), call), end; it != end; ++it) {
        EXPECT_TRUE(in_sources.insert((*it)[1]).second) << (*it)[1] << " is used twice (" << e.path() << ")";
      }
    }
  }
  std::set<std::string> listed(Points().begin(), Points().end());
  EXPECT_EQ(in_sources, listed);
}

TEST(FaultDeathTest, KillsOnTheArmedHitOnly) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // Armed for the second hit: one hit passes.
  EXPECT_EXIT(
      {
        ::setenv("BANGER_FAULT", "vm.create.row_written:2", 1);
        Hit("vm.create.row_written");
        Hit("vm.start.begin");
        std::_Exit(3);
      },
      ::testing::ExitedWithCode(3), "");
  EXPECT_EXIT(
      {
        ::setenv("BANGER_FAULT", "vm.create.row_written:2", 1);
        Hit("vm.create.row_written");
        Hit("vm.create.row_written");
        std::_Exit(3);
      },
      ::testing::KilledBySignal(SIGKILL), "fault point vm.create.row_written hit");
  // Unarmed: nothing happens.
  EXPECT_EXIT(
      {
        ::unsetenv("BANGER_FAULT");
        Hit("vm.create.row_written");
        std::_Exit(4);
      },
      ::testing::ExitedWithCode(4), "");
}

TEST(FaultDeathTest, UnknownPointAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(Hit("no.such.point"), "not in kFaultPoints");
}

}  // namespace
}  // namespace banger::fault
