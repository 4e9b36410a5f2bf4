// Workspace export end to end (QEMU TCG, network off, the minimal image with
// the agent, which has no git): a host repository prepared into a VM, edited
// in the guest (a change, a new file, a deletion, an ignored file; commits
// too when the guest has git), then `workspace diff`, `workspace export
// --branch --patch`: the branch holds the guest's work, the host's HEAD,
// branch, index and working tree are as they were, and the patch applies
// with `git am` on a fresh clone. Bad input is refused with one line.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "agent_guest_fixture.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;

using WorkspaceExportE2E = AgentGuestE2E;

std::string Git(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"git", "-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"});
  auto r = RunChecked(args);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? Trim(r->out) : "";
}

std::string Read(const std::string& path) {
  auto r = ReadFile(path);
  return r.ok() ? *r : "<unreadable>";
}

TEST_F(WorkspaceExportE2E, GuestChangesComeBackAsABranchAndAPatch) {
  const std::string repo = h_.root() + "/proj";
  std::filesystem::create_directories(repo);
  Git(repo, {"init", "-q", "-b", "main"});
  ASSERT_TRUE(WriteFileAtomic(repo + "/README", "v1\n", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(repo + "/lib.txt", "library\n", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(repo + "/.gitignore", "*.log\n", 0644).ok());
  Git(repo, {"add", "-A"});
  Git(repo, {"commit", "-q", "-m", "base"});
  const std::string base = Git(repo, {"rev-parse", "HEAD"});

  ASSERT_EQ(h_.Banger({"vm", "create", "--name", "w"}, 240s).code, 0);
  CliRun p = h_.Banger({"workspace", "prepare", "w", repo}, 240s);
  ASSERT_EQ(p.code, 0) << p.err;

  // In the guest: commits when it has git, and uncommitted changes.
  const bool guest_git = Exec("w", "command -v git >/dev/null && echo yes || echo no") == "yes\n";
  if (guest_git) {
    Exec("w",
         "cd /root/proj && echo committed > c.txt && git add c.txt && "
         "git -c user.name=g -c user.email=g@example.com commit -q -m 'guest commit'");
  }
  Exec("w",
       "cd /root/proj && echo 'guest edit' > README && rm lib.txt && mkdir -p sub && "
       "echo new > sub/new.txt && echo noise > debug.log && chmod +x sub/new.txt");

  // The host works on meanwhile: an uncommitted change and a staged file.
  ASSERT_TRUE(WriteFileAtomic(repo + "/README", "host edit\n", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(repo + "/staged.txt", "staged\n", 0644).ok());
  Git(repo, {"add", "staged.txt"});
  auto host_state = [&] {
    return Git(repo, {"rev-parse", "HEAD"}) + "|" + Git(repo, {"symbolic-ref", "HEAD"}) + "|" +
           Git(repo, {"status", "--porcelain"}) + "|" + Git(repo, {"diff", "--cached"}) + "|" +
           Read(repo + "/README") + "|" + Read(repo + "/staged.txt") + "|" + Read(repo + "/lib.txt");
  };
  const std::string before = host_state();

  CliRun diff = h_.Banger({"workspace", "diff", "w", repo}, 240s);
  ASSERT_EQ(diff.code, 0) << diff.err;
  EXPECT_NE(diff.out.find("+guest edit"), std::string::npos) << diff.out;
  EXPECT_NE(diff.out.find("sub/new.txt"), std::string::npos) << diff.out;
  EXPECT_NE(diff.out.find("deleted file mode"), std::string::npos) << diff.out;
  EXPECT_EQ(diff.out.find("debug.log"), std::string::npos) << "ignored files stay out: " << diff.out;
  EXPECT_EQ(host_state(), before);

  const std::string patch = h_.root() + "/guest.patch";
  auto t0 = std::chrono::steady_clock::now();
  CliRun ex = h_.Banger({"workspace", "export", "w", repo, "--branch", "guest-work", "--patch", patch,
                         "--commit-message", "guest work", "--json"},
                        240s);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(ex.code, 0) << ex.err;
  std::printf("workspace export took %lld ms\n", static_cast<long long>(ms));
  auto res = ParseJson(ex.out);
  ASSERT_TRUE(res.ok()) << ex.out;
  EXPECT_EQ((*res)["base_commit"], base);
  EXPECT_EQ((*res)["branch"], "guest-work");
  EXPECT_EQ((*res)["commits"], guest_git ? 2 : 1);
  EXPECT_EQ((*res)["uncommitted"], true);

  // The host: everything as it was, plus the branch.
  EXPECT_EQ(host_state(), before);
  const std::string tip = Git(repo, {"rev-parse", "guest-work"});
  EXPECT_EQ(tip, (*res)["commit"]);
  EXPECT_EQ(Git(repo, {"rev-parse", "guest-work~" + std::string(guest_git ? "2" : "1")}), base);
  EXPECT_EQ(Git(repo, {"log", "-1", "--format=%s", "guest-work"}), "guest work");
  EXPECT_EQ(Git(repo, {"show", "guest-work:README"}), "guest edit");
  EXPECT_EQ(Git(repo, {"show", "guest-work:sub/new.txt"}), "new");
  EXPECT_EQ(Git(repo, {"ls-tree", "--name-only", "guest-work"}),
            guest_git ? ".gitignore\nREADME\nc.txt\nsub" : ".gitignore\nREADME\nsub");
  EXPECT_NE(Git(repo, {"ls-tree", "-r", "guest-work", "sub/new.txt"}).find("100755"), std::string::npos)
      << "the exec bit comes back";

  // The patch applies with git am on a fresh clone at the base.
  const std::string fresh = h_.root() + "/fresh";
  ASSERT_TRUE(RunChecked({"git", "clone", "-q", repo, fresh}).ok());
  Git(fresh, {"checkout", "-q", "-b", "apply", base});
  Git(fresh, {"am", "-q", patch});
  EXPECT_EQ(Git(fresh, {"rev-parse", "HEAD^{tree}"}), Git(repo, {"rev-parse", "guest-work^{tree}"}));

  // Bad input: one line each.
  ExpectRefused({"workspace", "export", "w", repo, "--branch", "guest-work"}, "already exists");
  ExpectRefused({"workspace", "export", "w", repo, "--branch", "bad..name"}, "invalid branch name");
  ExpectRefused({"workspace", "export", "w", repo}, "give --branch NAME or --patch FILE");
  ExpectRefused({"workspace", "export", "w", repo, "--branch", "main", "--force"}, "checked out");
  const std::string other = h_.root() + "/other";
  std::filesystem::create_directories(other);
  Git(other, {"init", "-q"});
  Git(other, {"commit", "-q", "--allow-empty", "-m", "x"});
  ExpectRefused({"workspace", "export", "w", other, "--branch", "x"}, "has no workspace of");
  ExpectRefused({"workspace", "diff", "nosuch", repo}, "nosuch");
  EXPECT_EQ(host_state(), before);
  // --force replaces the branch; the max size is a clear refusal.
  CliRun forced = h_.Banger({"workspace", "export", "w", repo, "--branch", "guest-work", "--force"}, 240s);
  EXPECT_EQ(forced.code, 0) << forced.err;
  Exec("w", "dd if=/dev/zero of=/root/proj/big bs=1M count=3 2>/dev/null");
  ExpectRefused({"workspace", "diff", "w", repo, "--max-size", "1"}, "--max-size");
  ASSERT_EQ(h_.Banger({"vm", "delete", "w"}, 120s).code, 0);
}

}  // namespace
}  // namespace banger::e2e
