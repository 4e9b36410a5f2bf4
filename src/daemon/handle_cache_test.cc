#include "daemon/handle_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "base/fs.h"

namespace banger {
namespace {

class HandlesFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / ("banger-h-" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(HandlesFileTest, RoundTrip) {
  VmHandles h;
  h.pid = 4242;
  h.tap_device = "tap3";
  h.base_loop = "/dev/loop1";
  ASSERT_TRUE(WriteHandlesFile(dir_, h).ok());
  auto r = ReadHandlesFile(dir_);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->pid, 4242);
  EXPECT_EQ((*r)->tap_device, "tap3");
  EXPECT_EQ((*r)->base_loop, "/dev/loop1");
}

TEST_F(HandlesFileTest, MissingIsEmptyNotError) {
  auto r = ReadHandlesFile(dir_);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

TEST_F(HandlesFileTest, CorruptIsAnErrorNamingTheFile) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/handles.json", "{not json").ok());
  auto r = ReadHandlesFile(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("handles.json"), std::string::npos);
}

TEST(HandleCacheTest, ConcurrentSetGetErase) {
  HandleCache cache;
  std::vector<std::thread> ts;
  ts.reserve(8);
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&cache, t] {
      for (int i = 0; i < 500; ++i) {
        std::string id = "vm" + std::to_string(t);
        cache.Set(id, VmHandles{i, "", "", "", "", ""});
        auto h = cache.Get(id);
        ASSERT_TRUE(h.has_value());
        if (i % 7 == 0) cache.Erase(id);
      }
    });
  }
  for (auto& t : ts) t.join();
  for (int t = 0; t < 8; ++t) {
    auto h = cache.Get("vm" + std::to_string(t));
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->pid, 499);
  }
}

}  // namespace
}  // namespace banger
