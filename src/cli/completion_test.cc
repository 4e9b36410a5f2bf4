// The completion generator (the tree walk and the scripts), `__complete`
// against a fake daemon, a wedged one and none, and the man pages.
#include "cli/completion.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "api/fake_daemon_test.h"
#include "base/fs.h"
#include "base/process.h"
#include "cli/app.h"
#include "cli/man.h"
#include "model/json.h"

namespace banger {
namespace {

const CommandSpec* Child(const CommandSpec& s, const std::string& name) {
  for (const auto& c : s.subcommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const OptionSpec* Opt(const CommandSpec& s, const std::string& name) {
  for (const auto& o : s.options) {
    for (const auto& n : o.names) {
      if (n == name) return &o;
    }
  }
  return nullptr;
}

// A small tree with every rule of BuildCommandSpec in it.
struct SampleTree {
  CLI::App app{"sample", "banger"};
  std::string s;
  std::vector<std::string> v;
  bool b = false;
  int n = 0;
  SampleTree() {
    app.add_option("--home", s, "State root")->type_name("DIR");
    app.add_flag("--json", b, "JSON");
    auto* vm = app.add_subcommand("vm", "VMs");
    vm->alias("v");
    auto* create = vm->add_subcommand("create", "Create a VM");
    create->add_option("--name", s, "VM name, a DNS label")->type_name("NAME");
    create->add_option("--image", s, "Image name or id")->type_name("IMAGE");
    create->add_option("-p,--publish", v, "Publish a port")->type_name("PORTS");
    create->add_option("--ttl-action", s, "stop or delete")->type_name("stop|delete");
    create->add_option("--kernel", s, "Kernel file")->type_name("FILE");
    create->add_option("-w,--workdir", s, "Working directory in the guest")->type_name("DIR");
    create->add_option("--timeout", n, "Seconds")->type_name("SECONDS")->check(CLI::Range(1, 3600));
    create->add_option("--mode", s, "Mode")->check(CLI::IsMember({"fast", "slow"}));
    create->add_flag("--nat", b, "NAT");
    create->add_option("--secret", s, "hidden")->group("");
    auto* list = vm->add_subcommand("list", "List VMs");
    list->alias("ls");
    list->alias("ps");
    auto* exec = vm->add_subcommand("exec", "Run a command");
    exec->add_option("name", s, "VM name or id")->required();
    exec->add_option("command", v, "The command");
    auto* del = vm->add_subcommand("delete-snap", "Delete a snapshot");
    del->add_option("vm", s, "Whose")->required();
    del->add_option("snapshot", s, "Snapshot name")->required();
    auto* restore = vm->add_subcommand("restore", "Restore");
    restore->add_option("vm", s, "VM name or id")->required();
    restore->add_option("--snapshot", s, "Snapshot name (default: the newest)")->type_name("NAME");
    auto* img = app.add_subcommand("image", "Images");
    img->add_subcommand("build", "Build")->add_option("name", s, "Image name")->required();
    img->add_subcommand("show", "Show")->add_option("name", s, "Image name or id")->required();
    img->add_subcommand("tdel", "Delete a template")->add_option("id", s, "Template id")->required();
    img->add_subcommand("cp", "Copy")->add_option("src", s, "Source")->required();
    app.add_subcommand("session", "Sessions")->add_option("session", s, "Session name or id");
    app.add_subcommand("__hidden", "")->group("");
  }
};

TEST(CompletionSpec, WalksSubcommandsAliasesAndOptions) {
  SampleTree t;
  CommandSpec root = BuildCommandSpec(t.app);
  ASSERT_NE(Child(root, "vm"), nullptr);
  EXPECT_EQ(Child(root, "__hidden"), nullptr) << "hidden subcommands stay out";
  const CommandSpec& vm = *Child(root, "vm");
  EXPECT_EQ(vm.aliases, std::vector<std::string>{"v"});
  ASSERT_NE(Child(vm, "list"), nullptr);
  EXPECT_EQ(Child(vm, "list")->aliases, (std::vector<std::string>{"ls", "ps"}));
  const CommandSpec& create = *Child(vm, "create");
  ASSERT_NE(Opt(create, "-p"), nullptr);
  EXPECT_EQ(Opt(create, "-p"), Opt(create, "--publish"));
  EXPECT_EQ(Opt(create, "-p")->names, (std::vector<std::string>{"-p", "--publish"}));
  EXPECT_TRUE(Opt(create, "-p")->takes_value);
  EXPECT_TRUE(Opt(create, "-p")->repeats);
  EXPECT_EQ(Opt(create, "-p")->value_name, "PORTS");
  EXPECT_FALSE(Opt(create, "--nat")->takes_value);
  EXPECT_EQ(Opt(create, "--secret"), nullptr) << "hidden options stay out";
  EXPECT_NE(Opt(create, "--help"), nullptr);
  EXPECT_EQ(Opt(create, "--timeout")->value_name, "SECONDS") << "the validator's text is not the name";
}

TEST(CompletionSpec, ValueKindsFollowTheRules) {
  SampleTree t;
  CommandSpec root = BuildCommandSpec(t.app);
  const CommandSpec& vm = *Child(root, "vm");
  const CommandSpec& create = *Child(vm, "create");
  EXPECT_EQ(Opt(create, "--image")->value.kind, ValueKind::kImage);
  EXPECT_EQ(Opt(create, "--name")->value.kind, ValueKind::kNone) << "a new name";
  EXPECT_EQ(Opt(create, "--kernel")->value.kind, ValueKind::kFile);
  EXPECT_EQ(Opt(create, "--workdir")->value.kind, ValueKind::kNone) << "a guest directory is no host one";
  EXPECT_EQ(Opt(root, "--home")->value.kind, ValueKind::kDir);
  EXPECT_EQ(Opt(create, "--ttl-action")->value.kind, ValueKind::kChoice);
  EXPECT_EQ(Opt(create, "--ttl-action")->value.choices, (std::vector<std::string>{"stop", "delete"}));
  EXPECT_EQ(Opt(create, "--mode")->value.kind, ValueKind::kChoice);
  EXPECT_EQ(Opt(create, "--mode")->value.choices, (std::vector<std::string>{"fast", "slow"}));
  EXPECT_EQ(Opt(create, "--timeout")->value.kind, ValueKind::kNone);

  const CommandSpec& exec = *Child(vm, "exec");
  ASSERT_EQ(exec.positionals.size(), 2U);
  EXPECT_EQ(exec.positionals[0].value.kind, ValueKind::kVm);
  EXPECT_TRUE(exec.positionals[0].required);
  EXPECT_EQ(exec.positionals[1].value.kind, ValueKind::kAny);
  EXPECT_TRUE(exec.positionals[1].repeats);
  const CommandSpec& del = *Child(vm, "delete-snap");
  EXPECT_EQ(del.positionals[0].value.kind, ValueKind::kVm);
  EXPECT_EQ(del.positionals[1].value.kind, ValueKind::kSnapshot);
  EXPECT_EQ(Opt(*Child(vm, "restore"), "--snapshot")->value.kind, ValueKind::kSnapshot);
  const CommandSpec& image = *Child(root, "image");
  EXPECT_EQ(Child(image, "build")->positionals[0].value.kind, ValueKind::kNone) << "a new image name";
  EXPECT_EQ(Child(image, "show")->positionals[0].value.kind, ValueKind::kImage);
  EXPECT_EQ(Child(image, "tdel")->positionals[0].value.kind, ValueKind::kTemplate);
  EXPECT_EQ(Child(image, "cp")->positionals[0].value.kind, ValueKind::kAny);
  EXPECT_EQ(Child(root, "session")->positionals[0].value.kind, ValueKind::kSession);
}

TEST(CompletionSpec, FlattenListsEveryPathRootFirst) {
  SampleTree t;
  CommandSpec root = BuildCommandSpec(t.app);
  std::vector<std::string> paths;
  for (const auto& p : FlattenCommands(root)) paths.push_back(p.path);
  ASSERT_FALSE(paths.empty());
  EXPECT_EQ(paths[0], "");
  EXPECT_NE(std::find(paths.begin(), paths.end(), "vm create"), paths.end());
  EXPECT_NE(std::find(paths.begin(), paths.end(), "image tdel"), paths.end());
  EXPECT_EQ(std::find(paths.begin(), paths.end(), "__hidden"), paths.end());
}

TEST(CompletionScripts, CarryTheTreeAndTheAliases) {
  SampleTree t;
  CommandSpec root = BuildCommandSpec(t.app);
  std::string bash = BashCompletion(root);
  EXPECT_NE(bash.find("'vm|list' | 'vm|ls' | 'vm|ps') _banger_r='list'"), std::string::npos) << bash;
  EXPECT_NE(bash.find("'|vm' | '|v') _banger_r='vm'"), std::string::npos);
  EXPECT_NE(bash.find("'vm create|-p' | 'vm create|--publish') _banger_r='-'"), std::string::npos);
  EXPECT_NE(bash.find("'vm create|--image') _banger_r='images'"), std::string::npos);
  EXPECT_NE(bash.find("'vm create|--ttl-action') _banger_r='@stop|delete'"), std::string::npos);
  EXPECT_NE(bash.find("'vm exec') _banger_r='vms any+'"), std::string::npos);
  EXPECT_NE(bash.find("complete -F _banger banger"), std::string::npos);
  std::string zsh = ZshCompletion(root);
  EXPECT_EQ(zsh.rfind("#compdef banger\n", 0), 0U);
  EXPECT_NE(zsh.find("'ls:List VMs'"), std::string::npos);
  std::string fish = FishCompletion(root);
  EXPECT_NE(fish.find("case 'vm|list' 'vm|ls' 'vm|ps'"), std::string::npos);
  EXPECT_NE(fish.find("complete -c banger -f -a '(__banger_complete)'"), std::string::npos);
}

// Runs `shell -c script` (or -n for bash/zsh syntax checks); skips when the
// shell is not installed.
CommandResult RunShell(const std::vector<std::string>& argv) {
  auto r = RunCommand(argv, std::chrono::seconds(20));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : CommandResult{};
}

bool Have(const std::string& prog) {
  auto r = RunCommand({"sh", "-c", "command -v " + prog}, std::chrono::seconds(5));
  return r.ok() && r->exit_code == 0;
}

class CompletionShellTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/banger-compl-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string p = dir_ + "/" + name;
    EXPECT_TRUE(WriteFileAtomic(p, text, 0644).ok());
    return p;
  }
  std::string dir_;
};

// The bash walker over the sample tree, no daemon involved: verbs, aliases,
// flags, choices.
TEST_F(CompletionShellTest, BashWalkerCompletesVerbsFlagsAndChoices) {
  SampleTree t;
  std::string script = Write("banger.bash", BashCompletion(BuildCommandSpec(t.app)));
  auto r = RunShell({"bash", "-c", R"(
source "$1" || exit 9
c() { COMP_LINE=$1; read -r -a COMP_WORDS <<<"$1"; [[ $1 == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _banger
  echo "${COMPREPLY[*]}"; }
c "banger v"
c "banger v l"
c "banger vm create --ttl-action "
c "banger vm create --n"
c "banger vm ls --"
c "banger --json vm create -p 80:80 --ttl-action d"
)",
                     "bash", script});
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "vm v\n"
            "list ls\n"
            "stop delete\n"
            "--name --nat\n"
            "--help --home --json\n"
            "delete\n");
}

// The fish walker over the sample tree, no daemon involved.
TEST_F(CompletionShellTest, FishWalkerCompletesVerbsFlagsAndChoices) {
  if (!Have("fish")) GTEST_SKIP() << "fish not installed";
  SampleTree t;
  std::string script = Write("banger.fish", FishCompletion(BuildCommandSpec(t.app)));
  auto r = RunShell({"fish", "--no-config", "-c", R"(
source $argv[1]; or exit 9
complete -C 'banger v l'
complete -C 'banger vm create --ttl-action='
complete -C 'banger --json vm create -p 80:80 --ttl-action d'
complete -C 'banger vm ls --h'
)",
                     script});
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "list\tList VMs\n"
            "ls\tList VMs\n"
            "--ttl-action=delete\n"
            "--ttl-action=stop\n"
            "delete\n"
            "--help\tPrint this help message and exit\n"
            "--home\tState root\n");
}

// The zsh walker over the sample tree, through compsys on a pty
// (tests/e2e/completion/drive_zsh.zsh records what compadd is given).
TEST_F(CompletionShellTest, ZshWalkerCompletesThroughCompsys) {
  if (!Have("zsh")) GTEST_SKIP() << "zsh not installed";
  SampleTree t;
  std::string script = Write("banger.zsh", ZshCompletion(BuildCommandSpec(t.app)));
  const std::string driver = std::string(BANGER_SOURCE_DIR) + "/tests/e2e/completion/drive_zsh.zsh";
  auto complete = [&](const std::string& line) {
    std::string out = dir_ + "/zsh.out";
    auto r = RunShell({"zsh", "-f", driver, script, line, out});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto matches = ReadFile(out);
    return matches.ok() ? *matches : "";
  };
  EXPECT_EQ(complete("banger v l"), "list\nls\n");
  EXPECT_EQ(complete("banger vm create --ttl-action "), "stop\ndelete\n");
  EXPECT_EQ(complete("banger vm create --ttl-action=d"), "delete\n");
}

// `banger completion SHELL`, in process: the script of the real tree.
std::string Generate(const std::string& shell) {
  std::vector<std::string> args{"banger", "completion", shell};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  testing::internal::CaptureStdout();
  int code = RunCli(static_cast<int>(args.size()), argv.data());
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 0);
  return out;
}

TEST(CompletionScripts, TheRealTreeCompletesTheRightNames) {
  std::string bash = Generate("bash");
  for (const char* line :
       {"'vm exec') _banger_r='vms any+'", "'vm start') _banger_r='vms+'",
        "'vm snapshot delete') _banger_r='vms snapshots'", "'vm restore|--snapshot') _banger_r='snapshots'",
        "'image template delete') _banger_r='templates'", "'image show') _banger_r='images'",
        "'session logs') _banger_r='sessions'", "'vm create|--image') _banger_r='images'",
        "'vm create|--name') _banger_r='-'", "'vm snapshot create|--name') _banger_r='-'",
        "'|--config') _banger_r='file'", "'completion') _banger_r='@bash|zsh|fish'"}) {
    EXPECT_NE(bash.find(line), std::string::npos) << line;
  }
  EXPECT_EQ(bash.find("__complete'"), std::string::npos) << "hidden commands are not offered";
  EXPECT_EQ(bash.find("__man"), std::string::npos);
}

TEST_F(CompletionShellTest, ScriptsOfTheRealTreeParse) {
  for (const std::string shell : {"bash", "zsh", "fish"}) {
    if (!Have(shell)) {
      std::cerr << shell << " not installed: not checked\n";
      continue;
    }
    std::string script = Write("banger." + shell, Generate(shell));
    auto r = RunShell({shell, "-n", script});
    EXPECT_EQ(r.exit_code, 0) << shell << ": " << r.err;
    EXPECT_EQ(r.err, "") << shell;
  }
}

}  // namespace
}  // namespace banger
