#include "cli/format.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "cli/gotemplate.h"
#include "cli/output.h"

namespace banger {
namespace {

Json Vms() {
  return Json::parse(R"([
    {"id": "0123456789abcdef0123", "name": "web", "state": "running",
     "runtime": {"guest_ip": "172.16.0.2"}, "spec": {"vcpu_count": 2}, "labels": {"a": "1"}},
    {"id": "fedcba9876543210fedc", "name": "db-long-name", "state": "stopped",
     "runtime": {}, "spec": {"vcpu_count": 1}, "labels": {}}
  ])");
}

std::string IdOf(const Json& item) { return JsonText(item, "/id"); }

std::string Format(const std::string& format, const Json& items = Vms()) {
  auto f = ParseListFormat({format, false}, false);
  if (!f.ok()) return "error: " + f.error().message();
  return RenderList(
      *f, items, [](const Json&) { return std::string("TABLE\n"); }, IdOf);
}

TEST(SnakeCaseTest, GoNamesToJsonKeys) {
  EXPECT_EQ(SnakeCase("Name"), "name");
  EXPECT_EQ(SnakeCase("ID"), "id");
  EXPECT_EQ(SnakeCase("GuestIP"), "guest_ip");
  EXPECT_EQ(SnakeCase("CreatedAt"), "created_at");
  EXPECT_EQ(SnakeCase("IPAddress"), "ip_address");
  EXPECT_EQ(SnakeCase("VcpuCount"), "vcpu_count");
  EXPECT_EQ(SnakeCase("guest_ip"), "guest_ip");
  EXPECT_EQ(SnakeCase("Vm2Name"), "vm2_name");
}

TEST(ListFormatTest, TableJsonYamlAndDefault) {
  EXPECT_EQ(Format(""), "TABLE\n");
  EXPECT_EQ(Format("table"), "TABLE\n");
  EXPECT_EQ(Json::parse(Format("json")), Vms());
  EXPECT_EQ(Format("json"), RenderJson(Vms()));
  YAML::Node y = YAML::Load(Format("yaml"));
  ASSERT_TRUE(y.IsSequence());
  EXPECT_EQ(y[0]["name"].as<std::string>(), "web");
  EXPECT_EQ(y[0]["spec"]["vcpu_count"].as<int>(), 2);
  EXPECT_EQ(y[1]["labels"].size(), 0U);
}

TEST(ListFormatTest, TemplatesPerItemWithNestedFieldsAndGoNames) {
  EXPECT_EQ(Format("{{.Name}}"), "web\ndb-long-name\n");
  EXPECT_EQ(Format("{{.name}} {{.runtime.guest_ip}}"), "web 172.16.0.2\ndb-long-name \n");
  EXPECT_EQ(Format("{{.ID}}:{{.Runtime.GuestIP}}"),
            "0123456789abcdef0123:172.16.0.2\nfedcba9876543210fedc:\n");
  EXPECT_EQ(Format("{{.Spec.VcpuCount}}"), "2\n1\n");
  EXPECT_EQ(Format("{{json .labels}}"), "{\"a\":\"1\"}\n{}\n");
  EXPECT_EQ(Format("{{.labels}}"), "{\"a\":\"1\"}\n{}\n");
  EXPECT_EQ(Format("{{json .Missing}}|{{.Missing}}|"), "null||\nnull||\n");
  EXPECT_EQ(Format("{{upper .name}}"), "WEB\nDB-LONG-NAME\n");
  EXPECT_EQ(Format("{{.name | upper}}"), "WEB\nDB-LONG-NAME\n");
  EXPECT_EQ(Format("{{.name}}\\t{{.state}}"), "web\trunning\ndb-long-name\tstopped\n");
  EXPECT_EQ(Format("a {{- .name -}} b"), "awebb\nadb-long-nameb\n");
  EXPECT_EQ(Format("plain"),
            "error: --format \"plain\": expected json, yaml, table, or a Go template such as "
            "'{{.Name}}'");
  Json one = Json::parse(R"({"a": 1})");
  EXPECT_EQ(Format("{{json .}}", Json::array({one})), "{\"a\":1}\n");
}

TEST(ListFormatTest, TableTemplatesHaveAHeaderAndAlignedColumns) {
  EXPECT_EQ(Format("table {{.ID}}\\t{{.Name}}\\t{{.Runtime.GuestIP}}"),
            "ID                     NAME           GUEST IP\n"
            "0123456789abcdef0123   web            172.16.0.2\n"
            "fedcba9876543210fedc   db-long-name\n");
  EXPECT_EQ(Format("table {{.name}}", Json::array()), "NAME\n");
}

TEST(ListFormatTest, BadTemplatesAreOneLine) {
  EXPECT_EQ(Format("{{.Name"), "error: --format: template: unclosed action at byte 1 (no \"}}\")");
  EXPECT_EQ(Format("x {{range .}}"),
            "error: --format: template: unknown function \"range\" in {{range .}} (supported: json, upper, "
            "lower)");
  EXPECT_EQ(Format("{{printf .A .B}}"), "error: --format: template: too many words in {{printf .A .B}}");
  EXPECT_EQ(Format("{{}}"), "error: --format: template: empty action {{}}");
  EXPECT_EQ(Format("{{json}}"), "error: --format: template: function \"json\" needs an argument in {{json}}");
  EXPECT_EQ(Format("{{.a..b}}"),
            "error: --format: template: bad field \".a..b\" (want .Name or .a.b) in {{.a..b}}");
  EXPECT_EQ(Format("{{json Name}}"),
            "error: --format: template: bad field \"Name\" (want .Name or .a.b) in {{json Name}}");
}

TEST(ListFormatTest, QuietPrintsIdsAndRefusesAFormat) {
  auto q = ParseListFormat({"", true}, false);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(RenderList(*q, Vms(), nullptr, IdOf), "0123456789abcdef0123\nfedcba9876543210fedc\n");
  EXPECT_EQ(ParseListFormat({"json", true}, false).error().message(),
            "--quiet prints ids only: it does not go with --format or --json");
  EXPECT_FALSE(ParseListFormat({"", true}, true).ok());
  EXPECT_EQ(ParseListFormat({"yaml", false}, true).error().message(),
            "--json and --format yaml contradict each other");
  EXPECT_EQ(ParseListFormat({"", false}, true)->style, ListStyle::kJson);
  EXPECT_EQ(ParseListFormat({"json", false}, true)->style, ListStyle::kJson);
}

TEST(YamlTest, QuotesStringsYamlWouldReadAsOtherTypes) {
  Json j = Json::parse(R"({"id": "0123", "on": "yes", "empty": "", "n": 5, "f": 1.5, "b": true,
                           "nil": null, "name": "web", "when": "2026-01-01T00:00:00Z", "list": []})");
  std::string y = RenderYaml(j);
  EXPECT_NE(y.find("id: \"0123\""), std::string::npos) << y;
  EXPECT_NE(y.find("\"on\": \"yes\""), std::string::npos) << y;
  EXPECT_NE(y.find("empty: \"\""), std::string::npos) << y;
  EXPECT_NE(y.find("\"n\": 5\n"), std::string::npos) << y;  // n is a YAML 1.1 boolean
  EXPECT_NE(y.find("f: 1.5\n"), std::string::npos) << y;
  EXPECT_NE(y.find("b: true\n"), std::string::npos) << y;
  EXPECT_NE(y.find("nil: null\n"), std::string::npos) << y;
  EXPECT_NE(y.find("name: web\n"), std::string::npos) << y;
  EXPECT_NE(y.find("list: []\n"), std::string::npos) << y;
  EXPECT_EQ(RenderYaml(Json::array()), "[]\n");
  YAML::Node back = YAML::Load(y);
  EXPECT_EQ(back["when"].as<std::string>(), "2026-01-01T00:00:00Z");
}

TEST(LogsTailTest, LastLines) {
  EXPECT_EQ(LastLines("a\nb\nc\n", 2), "b\nc\n");
  EXPECT_EQ(LastLines("a\nb\nc", 2), "b\nc");
  EXPECT_EQ(LastLines("a\nb\n", 5), "a\nb\n");
  EXPECT_EQ(LastLines("a\nb\n", 0), "");
  EXPECT_EQ(LastLines("", 3), "");
  EXPECT_EQ(LastLines("\n\n\n", 2), "\n\n");
  EXPECT_FALSE(ParseTailFlag("all")->has_value());
  EXPECT_EQ(**ParseTailFlag("20"), 20);
  EXPECT_EQ(ParseTailFlag("-1").error().message(), "--tail wants a number of lines or \"all\", got \"-1\"");
}

TEST(FormatTest, SinceFlag) {
  const int64_t now = 1796054400000;  // 2026-11-30T16:00:00Z
  EXPECT_EQ(*ParseSinceFlag("10m", now), now - 600000);
  EXPECT_EQ(*ParseSinceFlag("1h30m", now), now - 5400000);
  EXPECT_EQ(*ParseSinceFlag("2s", now), now - 2000);
  EXPECT_EQ(*ParseSinceFlag("1m500ms", now), now - 60500);
  EXPECT_EQ(*ParseSinceFlag("1.5s", now), now - 1500);
  EXPECT_EQ(*ParseSinceFlag("2026-11-30T15:00:00Z", now), now - 3600000);
  EXPECT_EQ(*ParseSinceFlag("1796054400", now), now) << "unix seconds";
  EXPECT_EQ(*ParseSinceFlag("1796054400.25", now), now + 250);
  EXPECT_EQ(*ParseSinceFlag("1796054400.123456", now), now + 123) << "rounded down to the ms";
  EXPECT_EQ(*ParseSinceFlag("999999999h", 5), 0) << "before the epoch: from the start";
  EXPECT_EQ(*ParseSinceFlag("10", now), 10000) << "a bare number is unix seconds";
  for (const char* bad :
       {"", "x", "10x", "1d", "m", "1.s", ".5s", "10m ", "-10m", "10 m", "1e3", "2026-11-30",
        "2026-11-30T15:00:00", "2026-11-30T15:00:00+01:00", "9999999999h", "123456789012"}) {
    auto r = ParseSinceFlag(bad, now);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(
        r.error().message(),
        "--since wants a duration (10m, 1h30m, 2s), an RFC 3339 UTC time (2026-11-30T16:00:00Z) or unix "
        "seconds, got \"" +
            std::string(bad) + "\"");
  }
  EXPECT_EQ(UnixSecondsText(1796054400250), "1796054400.250");
  EXPECT_EQ(UnixSecondsText(5), "0.005");
}

}  // namespace
}  // namespace banger
