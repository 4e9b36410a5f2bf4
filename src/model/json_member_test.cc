#include "model/json_member.h"

#include <gtest/gtest.h>

#include <string>

#include "model/json.h"

namespace banger {
namespace {

// What the slow way gives: parse, take the member, dump indented.
std::string Slow(const std::string& text, const std::string& key, int indent) {
  auto j = ParseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  return SafeDump(j->value(key, Json::array()), indent);
}

void ExpectSameAsParseAndDump(const std::string& text, const std::string& key = "vms", int indent = 2) {
  auto fast = IndentedJsonMember(text, key, indent, "[]");
  ASSERT_TRUE(fast.has_value()) << text;
  EXPECT_EQ(*fast, Slow(text, key, indent)) << text;
}

TEST(IndentedJsonMember, MatchesParseAndDumpOnWhatTheDaemonSends) {
  Json vms = Json::array();
  for (int i = 0; i < 3; ++i) {
    vms.push_back(
        Json{{"id", "a" + std::to_string(i)},
             {"name", "bench-" + std::to_string(i)},
             {"labels", Json{{"team", "infra"}, {"tier", "é ü \xe2\x9c\x93"}}},
             {"spec", Json{{"vcpu_count", 2}, {"memory_mib", 1024}, {"ratio", 0.25}}},
             {"ports", Json::array()},
             {"meta", Json::object()},
             {"nothing", nullptr},
             {"on", true},
             {"off", false},
             {"negative", -42},
             {"big", 18446744073709551615ULL},
             {"text", "tab\there \"quoted\" back\\slash new\nline \x01 ctl"},
             {"nested", Json::array({Json::array({1, 2}), Json::array(), Json{{"k", Json::array({3})}}})}});
  }
  ExpectSameAsParseAndDump(SafeDump(Json{{"vms", vms}}));
  ExpectSameAsParseAndDump(SafeDump(Json{{"a", 1}, {"vms", vms}, {"z", Json{{"x", "y"}}}}));
  ExpectSameAsParseAndDump(SafeDump(Json{{"vms", vms}}), "vms", 4);
  ExpectSameAsParseAndDump(SafeDump(Json{{"vms", vms}}), "vms", 0);
  // Already indented input, and members of every kind.
  ExpectSameAsParseAndDump(SafeDump(Json{{"vms", vms}}, 3));
  ExpectSameAsParseAndDump(R"({"vms": {"x": [1, 2, {"y": null}]}})");
  ExpectSameAsParseAndDump(R"({"vms":"just a string"})");
  ExpectSameAsParseAndDump(R"({"vms":[]})");
  ExpectSameAsParseAndDump(R"({"vms":{}})");
}

TEST(IndentedJsonMember, TokensWhoseDumpDiffersFromTheirTextAreNormalized) {
  ExpectSameAsParseAndDump(
      R"({"vms":["\u0041\u00e9\/", "\u001F", 1.0, 1e3, -0, 0.1, 2.50, 123456789012345678901]})");
  ExpectSameAsParseAndDump(" \n{ \"vms\" :\t[ 1 , 2 ] , \"other\" : { } }\n ");
}

TEST(IndentedJsonMember, MissingMemberIsTheFallback) {
  EXPECT_EQ(IndentedJsonMember(R"({"images":[1]})", "vms", 2, "[]"), std::optional<std::string>("[]"));
  EXPECT_EQ(IndentedJsonMember("{}", "vms", 2, "[]"), std::optional<std::string>("[]"));
  // The last of duplicate keys, as a parse keeps.
  EXPECT_EQ(IndentedJsonMember(R"({"vms":[1],"vms":[2]})", "vms", 2, "[]"),
            std::optional<std::string>("[\n  2\n]"));
}

TEST(IndentedJsonMember, InvalidTextIsNullopt) {
  for (const char* bad : {"", "[]", "{", R"({"vms":[1,]})", R"({"vms":[1})", R"({"vms":01})",
                          R"({"vms":1.2.3})", R"({"vms":tru})", R"({"vms":[1]} x)", "{\"vms\":\"a\x01\"}",
                          R"({"vms":"\x"})", R"({"other":[1,}],"vms":[]})", R"({"other":"\q","vms":[]})",
                          R"({"vm\u0073":[]})", R"({"vms":"unterminated})", "{\"vms\":\"\xff\"}"}) {
    EXPECT_FALSE(IndentedJsonMember(bad, "vms", 2, "[]").has_value()) << bad;
  }
  std::string deep(300, '[');
  EXPECT_FALSE(
      IndentedJsonMember("{\"vms\":" + deep + std::string(300, ']') + "}", "vms", 2, "[]").has_value());
}

}  // namespace
}  // namespace banger
