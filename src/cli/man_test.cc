// The man pages of the real command tree: which pages, what they hold, and
// that groff renders each without a warning.
#include "cli/man.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "cli/app.h"

namespace banger {
namespace {

class ManTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/banger-man-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    ::unsetenv("SOURCE_DATE_EPOCH");
    std::filesystem::remove_all(dir_);
  }
  // `banger __man DIR`, in process.
  int WritePages() {
    std::vector<std::string> args{"banger", "__man", dir_ + "/man1"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return RunCli(static_cast<int>(args.size()), argv.data());
  }
  std::string Page(const std::string& name) {
    auto text = ReadFile(dir_ + "/man1/" + name);
    EXPECT_TRUE(text.ok()) << name;
    return text.ok() ? *text : "";
  }
  std::string dir_;
};

TEST_F(ManTest, OnePagePerGroupAndCommand) {
  ::setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  ASSERT_EQ(WritePages(), 0);
  for (const char* page : {"banger.1", "banger-vm.1", "banger-vm-create.1", "banger-vm-snapshot.1",
                           "banger-vm-snapshot-delete.1", "banger-image-template-list.1",
                           "banger-completion.1", "banger-doctor.1"}) {
    EXPECT_TRUE(IsRegularFile(dir_ + "/man1/" + page)) << page;
  }
  EXPECT_FALSE(IsRegularFile(dir_ + "/man1/banger-__complete.1")) << "hidden commands have no page";
  EXPECT_FALSE(IsRegularFile(dir_ + "/man1/banger-__man.1"));

  std::string top = Page("banger.1");
  EXPECT_NE(top.find(".TH \"BANGER\" 1 \"2023-11-14\""), std::string::npos) << "dated from SOURCE_DATE_EPOCH";
  EXPECT_NE(top.find(".SH COMMANDS"), std::string::npos);
  EXPECT_NE(top.find("\\fBvm\\fR"), std::string::npos);
  EXPECT_NE(top.find("\\fB\\-\\-home\\fR \\fIDIR\\fR"), std::string::npos);
  EXPECT_NE(top.find(".SH ENVIRONMENT"), std::string::npos);
  EXPECT_NE(top.find("BANGER_HOME"), std::string::npos);
  EXPECT_NE(top.find(".SH FILES"), std::string::npos);
  EXPECT_NE(top.find(".SH EXIT STATUS"), std::string::npos);

  std::string create = Page("banger-vm-create.1");
  EXPECT_NE(create.find(".SH NAME\nbanger\\-vm\\-create \\- Create a VM"), std::string::npos) << create;
  EXPECT_NE(create.find("\\fB\\-\\-image\\fR \\fIIMAGE\\fR"), std::string::npos);
  EXPECT_NE(create.find("\\fB\\-p\\fR, \\fB\\-\\-publish\\fR \\fIPORTS\\fR ..."), std::string::npos);
  EXPECT_NE(create.find(".SH GLOBAL OPTIONS"), std::string::npos);
  EXPECT_NE(create.find(".BR banger\\-vm (1)"), std::string::npos);

  std::string vm = Page("banger-vm.1");
  EXPECT_NE(vm.find(".BR banger\\-vm\\-exec (1)"), std::string::npos);
  std::string exec = Page("banger-vm-exec.1");
  EXPECT_NE(exec.find(".SH ARGUMENTS"), std::string::npos);
  EXPECT_NE(exec.find("\\fINAME\\fR\nVM name or id (required)"), std::string::npos) << exec;
}

TEST_F(ManTest, GroffRendersEveryPageWithoutWarnings) {
  auto have = RunCommand({"sh", "-c", "command -v groff"}, std::chrono::seconds(5));
  if (!have.ok() || have->exit_code != 0) GTEST_SKIP() << "groff not installed (apt-get install groff-base)";
  ASSERT_EQ(WritePages(), 0);
  int pages = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/man1")) {
    ++pages;
    auto r = RunCommand({"groff", "-man", "-ww", "-z", e.path().string()}, std::chrono::seconds(20));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 0) << e.path();
    EXPECT_EQ(r->err, "") << e.path();
  }
  EXPECT_GT(pages, 40);
}

TEST(RoffEscape, GuardsControlCharactersAndMinusSigns) {
  EXPECT_EQ(RoffEscape(".hidden"), "\\&.hidden");
  EXPECT_EQ(RoffEscape("a\n'quoted"), "a\n\\&'quoted");
  EXPECT_EQ(RoffEscape("C:\\dir"), "C:\\edir");
  EXPECT_EQ(RoffEscape("unless --no-start, read-only"), "unless \\-\\-no-start, read-only");
}

}  // namespace
}  // namespace banger
