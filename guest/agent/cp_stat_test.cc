// `banger-agent stat` and `ls`: JSON the host's parser (nlohmann) reads back,
// with odd names escaped and listings cut at 10000 entries.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "base/testing/temp_dir.h"
#include "cp_test_util.h"

namespace banger::agent::cp::testing {
using banger::testing::TempDir;
namespace {

using nlohmann::json;

json Parse(const RunResult& r) {
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  return json::parse(r.out);
}

TEST(AgentStatTest, FileDirAndSymlink) {
  TempDir dir("cp-stat", {"d"});
  std::ofstream(dir / "d/f") << "12345";
  chmod((dir / "d/f").c_str(), 04751);
  timespec t[2] = {{0, UTIME_OMIT}, {1600000000, 987654321}};
  utimensat(AT_FDCWD, (dir / "d/f").c_str(), t, 0);
  symlink("f \"quoted\"", (dir / "d/l").c_str());

  json f = Parse(RunAgent({"stat", dir / "d/f"}));
  EXPECT_EQ(f["path"], dir / "d/f");
  EXPECT_EQ(f["name"], "f");
  EXPECT_EQ(f["type"], "file");
  EXPECT_EQ(f["size"], 5);
  EXPECT_EQ(f["mode"], 04751);
  EXPECT_EQ(f["mtime_ns"], 1600000000987654321LL);
  EXPECT_EQ(f["uid"], getuid());
  EXPECT_EQ(f["gid"], getgid());
  EXPECT_FALSE(f.contains("link_target"));

  json l = Parse(RunAgent({"stat", dir / "d/l"}));
  EXPECT_EQ(l["type"], "symlink");
  EXPECT_EQ(l["link_target"], "f \"quoted\"");

  json d = Parse(RunAgent({"stat", dir / "d/"}));
  EXPECT_EQ(d["type"], "dir");
  EXPECT_EQ(d["name"], "d");
  EXPECT_EQ(Parse(RunAgent({"stat", "/dev/null"}))["type"], "other");
}

TEST(AgentStatTest, Errors) {
  RunResult r = RunAgent({"stat", "/nonexistent-banger"});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.error_code(), "not_found");
  r = RunAgent({"ls", "/dev/null"});
  EXPECT_EQ(r.error_code(), "not_dir");
  EXPECT_EQ(RunAgent({"ls", "relative"}).exit_code(), 2);
  EXPECT_EQ(RunAgent({"stat"}).exit_code(), 2);
}

TEST(AgentLsTest, EscapesOddNamesAndSorts) {
  TempDir dir("cp-ls", {"d"});
  const std::string names[] = {"b\"q\\s",
                               "a\nnew\tline",
                               std::string("ctl\x01\x1f\x7f"),
                               "latin\xff\xfe",
                               "utf8-\xc3\xa9\xe2\x82\xac",
                               "trunc\xe2\x82",
                               "surrogate\xed\xa0\x80"};
  for (const std::string& n : names) std::ofstream(dir / "d/" + n) << "x";
  mkdir((dir / "d/sub").c_str(), 0755);
  RunResult r = RunAgent({"ls", dir / "d"});
  json j = Parse(r);
  EXPECT_EQ(j["path"], dir / "d");
  EXPECT_EQ(j["truncated"], false);
  std::vector<std::string> got;
  for (const json& e : j["entries"]) {
    EXPECT_FALSE(e.contains("path"));
    got.push_back(e["name"]);
  }
  // Sorted by the raw bytes; invalid UTF-8 bytes read as Latin-1.
  EXPECT_EQ(got,
            (std::vector<std::string>{"a\nnew\tline", "b\"q\\s", "ctl\x01\x1f\x7f", "latin\xc3\xbf\xc3\xbe",
                                      "sub", "surrogate\xc3\xad\xc2\xa0\xc2\x80", "trunc\xc3\xa2\xc2\x82",
                                      "utf8-\xc3\xa9\xe2\x82\xac"}));
  EXPECT_THAT(r.out, ::testing::HasSubstr(R"("ctl\u0001\u001f\u007f")"));
  EXPECT_EQ(j["entries"][4]["type"], "dir");
}

TEST(AgentLsTest, TruncatesAt10000Entries) {
  TempDir dir("cp-ls-big", {"d"});
  for (int i = 0; i < 10050; ++i) {
    char name[32];
    snprintf(name, sizeof(name), "/d/f%05d", 10049 - i);
    std::ofstream(dir.path() + name);
  }
  json j = Parse(RunAgent({"ls", dir / "d"}));
  EXPECT_EQ(j["truncated"], true);
  ASSERT_EQ(j["entries"].size(), 10000u);
  EXPECT_EQ(j["entries"][0]["name"], "f00000");
  EXPECT_EQ(j["entries"][9999]["name"], "f09999");
}

}  // namespace
}  // namespace banger::agent::cp::testing
