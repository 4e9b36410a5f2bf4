// The console log's time index (vm logs --since).
#include "daemon/console_times.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/testing/temp_dir.h"

namespace banger {
namespace {

class ConsoleTimesTest : public ::testing::Test {
 protected:
  std::vector<ConsoleSample> Read() {
    auto r = ReadConsoleTimes(path_);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? *r : std::vector<ConsoleSample>{};
  }
  void Record(int64_t ms, int64_t size, size_t max = kConsoleTimesMax) {
    auto st = RecordConsoleSize(path_, ms, size, max);
    ASSERT_TRUE(st.ok()) << st.error().message();
  }
  testing::TempDir dir_{"ctimes"};
  std::string path_ = dir_.path() + "/console.times";
};

TEST_F(ConsoleTimesTest, PathIsBesideTheLog) {
  EXPECT_EQ(ConsoleTimesPath("/var/lib/banger/vms/abc/console.log"), "/var/lib/banger/vms/abc/console.times");
}

TEST_F(ConsoleTimesTest, MissingIndexIsEmptyAndStartsAtZero) {
  EXPECT_TRUE(Read().empty());
  EXPECT_EQ(ConsoleOffsetSince({}, 12345), 0);
}

TEST_F(ConsoleTimesTest, RecordsOnlyGrowth) {
  Record(1000, 0);  // an empty log: nothing to date
  EXPECT_TRUE(Read().empty());
  Record(2000, 10);
  Record(3000, 10);  // unchanged: no sample
  Record(4000, 25);
  auto s = Read();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].unix_ms, 2000);
  EXPECT_EQ(s[0].size, 10);
  EXPECT_EQ(s[1].unix_ms, 4000);
  EXPECT_EQ(s[1].size, 25);
}

TEST_F(ConsoleTimesTest, LookupStartsAtTheLastSampleAtOrBefore) {
  // At 2000 the log held 10 bytes, at 4000 25, at 6000 40.
  std::vector<ConsoleSample> s = {{2000, 10}, {4000, 25}, {6000, 40}};
  EXPECT_EQ(ConsoleOffsetSince(s, 1999), 0) << "older than every sample: the whole log";
  EXPECT_EQ(ConsoleOffsetSince(s, 2000), 10) << "bytes past 10 came after 2000";
  EXPECT_EQ(ConsoleOffsetSince(s, 3999), 10) << "bytes 10..25 may have come just after 2000";
  EXPECT_EQ(ConsoleOffsetSince(s, 4000), 25);
  EXPECT_EQ(ConsoleOffsetSince(s, 99999), 40) << "newer than every sample: only what came after the last";
}

TEST_F(ConsoleTimesTest, AShorterLogStartsANewIndex) {
  Record(1000, 100);
  Record(2000, 200);
  Record(3000, 30);  // the VMM started a new log
  auto s = Read();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].unix_ms, 3000);
  EXPECT_EQ(s[0].size, 30);
}

TEST_F(ConsoleTimesTest, ResetEmptiesItAndToleratesAMissingFile) {
  ASSERT_TRUE(ResetConsoleTimes(path_).ok()) << "nothing there yet";
  Record(1000, 100);
  ASSERT_TRUE(ResetConsoleTimes(path_).ok());
  EXPECT_TRUE(Read().empty());
  Record(2000, 5);
  ASSERT_EQ(Read().size(), 1u);
}

TEST_F(ConsoleTimesTest, ATornLastRecordIsIgnoredAndCutBeforeTheNextAppend) {
  Record(1000, 10);
  Record(2000, 20);
  auto data = ReadFile(path_);
  ASSERT_TRUE(data.ok());
  ASSERT_TRUE(WriteFileAtomic(path_, *data + std::string(7, '\xff')).ok());  // a crash mid-write
  auto s = Read();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].size, 20);
  Record(3000, 30);
  s = Read();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[2].unix_ms, 3000);
  EXPECT_EQ(s[2].size, 30);
  EXPECT_EQ(ReadFile(path_)->size(), 3u * 16);
}

TEST_F(ConsoleTimesTest, BoundedByDroppingTheOldestHalf) {
  for (int i = 1; i <= 8; ++i) Record(i * 1000, i * 10, 8);
  ASSERT_EQ(Read().size(), 8u);
  Record(9000, 90, 8);
  auto s = Read();
  ASSERT_EQ(s.size(), 5u) << "the newest 4 of 8, then the new one";
  EXPECT_EQ(s.front().unix_ms, 5000);
  EXPECT_EQ(s.back().unix_ms, 9000);
  EXPECT_EQ(ConsoleOffsetSince(s, 4000), 0) << "dropped samples: older output is included, never lost";
}

TEST_F(ConsoleTimesTest, KeptInTimeOrderWhenTheClockStepsBack) {
  Record(5000, 10);
  Record(4000, 20);  // NTP stepped the clock back
  auto s = Read();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].unix_ms, 5000);
  EXPECT_EQ(ConsoleOffsetSince(s, 4500), 0);
}

}  // namespace
}  // namespace banger
