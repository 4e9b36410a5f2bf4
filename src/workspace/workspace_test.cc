#include "workspace/workspace.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "base/fs.h"
#include "base/process.h"

namespace banger {
namespace {

namespace fs = std::filesystem;

std::string Cmd(const std::vector<std::string>& argv) {
  auto r = RunChecked(argv);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? r->out : "";
}

std::string Git(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"git", "-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"});
  return Cmd(args);
}

void Write(const std::string& path, const std::string& text, mode_t mode = 0644) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(WriteFileAtomic(path, text, mode).ok());
}

// A repository with history, and a work tree with every kind of change.
class WorkspaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = TempDir::Create("/tmp", "bgws-");
    ASSERT_TRUE(t.ok());
    tmp_ = std::make_unique<TempDir>(std::move(*t));
    repo_ = tmp_->path() + "/proj";
    fs::create_directories(repo_);
    Git(repo_, {"init", "-q", "-b", "main"});
    Write(repo_ + "/README", "v1\n");
    Write(repo_ + "/gone.txt", "to be deleted\n");
    Write(repo_ + "/.gitignore", "build/\n*.o\n");
    Git(repo_, {"add", "-A"});
    Git(repo_, {"commit", "-q", "-m", "one"});
    Write(repo_ + "/README", "v2\n");
    Write(repo_ + "/run.sh", "#!/bin/sh\necho hi\n", 0755);
    Git(repo_, {"add", "-A"});
    Git(repo_, {"commit", "-q", "-m", "two"});
    Git(repo_, {"remote", "add", "origin", "https://git.example.com/proj.git"});
    // Uncommitted: a change, a new file, a deletion, ignored files, a symlink.
    Write(repo_ + "/README", "v3 uncommitted\n");
    Write(repo_ + "/src/new.c", "int main(){}\n");
    fs::remove(repo_ + "/gone.txt");
    Write(repo_ + "/build/out.bin", "ignored\n");
    Write(repo_ + "/x.o", "ignored\n");
    fs::create_symlink("README", repo_ + "/link");
  }

  // Packs in `mode` and unpacks with tar into a fresh directory; returns it.
  std::string PackAndUnpack(WorkspacePrepareMode mode, const std::string& branch,
                            PackStats* stats = nullptr) {
    // From a subdirectory (when there is one): the top is found.
    auto repo = InspectRepo(fs::is_directory(repo_ + "/src") ? repo_ + "/src" : repo_);
    EXPECT_TRUE(repo.ok()) << repo.error().message();
    if (!repo.ok()) return "";
    auto staging = TempDir::Create(tmp_->path(), "stage-");
    EXPECT_TRUE(staging.ok());
    Status st = StageGitDir(*repo, mode, branch, staging->path());
    EXPECT_TRUE(st.ok()) << st.error().message();
    auto files = WorkTreeFiles(*repo, mode);
    EXPECT_TRUE(files.ok());
    std::string tar;
    int progress_calls = 0;
    auto packed = Pack(
        *repo, staging->path(), *files,
        [&](std::string_view chunk) {
          tar.append(chunk);
          return OkStatus();
        },
        [&](const PackStats&) { ++progress_calls; });
    EXPECT_TRUE(packed.ok()) << packed.error().message();
    EXPECT_GE(progress_calls, 1);
    if (stats && packed.ok()) *stats = *packed;
    std::string out = tmp_->path() + "/out-" + std::to_string(counter_++);
    fs::create_directories(out);
    EXPECT_TRUE(WriteFileAtomic(out + ".tar", tar).ok());
    Cmd({"tar", "-x", "-p", "-f", out + ".tar", "-C", out});
    return out;
  }

  std::unique_ptr<TempDir> tmp_;
  std::string repo_;
  int counter_ = 0;
};

TEST_F(WorkspaceTest, InspectFindsTopHeadBranchAndOrigin) {
  auto r = InspectRepo(repo_ + "/src");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->root, repo_);
  EXPECT_EQ(r->name, "proj");
  EXPECT_EQ(r->head_commit.size(), 40u);
  EXPECT_EQ(r->current_branch, "main");
  EXPECT_EQ(r->origin_url, "https://git.example.com/proj.git");

  EXPECT_FALSE(InspectRepo("relative/path").ok());
  EXPECT_FALSE(InspectRepo(repo_ + "/README").ok()) << "a file, not a directory";
  auto none = InspectRepo(tmp_->path());
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("not inside a git work tree"), std::string::npos);
  fs::create_directories(tmp_->path() + "/empty");
  Git(tmp_->path() + "/empty", {"init", "-q"});
  auto empty = InspectRepo(tmp_->path() + "/empty");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message().find("no commit yet"), std::string::npos) << empty.error().message();
}

TEST_F(WorkspaceTest, ShallowOverlayIsTheWorkTreeOnOneCommit) {
  PackStats stats;
  std::string out = PackAndUnpack(WorkspacePrepareMode::kShallowOverlay, "", &stats);
  EXPECT_EQ(*ReadFile(out + "/README"), "v3 uncommitted\n");
  EXPECT_EQ(*ReadFile(out + "/src/new.c"), "int main(){}\n");
  EXPECT_FALSE(fs::exists(out + "/gone.txt"));
  EXPECT_FALSE(fs::exists(out + "/build")) << "ignored";
  EXPECT_FALSE(fs::exists(out + "/x.o")) << "ignored";
  EXPECT_TRUE(fs::is_symlink(out + "/link"));
  EXPECT_EQ(fs::status(out + "/run.sh").permissions() & fs::perms::owner_exec, fs::perms::owner_exec);
  EXPECT_GT(stats.files, 4);  // README .gitignore run.sh src/new.c and the .git files
  EXPECT_GT(stats.bytes, 0);
  // One commit of history, origin kept, the host's changes show as changes.
  EXPECT_EQ(Git(out, {"rev-list", "--count", "HEAD"}), "1\n");
  EXPECT_EQ(Git(out, {"rev-parse", "HEAD"}), Git(repo_, {"rev-parse", "HEAD"}));
  EXPECT_EQ(Git(out, {"symbolic-ref", "--short", "HEAD"}), "main\n");
  EXPECT_EQ(Git(out, {"remote", "get-url", "origin"}), "https://git.example.com/proj.git\n");
  std::string status = Git(out, {"status", "--porcelain"});
  EXPECT_NE(status.find(" M README"), std::string::npos) << status;
  EXPECT_NE(status.find(" D gone.txt"), std::string::npos) << status;
  EXPECT_NE(status.find("?? src/"), std::string::npos) << status;
  EXPECT_EQ(status.find("run.sh"), std::string::npos) << "unchanged files are clean: " << status;
}

TEST_F(WorkspaceTest, FullCopyKeepsHistoryAndBranchIsCreatedAtHead) {
  std::string out = PackAndUnpack(WorkspacePrepareMode::kFullCopy, "feature/x");
  EXPECT_EQ(Git(out, {"rev-list", "--count", "HEAD"}), "2\n");
  EXPECT_EQ(Git(out, {"symbolic-ref", "--short", "HEAD"}), "feature/x\n");
  EXPECT_EQ(Git(out, {"rev-parse", "HEAD"}), Git(repo_, {"rev-parse", "HEAD"}));
  EXPECT_EQ(*ReadFile(out + "/README"), "v3 uncommitted\n");
}

TEST_F(WorkspaceTest, MetadataOnlyShipsJustTheGitDir) {
  std::string out = PackAndUnpack(WorkspacePrepareMode::kMetadataOnly, "");
  EXPECT_TRUE(fs::is_directory(out + "/.git"));
  EXPECT_FALSE(fs::exists(out + "/README"));
  EXPECT_EQ(Git(out, {"rev-parse", "HEAD"}), Git(repo_, {"rev-parse", "HEAD"}));
}

TEST_F(WorkspaceTest, NoOriginMeansNoHostPathLeaksIn) {
  Git(repo_, {"remote", "remove", "origin"});
  std::string out = PackAndUnpack(WorkspacePrepareMode::kShallowOverlay, "");
  EXPECT_EQ(Git(out, {"remote"}), "") << "no file:// remote pointing at the host";
}

TEST_F(WorkspaceTest, DetachedHeadIsShippedAsIs) {
  std::string first = Git(repo_, {"rev-parse", "HEAD~1"});
  first.pop_back();
  Git(repo_, {"stash", "-q", "-u"});
  Git(repo_, {"checkout", "-q", first});
  auto r = InspectRepo(repo_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->current_branch, "");
  std::string out = PackAndUnpack(WorkspacePrepareMode::kShallowOverlay, "");
  EXPECT_EQ(Git(out, {"rev-parse", "HEAD"}), first + "\n");
  EXPECT_EQ(*ReadFile(out + "/README"), "v1\n");
}

TEST_F(WorkspaceTest, AFailingSinkStopsThePack) {
  auto repo = InspectRepo(repo_);
  ASSERT_TRUE(repo.ok());
  auto staging = TempDir::Create(tmp_->path(), "stage-");
  ASSERT_TRUE(StageGitDir(*repo, WorkspacePrepareMode::kShallowOverlay, "", staging->path()).ok());
  auto packed = Pack(
      *repo, staging->path(), *WorkTreeFiles(*repo, WorkspacePrepareMode::kShallowOverlay),
      [](std::string_view) { return Status(Error::Unavailable("guest went away")); }, nullptr);
  ASSERT_FALSE(packed.ok());
  EXPECT_EQ(packed.error().message(), "guest went away");
}

TEST(WorkspaceValidationTest, GuestPathsAndBranches) {
  for (const char* ok : {"/root/proj", "/srv/a/b", "/root/my repo"})
    EXPECT_TRUE(ValidateGuestPath(ok).ok()) << ok;
  for (const char* bad : {"", "root/proj", "/", "/root", "/root/", "/root//x", "/root/./x", "/root/../etc",
                          "/proc/x", "/sys/x", "/dev/x", "/root/a\nb"}) {
    EXPECT_FALSE(ValidateGuestPath(bad).ok()) << bad;
  }
  EXPECT_TRUE(ValidateBranchName("feature/x").ok());
  for (const char* bad : {"", "-x", "a..b", "a b", "x.lock", "a~b"})
    EXPECT_FALSE(ValidateBranchName(bad).ok()) << bad;
}

TEST(WorkspaceValidationTest, UnpackCommandKeepsUserStringsOutOfTheScript) {
  auto argv = GuestUnpackArgv("/root/$(reboot)", true);
  ASSERT_EQ(argv.size(), 6u);
  EXPECT_EQ(argv[0], "sh");
  EXPECT_EQ(argv[2].find("reboot"), std::string::npos);
  EXPECT_EQ(argv[4], "/root/$(reboot)");
  EXPECT_EQ(argv[5], "1");
}

}  // namespace
}  // namespace banger
