// A fresh directory under /tmp for one test (empty but for the `subdirs` asked
// for), removed with everything in it when the TempDir goes. Short (/tmp/<prefix>-<pid>-<n>): socket paths in
// it must fit in sun_path. Test-only, header-only.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>

namespace banger::testing {

class TempDir {
 public:
  explicit TempDir(std::string_view prefix, std::initializer_list<std::string_view> subdirs = {})
      : path_("/tmp/" + std::string(prefix) + "-" + std::to_string(::getpid()) + "-" +
              std::to_string(Next())) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
    for (std::string_view d : subdirs) std::filesystem::create_directories(*this / d);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // The path of `name` inside the directory.
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  static int Next() {
    static std::atomic<int> n{0};
    return n++;
  }
  std::string path_;
};

}  // namespace banger::testing
