// Shared by the image tests (*_test.cc here): a fixture with a scratch
// directory.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "base/fs.h"

namespace banger {

// dir_: a fresh directory under /tmp, removed with everything in it when the
// test's fixture goes.
class ScratchDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto scratch = TempDir::Create("/tmp", "banger-image-test-");
    ASSERT_TRUE(scratch.ok()) << scratch.error().message();
    scratch_.emplace(std::move(*scratch));
    dir_ = scratch_->path();
  }
  std::optional<TempDir> scratch_;
  std::string dir_;
};

}  // namespace banger
