// The completion scripts in real shells against a real daemon: each script
// loads without a word on stderr, and completing `banger vm exec <TAB>`
// offers the VMs the daemon has (created with --no-start: no guest boots),
// driven non-interactively (bash: the completion function with COMP_WORDS
// set; fish: complete -C; zsh: an interactive zsh on a pty with compinit,
// sent the line and a TAB, tests/e2e/completion/drive_zsh.zsh).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "e2e_util.h"

namespace banger::e2e {
namespace {

bool Have(const std::string& prog) {
  auto r = RunCommand({"sh", "-c", "command -v " + prog}, std::chrono::seconds(5));
  return r.ok() && r->exit_code == 0;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

bool Has(const std::vector<std::string>& v, const std::string& w) {
  return std::find(v.begin(), v.end(), w) != v.end();
}

class CompletionE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    home_ = new BangerHome();
    ASSERT_NO_FATAL_FAILURE(home_->ImportTestGuest());
    for (const char* name : {"web1", "web2"}) {
      CliRun r = home_->Banger({"vm", "create", "--name", name, "--image", "base", "--no-start"});
      ASSERT_EQ(r.code, 0) << r.err;
    }
    for (const std::string shell : {"bash", "zsh", "fish"}) {
      CliRun r = home_->Banger({"completion", shell});
      ASSERT_EQ(r.code, 0) << r.err;
      ASSERT_TRUE(WriteFileAtomic(home_->root() + "/banger." + shell, r.out, 0644).ok());
    }
  }
  static void TearDownTestSuite() {
    delete home_;
    home_ = nullptr;
  }

  // `shell args...` with banger (and bangerd beside it) first in PATH.
  static CommandResult Shell(const std::vector<std::string>& args) {
    std::string bin_dir = std::filesystem::path(BANGER_BIN).parent_path().string();
    const char* path = std::getenv("PATH");
    std::vector<std::string> argv{"env", "PATH=" + bin_dir + ":" + (path ? path : "/usr/bin:/bin")};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv, std::chrono::seconds(60));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : CommandResult{};
  }

  static std::string Script(const std::string& shell) { return home_->root() + "/banger." + shell; }

  // What bash's completion function offers for `line` (the last word is
  // the one completed; a line ending in a space completes an empty word).
  static CommandResult Bash(const std::string& line) {
    return Shell({"bash", "--norc", "--noprofile", "-c", R"(
source "$1" || exit 9
COMP_LINE=$2
COMP_POINT=${#COMP_LINE}
read -r -a COMP_WORDS <<<"$COMP_LINE"
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMPREPLY=()
_banger
printf '%s\n' "${COMPREPLY[@]}"
)",
                  "bash", Script("bash"), line});
  }

  static BangerHome* home_;
};

BangerHome* CompletionE2e::home_ = nullptr;

TEST_F(CompletionE2e, BashCompletesVerbsFlagsAndVmNames) {
  CommandResult load = Shell(
      {"bash", "--norc", "--noprofile", "-c", "source \"$1\" && complete -p banger", "bash", Script("bash")});
  EXPECT_EQ(load.exit_code, 0);
  EXPECT_EQ(load.err, "");
  EXPECT_EQ(load.out, "complete -F _banger banger\n");

  const std::string h = "banger --home " + home_->root() + " ";
  CommandResult r = Bash(h + "vm exec ");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "web1\nweb2\n");
  EXPECT_EQ(Bash(h + "vm exec web").out, "web1\nweb2\n");
  EXPECT_EQ(Bash(h + "vm start web1 w").out, "web1\nweb2\n") << "vm start takes several VMs";
  EXPECT_EQ(Bash(h + "vm create --image ").out, "base\n");

  auto verbs = Lines(Bash("banger vm ").out);
  for (const char* v : {"create", "exec", "list", "delete", "snapshot"}) EXPECT_TRUE(Has(verbs, v)) << v;
  auto flags = Lines(Bash("banger vm create --").out);
  for (const char* f : {"--name", "--image", "--no-start", "--publish", "--home", "--json"})
    EXPECT_TRUE(Has(flags, f)) << f;

  // BANGER_HOME works as --home does.
  CommandResult env = Shell({"env", "BANGER_HOME=" + home_->root(), "bash", "--norc", "--noprofile", "-c",
                             "source \"$1\"; COMP_WORDS=(banger vm show ''); COMP_CWORD=3; _banger; "
                             "printf '%s\\n' \"${COMPREPLY[@]}\"",
                             "bash", Script("bash")});
  EXPECT_EQ(env.out, "web1\nweb2\n");
}

TEST_F(CompletionE2e, FishCompletesVerbsAndVmNames) {
  if (!Have("fish")) GTEST_SKIP() << "fish not installed (scripts/install-deps.sh)";
  CommandResult load = Shell({"fish", "--no-config", "-c", "source $argv[1]", Script("fish")});
  EXPECT_EQ(load.exit_code, 0);
  EXPECT_EQ(load.err, "");
  CommandResult r =
      Shell({"fish", "--no-config", "-c", "source $argv[1]; complete -C \"banger --home $argv[2] vm exec \"",
             Script("fish"), home_->root()});
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "web1\nweb2\n");
  CommandResult verbs =
      Shell({"fish", "--no-config", "-c", "source $argv[1]; complete -C 'banger vm '", Script("fish")});
  auto lines = Lines(verbs.out);
  EXPECT_TRUE(Has(lines, "exec\tRun a command in a running VM: banger vm exec NAME -- CMD [ARGS...]"))
      << verbs.out;
}

TEST_F(CompletionE2e, ZshCompletesVmNamesThroughCompsys) {
  if (!Have("zsh")) GTEST_SKIP() << "zsh not installed (scripts/install-deps.sh)";
  const std::string driver = std::string(BANGER_SOURCE_DIR) + "/tests/e2e/completion/drive_zsh.zsh";
  CommandResult load = Shell(
      {"zsh", "-f", "-c", "autoload -Uz compinit && compinit -u -D && source $1", "zsh", Script("zsh")});
  EXPECT_EQ(load.exit_code, 0);
  EXPECT_EQ(load.err, "");

  const std::string out = home_->root() + "/zsh.out";
  CommandResult r =
      Shell({"zsh", "-f", driver, Script("zsh"), "banger --home " + home_->root() + " vm exec ", out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto matches = ReadFile(out);
  ASSERT_TRUE(matches.ok());
  auto tty = ReadFile(out + ".tty");
  ASSERT_TRUE(tty.ok());
  EXPECT_EQ(*matches, "web1\nweb2\n") << "terminal:\n" << *tty;
  EXPECT_EQ(tty->find("_banger"), std::string::npos) << "an error from the script:\n" << *tty;
  EXPECT_EQ(tty->find("command not found"), std::string::npos) << *tty;

  r = Shell({"zsh", "-f", driver, Script("zsh"), "banger vm ", out});
  matches = ReadFile(out);
  ASSERT_TRUE(matches.ok());
  auto verbs = Lines(*matches);
  for (const char* v : {"create", "exec", "list"}) EXPECT_TRUE(Has(verbs, v)) << v << " in " << *matches;
}

}  // namespace
}  // namespace banger::e2e
