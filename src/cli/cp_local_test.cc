#include "cli/cp_local.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <tuple>
#include <vector>

#include "base/sha256.h"
#include "model/requests.h"

namespace banger {
namespace {

namespace fs = std::filesystem;

TEST(CpArgsTest, Endpoints) {
  auto vm = ParseCpEndpoint("web1:/root/x");
  ASSERT_TRUE(vm.ok());
  EXPECT_TRUE(vm->vm);
  EXPECT_EQ(vm->vm_ref, "web1");
  EXPECT_EQ(vm->path, "/root/x");
  auto dash = ParseCpEndpoint("-");
  ASSERT_TRUE(dash.ok());
  EXPECT_TRUE(dash->stdio);
  for (const char* host : {"/tmp/a:b", "./a:b", "plain", "../x:y", "a/b:c"}) {
    auto h = ParseCpEndpoint(host);
    ASSERT_TRUE(h.ok()) << host;
    EXPECT_FALSE(h->vm) << host;
    EXPECT_EQ(h->path, host);
  }
  EXPECT_FALSE(ParseCpEndpoint("web1:relative").ok());
  EXPECT_FALSE(ParseCpEndpoint("web1:").ok());
  EXPECT_FALSE(ParseCpEndpoint("").ok());
}

TEST(CpArgsTest, Pairs) {
  auto p = [](const char* a) { return *ParseCpEndpoint(a); };
  EXPECT_TRUE(CheckCpPair(p("/a"), p("vm:/b")).ok());
  EXPECT_TRUE(CheckCpPair(p("vm:/b"), p("/a")).ok());
  EXPECT_TRUE(CheckCpPair(p("-"), p("vm:/b")).ok());
  EXPECT_TRUE(CheckCpPair(p("vm:/b"), p("-")).ok());
  EXPECT_FALSE(CheckCpPair(p("/a"), p("/b")).ok());
  EXPECT_FALSE(CheckCpPair(p("v1:/a"), p("v2:/b")).ok());
  EXPECT_FALSE(CheckCpPair(p("-"), p("/b")).ok());
}

TEST(CpArgsTest, Chown) {
  EXPECT_TRUE(ValidateChown("1000:1000").ok());
  EXPECT_TRUE(ValidateChown("0:4294967294").ok());
  for (const char* bad : {"", "1000", "a:b", "1000:", ":1", "-1:0", "4294967295:0", "1:2:3", " 1:2"}) {
    EXPECT_FALSE(ValidateChown(bad).ok()) << bad;
  }
}

TEST(CpArgsTest, PathHelpers) {
  EXPECT_TRUE(IsContentsPath("/a/b/."));
  EXPECT_TRUE(IsContentsPath("."));
  EXPECT_FALSE(IsContentsPath("/a/b"));
  EXPECT_FALSE(IsContentsPath("/a/.b"));
  EXPECT_EQ(TrimCpPath("/a/b/."), "/a/b");
  EXPECT_EQ(TrimCpPath("/a/b//"), "/a/b");
  EXPECT_EQ(TrimCpPath("/"), "/");
  EXPECT_EQ(CpBaseName("/a/b/."), "b");
  EXPECT_EQ(CpBaseName("/"), ".");
  EXPECT_EQ(CpDirName("/a/b"), "/a");
  EXPECT_EQ(CpDirName("/a"), "/");
  EXPECT_EQ(CpDirName("b"), ".");
}

TEST(CpArgsTest, DockerRulesIntoTheVm) {
  // DST an existing directory: into it, as basename(SRC).
  auto p = PlanCopyIn("/h/src", true, "/root", std::string("dir"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->guest_dir, "/root");
  EXPECT_EQ(p->top_name, "src");
  // SRC/. into an existing directory: its contents.
  p = PlanCopyIn("/h/src/.", true, "/root", std::string("dir"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->top_name, "");
  // DST absent: SRC becomes DST.
  p = PlanCopyIn("/h/src", true, "/root/new", std::nullopt);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->guest_dir, "/root");
  EXPECT_EQ(p->top_name, "new");
  p = PlanCopyIn("/h/f.txt", false, "/root/g.txt", std::string("file"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->top_name, "g.txt");
  // A directory onto a file, a file into a missing "dir/".
  EXPECT_FALSE(PlanCopyIn("/h/src", true, "/root/g.txt", std::string("file")).ok());
  EXPECT_FALSE(PlanCopyIn("/h/f", false, "/root/nodir/", std::nullopt).ok());
}

class StagedExtractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("cp-local-test-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "src/sub");
    std::ofstream(root_ / "src/a.txt") << "hello";
    std::ofstream(root_ / "src/sub/b.bin") << std::string(300000, 'x');
    fs::create_symlink("a.txt", root_ / "src/link");
    ::chmod((root_ / "src/a.txt").c_str(), 0751);
    fs::create_directories(root_ / "dst");
  }
  void TearDown() override { fs::remove_all(root_); }

  // The host tree as a guest would send it (top entry "src").
  std::string TarOf(const std::string& path, const std::string& top) {
    std::string tar;
    EXPECT_TRUE(WriteHostTar(path, false, top, [&](std::string_view d) {
                  tar.append(d);
                  return OkStatus();
                }).ok());
    return tar;
  }
  static std::function<Result<std::string>()> Feed(const std::string& tar, size_t cut,
                                                   std::optional<Error> fail) {
    auto pos = std::make_shared<size_t>(0);
    return [tar, cut, fail, pos]() -> Result<std::string> {
      if (*pos >= cut) {
        if (fail) return *fail;
        return std::string();
      }
      size_t n = std::min<size_t>(4096, cut - *pos);
      std::string out = tar.substr(*pos, n);
      *pos += n;
      return out;
    };
  }
  size_t Entries(const fs::path& p) {
    size_t n = 0;
    for (auto it = fs::directory_iterator(p); it != fs::directory_iterator(); ++it) ++n;
    return n;
  }
  fs::path root_;
};

TEST_F(StagedExtractTest, CommitsIntoAnExistingDirectoryUnderTheSourceName) {
  std::string tar = TarOf((root_ / "src").string(), "src");
  auto x = StagedExtract::Begin((root_ / "dst").string(), "src", false);
  ASSERT_TRUE(x.ok()) << x.error().message();
  ASSERT_TRUE((*x)->Extract(Feed(tar, tar.size(), std::nullopt)).ok());
  EXPECT_FALSE(fs::exists(root_ / "dst/src"));  // nothing under the target name before Commit
  ASSERT_TRUE((*x)->Commit().ok());
  x->reset();
  EXPECT_EQ(Entries(root_ / "dst"), 1U);  // the staging directory is gone
  EXPECT_EQ(fs::file_size(root_ / "dst/src/sub/b.bin"), 300000U);
  EXPECT_TRUE(fs::is_symlink(root_ / "dst/src/link"));
  EXPECT_EQ(fs::read_symlink(root_ / "dst/src/link"), "a.txt");
  struct stat st {};
  ASSERT_EQ(::stat((root_ / "dst/src/a.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0751U);
  struct stat orig {};
  ::stat((root_ / "src/sub/b.bin").c_str(), &orig);
  ::stat((root_ / "dst/src/sub/b.bin").c_str(), &st);
  EXPECT_EQ(st.st_mtim.tv_sec, orig.st_mtim.tv_sec);
}

TEST_F(StagedExtractTest, AbsentTargetBecomesTheSourceAndContentsMerge) {
  std::string tar = TarOf((root_ / "src").string(), "src");
  auto x = StagedExtract::Begin((root_ / "dst/renamed").string(), "src", false);
  ASSERT_TRUE(x.ok());
  ASSERT_TRUE((*x)->Extract(Feed(tar, tar.size(), std::nullopt)).ok());
  ASSERT_TRUE((*x)->Commit().ok());
  EXPECT_TRUE(fs::exists(root_ / "dst/renamed/sub/b.bin"));
  // SRC/. into an existing directory: merged, files replaced.
  std::ofstream(root_ / "dst/renamed/keep") << "k";
  std::ofstream(root_ / "dst/renamed/a.txt") << "old";
  auto y = StagedExtract::Begin((root_ / "dst/renamed").string(), "src", true);
  ASSERT_TRUE(y.ok());
  ASSERT_TRUE((*y)->Extract(Feed(tar, tar.size(), std::nullopt)).ok());
  ASSERT_TRUE((*y)->Commit().ok());
  EXPECT_TRUE(fs::exists(root_ / "dst/renamed/keep"));
  EXPECT_EQ(fs::file_size(root_ / "dst/renamed/a.txt"), 5U);
}

TEST_F(StagedExtractTest, AFailedStreamLeavesNothingBehind) {
  std::string tar = TarOf((root_ / "src").string(), "src");
  for (size_t cut : {size_t{0}, size_t{700}, tar.size() / 2}) {
    auto x = StagedExtract::Begin((root_ / "dst").string(), "src", false);
    ASSERT_TRUE(x.ok());
    Status st = (*x)->Extract(Feed(tar, cut, Error::Internal("digest mismatch")));
    EXPECT_FALSE(st.ok()) << cut;
    x->reset();  // never committed
    EXPECT_EQ(Entries(root_ / "dst"), 0U) << cut;
  }
}

// A tar built entry by entry, as a hostile guest could send it.
std::string HandTar(const std::vector<std::tuple<std::string, mode_t, std::string>>& entries) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(
      a, &out, nullptr,
      [](archive*, void* c, const void* b, size_t n) -> la_ssize_t {
        static_cast<std::string*>(c)->append(static_cast<const char*>(b), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& [name, type, data] : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, 0755);
    if (type == AE_IFLNK) archive_entry_set_symlink(e, data.c_str());
    if (type == AE_IFREG) archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_write_header(a, e);
    if (type == AE_IFREG) archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

TEST_F(StagedExtractTest, HostileArchivesAreRefusedAndLeaveNothing) {
  fs::create_directories(root_ / "outside");
  const std::vector<std::vector<std::tuple<std::string, mode_t, std::string>>> cases = {
      // a ".." component
      {{"src", AE_IFDIR, ""}, {"src/../../outside/x", AE_IFREG, "evil"}},
      // through a symlink the archive made
      {{"src", AE_IFDIR, ""},
       {"src/l", AE_IFLNK, (root_ / "outside").string()},
       {"src/l/x", AE_IFREG, "evil"}},
      // an entry beside the top one
      {{"src", AE_IFDIR, ""}, {"other", AE_IFREG, "evil"}},
      // absolute
      {{"src", AE_IFDIR, ""}, {"/tmp/evil", AE_IFREG, "evil"}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string tar = HandTar(cases[i]);
    auto x = StagedExtract::Begin((root_ / "dst").string(), "src", false);
    ASSERT_TRUE(x.ok());
    EXPECT_FALSE((*x)->Extract(Feed(tar, tar.size(), std::nullopt)).ok()) << i;
    x->reset();
    EXPECT_EQ(Entries(root_ / "dst"), 0U) << i;
    EXPECT_EQ(Entries(root_ / "outside"), 0U) << i;
  }
}

TEST_F(StagedExtractTest, HostTarContentsOnlyAndSkipsTheRoot) {
  std::string tar = TarOf((root_ / "src").string(), "");
  EXPECT_EQ(tar.find("src/"), std::string::npos);
  EXPECT_NE(tar.find("sub/b.bin"), std::string::npos);
}

}  // namespace
}  // namespace banger
