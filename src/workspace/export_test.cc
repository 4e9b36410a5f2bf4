// Host side of `workspace export` against real git in throwaway repositories:
// a "guest" clone stands in for the VM (its bundle and work tree tar are what
// the guest sends).
#include "workspace/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"

namespace banger {
namespace {

namespace fs = std::filesystem;

std::string Cmd(const std::vector<std::string>& argv, const std::string& cwd = "") {
  auto r = RunChecked(argv, std::chrono::minutes(1), cwd);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? Trim(r->out) : "";
}

std::string Git(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"git", "-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"});
  return Cmd(args);
}

void Write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(WriteFileAtomic(path, text, 0644).ok());
}

std::string Read(const std::string& path) {
  auto r = ReadFile(path);
  return r.ok() ? *r : "<unreadable>";
}

struct Entry {
  std::string name;
  unsigned type = AE_IFREG;
  std::string data;  // contents, or the link target
};

// A tar written with libarchive: what a hostile guest could send.
void WriteTar(const std::string& path, const std::vector<Entry>& entries) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& en : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, en.name.c_str());
    archive_entry_set_filetype(e, en.type);
    archive_entry_set_perm(e, 0644);
    if (en.type == AE_IFLNK) archive_entry_set_symlink(e, en.data.c_str());
    if (en.type == AE_IFREG) archive_entry_set_size(e, static_cast<la_int64_t>(en.data.size()));
    archive_write_header(a, e);
    if (en.type == AE_IFREG) archive_write_data(a, en.data.data(), en.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // /var/tmp: /tmp may be closed to other users (GitRunsAsTheRepositoryOwner).
    auto t = ScratchDir::Create("/var/tmp", "bgex-");
    ASSERT_TRUE(t.ok());
    tmp_ = std::make_unique<ScratchDir>(std::move(*t));
    repo_ = tmp_->path() + "/host";
    fs::create_directories(repo_);
    Git(repo_, {"init", "-q", "-b", "main"});
    Write(repo_ + "/README", "v1\n");
    Write(repo_ + "/old.txt", "old\n");
    Write(repo_ + "/.gitignore", "*.o\n");
    Git(repo_, {"add", "-A"});
    Git(repo_, {"commit", "-q", "-m", "base"});
    base_ = Git(repo_, {"rev-parse", "HEAD"});
    // The host keeps working meanwhile: an uncommitted change, a staged one.
    Write(repo_ + "/README", "host edit\n");
    Write(repo_ + "/staged.txt", "staged\n");
    Git(repo_, {"add", "staged.txt"});

    // The "guest": a clone at the base, a commit, then uncommitted changes.
    guest_ = tmp_->path() + "/guest";
    Cmd({"git", "clone", "-q", repo_, guest_});
    Write(guest_ + "/feature.c", "int feature;\n");
    Git(guest_, {"add", "-A"});
    Git(guest_, {"commit", "-q", "-m", "guest feature"});
    guest_head_ = Git(guest_, {"rev-parse", "HEAD"});
    Git(guest_, {"bundle", "create", "-q", tmp_->path() + "/b.bundle", "HEAD", "^" + base_});
    Write(guest_ + "/README", "guest edit\n");
    fs::remove(guest_ + "/old.txt");
    Write(guest_ + "/build.o", "ignored\n");
    Write(guest_ + "/sub/new.txt", "new\n");
    Cmd({"tar", "-c", "-f", tmp_->path() + "/tree.tar", "."}, guest_);

    auto who = RepoOwner(repo_);
    ASSERT_TRUE(who.ok());
    who_ = *who;
  }

  // What must never change on the host.
  std::string HostState() {
    return Git(repo_, {"rev-parse", "HEAD"}) + "|" + Git(repo_, {"symbolic-ref", "HEAD"}) + "|" +
           Git(repo_, {"status", "--porcelain"}) + "|" + Read(repo_ + "/README") + "|" +
           Read(repo_ + "/.git/index") + "|" + Git(repo_, {"diff", "--cached"});
  }

  std::string Tree() {
    std::string d = tmp_->path() + "/tree";
    fs::create_directories(d);
    return d;
  }

  std::unique_ptr<ScratchDir> tmp_;
  std::string repo_, guest_, base_, guest_head_;
  GitUser who_;
  int n_ = 0;
};

TEST_F(ExportTest, CommitsAndUncommittedChangesBecomeABranchAndAPatch) {
  const std::string before = HostState();
  auto head = FetchBundle(repo_, tmp_->path() + "/b.bundle", who_);
  ASSERT_TRUE(head.ok()) << head.error().message();
  EXPECT_EQ(*head, guest_head_);
  auto st = ExtractGuestTree(tmp_->path() + "/tree.tar", Tree(), 1 << 20);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_FALSE(fs::exists(tmp_->path() + "/tree/.git"));
  auto tip = CommitWorkTree(repo_, *head, tmp_->path() + "/tree", tmp_->path() + "/index", "wip", who_);
  ASSERT_TRUE(tip.ok()) << tip.error().message();
  EXPECT_NE(*tip, guest_head_);
  auto n = CountCommits(repo_, base_, *tip, who_);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
  ASSERT_TRUE(CreateBranch(repo_, "guest-work", *tip, false, who_).ok());
  EXPECT_EQ(HostState(), before);

  EXPECT_EQ(Git(repo_, {"rev-parse", "guest-work"}), *tip);
  EXPECT_EQ(Git(repo_, {"log", "-1", "--format=%s", "guest-work"}), "wip");
  EXPECT_EQ(Git(repo_, {"show", "guest-work:README"}), "guest edit");
  EXPECT_EQ(Git(repo_, {"show", "guest-work:sub/new.txt"}), "new");
  EXPECT_EQ(Git(repo_, {"show", "guest-work:feature.c"}), "int feature;");
  EXPECT_EQ(Git(repo_, {"ls-tree", "--name-only", "guest-work"}), ".gitignore\nREADME\nfeature.c\nsub");

  // The patch applies with git am on a fresh clone of the base.
  std::string patch = Git(repo_, {"format-patch", "--stdout", base_ + ".." + *tip});
  Write(tmp_->path() + "/p.mbox", patch + "\n");
  std::string fresh = tmp_->path() + "/fresh";
  Cmd({"git", "clone", "-q", repo_, fresh});
  Git(fresh, {"checkout", "-q", base_});
  Git(fresh, {"am", "-q", tmp_->path() + "/p.mbox"});
  EXPECT_EQ(Git(fresh, {"rev-parse", "HEAD^{tree}"}), Git(repo_, {"rev-parse", *tip + "^{tree}"}));
}

TEST_F(ExportTest, BranchRules) {
  ASSERT_TRUE(CreateBranch(repo_, "guest-work", base_, false, who_).ok());
  auto again = CreateBranch(repo_, "guest-work", base_, false, who_);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind(), ErrorKind::kConflict);
  EXPECT_NE(again.error().message().find("already exists"), std::string::npos);
  EXPECT_TRUE(CreateBranch(repo_, "guest-work", base_, true, who_).ok());
  auto current = CreateBranch(repo_, "main", base_, true, who_);
  ASSERT_FALSE(current.ok());
  EXPECT_NE(current.error().message().find("checked out"), std::string::npos);
}

TEST_F(ExportTest, NoChangesIsTheParent) {
  std::string d = Tree();
  Cmd({"git", "-C", repo_, "archive", "-o", tmp_->path() + "/base.tar", base_});
  ASSERT_TRUE(ExtractGuestTree(tmp_->path() + "/base.tar", d, 1 << 20).ok());
  auto tip = CommitWorkTree(repo_, base_, d, tmp_->path() + "/index", "wip", who_);
  ASSERT_TRUE(tip.ok()) << tip.error().message();
  EXPECT_EQ(*tip, base_);
}

TEST_F(ExportTest, HostileTarsAreRefused) {
  const std::string tar = tmp_->path() + "/bad.tar";
  auto extract = [&](const std::vector<Entry>& entries, int64_t cap = 1 << 20) {
    WriteTar(tar, entries);
    std::string d = tmp_->path() + "/t" + std::to_string(n_++);
    fs::create_directories(d);
    return ExtractGuestTree(tar, d, cap);
  };
  EXPECT_FALSE(extract({{"../escape", AE_IFREG, "x"}}).ok());
  EXPECT_FALSE(extract({{"/etc/escape", AE_IFREG, "x"}}).ok());
  EXPECT_FALSE(fs::exists(tmp_->path() + "/escape"));
  // Writing through a symlink the tar itself made.
  fs::create_directories(tmp_->path() + "/outside");
  EXPECT_FALSE(extract({{"l", AE_IFLNK, tmp_->path() + "/outside"}, {"l/f", AE_IFREG, "x"}}).ok());
  EXPECT_FALSE(fs::exists(tmp_->path() + "/outside/f"));
  // Over the cap.
  auto big = extract({{"a", AE_IFREG, std::string(2000, 'a')}}, 1000);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message().find("--max-size"), std::string::npos);
  // .git anywhere is dropped; ordinary entries stay.
  int before = n_;
  auto ok = extract(
      {{".git/config", AE_IFREG, "[core]\n"}, {"x/.git/hooks/h", AE_IFREG, "x"}, {"ok", AE_IFREG, "y"}});
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  std::string d = tmp_->path() + "/t" + std::to_string(before);
  EXPECT_FALSE(fs::exists(d + "/.git"));
  EXPECT_FALSE(fs::exists(d + "/x/.git"));
  EXPECT_EQ(Read(d + "/ok"), "y");
}

// As root (the daemon's case) on a repository someone else owns: git runs as
// the owner, so nothing in .git ends up owned by root.
TEST_F(ExportTest, GitRunsAsTheRepositoryOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  ASSERT_EQ(::chmod(tmp_->path().c_str(), 0755), 0);
  const std::string work = tmp_->path() + "/work";
  fs::create_directories(work + "/tree");
  fs::create_directories(work + "/idx");
  Cmd({"chown", "-R", "65534:65534", repo_, work + "/idx"});
  auto who = RepoOwner(repo_);
  ASSERT_TRUE(who.ok());
  ASSERT_TRUE(who->run_as.has_value());
  EXPECT_EQ(who->run_as->uid, 65534u);
  auto head = FetchBundle(repo_, tmp_->path() + "/b.bundle", *who);
  ASSERT_TRUE(head.ok()) << head.error().message();
  ASSERT_TRUE(ExtractGuestTree(tmp_->path() + "/tree.tar", work + "/tree", 1 << 20).ok());
  auto tip = CommitWorkTree(repo_, *head, work + "/tree", work + "/idx/index", "wip", *who);
  ASSERT_TRUE(tip.ok()) << tip.error().message();
  ASSERT_TRUE(CreateBranch(repo_, "guest-work", *tip, false, *who).ok());
  EXPECT_EQ(Git(repo_, {"-c", "safe.directory=*", "show", "guest-work:README"}), "guest edit");
  EXPECT_EQ(Cmd({"find", repo_ + "/.git", "!", "-uid", "65534"}), "")
      << "files in .git not owned by the owner";
}

TEST_F(ExportTest, ABundleFromAnotherHistoryIsRefused) {
  std::string other = tmp_->path() + "/other";
  fs::create_directories(other);
  Git(other, {"init", "-q"});
  Write(other + "/a", "a\n");
  Git(other, {"add", "-A"});
  Git(other, {"commit", "-q", "-m", "a"});
  std::string first = Git(other, {"rev-parse", "HEAD"});
  Write(other + "/a", "b\n");
  Git(other, {"commit", "-q", "-am", "b"});
  Git(other, {"bundle", "create", "-q", tmp_->path() + "/o.bundle", "HEAD", "^" + first});
  auto r = FetchBundle(repo_, tmp_->path() + "/o.bundle", who_);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace banger
