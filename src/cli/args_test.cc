#include <gtest/gtest.h>

#include "base/fs.h"
#include "cli/flags.h"

namespace banger {
namespace {

template <typename T>
std::string ErrorOf(const Result<T>& r) {
  return r.ok() ? "<ok: " + ToJson(*r).dump() + ">" : r.error().message();
}

TEST(CreateRequestTest, OnlyGivenFieldsAndSizesInBytes) {
  CreateFlags f;
  auto empty = BuildCreateRequest(f);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(ToJson(*empty), Json::object());

  f.name = "web-1";
  f.image = "debian";
  f.vcpus = 4;
  f.memory = "1G";
  f.system_overlay_size = "512M";
  f.work_disk_size = "8";  // a plain number means MiB
  f.nat = true;
  f.no_start = true;
  f.backend = "firecracker";
  f.labels = {"team=a", "env=dev"};
  f.request_id = "req-1";
  auto r = BuildCreateRequest(f);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(ToJson(*r),
            Json::parse(R"({"name": "web-1", "image": "debian", "vcpu_count": 4, "memory_mib": 1024,
                                "system_overlay_size_bytes": 536870912, "work_disk_size_bytes": 8388608,
                                "nat_enabled": true, "no_start": true, "backend": "firecracker",
                                "labels": {"team": "a", "env": "dev"}, "request_id": "req-1"})"));
}

TEST(CreateRequestTest, PortsAreCheckedAndNormalized) {
  CreateFlags f;
  f.ports = {"18080:8080", "0.0.0.0:2222:22/tcp"};
  auto r = BuildCreateRequest(f);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->ports, (std::vector<std::string>{"127.0.0.1:18080:8080/tcp", "0.0.0.0:2222:22/tcp"}));
  f.ports = {"18080:8080", "127.0.0.1:18080:9090"};
  EXPECT_NE(ErrorOf(BuildCreateRequest(f)).find("given twice"), std::string::npos);
  f.ports = {"0:80"};
  EXPECT_NE(ErrorOf(BuildCreateRequest(f)).find("1 to 65535"), std::string::npos);
  f.ports = {"53:53/udp", "53:53"};  // the same port number, two protocols
  auto u = BuildCreateRequest(f);
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_EQ(u->ports, (std::vector<std::string>{"127.0.0.1:53:53/udp", "127.0.0.1:53:53/tcp"}));
}

TEST(CreateRequestTest, MountsAreParsedAndMadeAbsolute) {
  CreateFlags f;
  f.mounts = {"/srv/data:/data:ro", "rel/dir:/work"};
  auto r = BuildCreateRequest(f);
  ASSERT_TRUE(r.ok()) << r.error().message();
  Json want = Json::array();
  want.push_back({{"host_path", "/srv/data"}, {"guest_path", "/data"}, {"read_only", true}});
  want.push_back({{"host_path", AbsolutePath("rel/dir")}, {"guest_path", "/work"}, {"read_only", false}});
  EXPECT_EQ(ToJson(*r)["mounts"], want);
  f.mounts = {"/srv:/data:readonly"};
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)),
            "--mount mode must be ro or rw, got \"readonly\" in \"/srv:/data:readonly\"");
  f.mounts = {"/a:/x", "/b:/x/y"};
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)), "guest mount paths /x and /x/y overlap");
}

TEST(CreateRequestTest, BadNameSaysWhy) {
  CreateFlags f;
  f.name = "Web_1";
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)), ValidateVmName("Web_1").error().message());
  EXPECT_NE(ErrorOf(BuildCreateRequest(f)).find("DNS label"), std::string::npos);
}

TEST(CreateRequestTest, SizeErrorsArePrintedAsParseSizeSaysThem) {
  CreateFlags f;
  f.work_disk_size = "200G";
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)), "size \"200G\" exceeds the maximum of 128G");
  f.work_disk_size.reset();
  f.system_overlay_size = "8T";
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)),
            "unsupported size suffix \"T\" in \"8T\" (use K, M or G; a plain number means MiB)");
}

TEST(CreateRequestTest, CountsMustBePositive) {
  CreateFlags f;
  f.vcpus = 0;
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)), "--vcpus must be a positive integer, got 0");
  f.vcpus = 1;
  f.memory = "-5";
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)),
            "--memory \"-5\": want a whole number with an optional K, M, G or T suffix (2G, 512M; a bare "
            "number is MiB)");
}

std::string MemoryError(const std::string& raw) {
  auto r = ParseMemoryFlag(raw);
  return r.ok() ? "<ok: " + std::to_string(*r) + ">" : r.error().message();
}

TEST(MemoryFlagTest, SizesWithSuffixesAndBareMiB) {
  EXPECT_EQ(*ParseMemoryFlag("512"), 512);
  EXPECT_EQ(*ParseMemoryFlag("512M"), 512);
  EXPECT_EQ(*ParseMemoryFlag("512m"), 512);
  EXPECT_EQ(*ParseMemoryFlag("2G"), 2048);
  EXPECT_EQ(*ParseMemoryFlag("2g"), 2048);
  EXPECT_EQ(*ParseMemoryFlag("2GiB"), 2048);
  EXPECT_EQ(*ParseMemoryFlag("2gb"), 2048);
  EXPECT_EQ(*ParseMemoryFlag("1t"), 1024 * 1024);
  EXPECT_EQ(*ParseMemoryFlag("2048K"), 2);
  EXPECT_EQ(*ParseMemoryFlag("1048576b"), 1);
}

TEST(MemoryFlagTest, RefusalsSayWhy) {
  EXPECT_EQ(MemoryError("1.5G"),
            "--memory \"1.5G\": want a whole number with an optional K, M, G or T suffix (2G, 1536M, not "
            "1.5G)");
  EXPECT_EQ(MemoryError("1536K"), "--memory \"1536K\": not a whole number of MiB");
  EXPECT_EQ(MemoryError("0"), "--memory \"0\": must be more than 0");
  EXPECT_EQ(MemoryError("4P"),
            "--memory \"4P\": want a whole number with an optional K, M, G or T suffix (2G, 1536M, not "
            "1.5G)");
  EXPECT_EQ(MemoryError(""),
            "--memory \"\": want a whole number with an optional K, M, G or T suffix (2G, 512M; a bare "
            "number is MiB)");
  EXPECT_EQ(MemoryError("99999999T"), "--memory \"99999999T\": too large");
  EXPECT_EQ(MemoryError("2GG"),
            "--memory \"2GG\": want a whole number with an optional K, M, G or T suffix (2G, 1536M, not "
            "1.5G)");
}

TEST(CreateRequestTest, BadLabelAndBackend) {
  CreateFlags f;
  f.labels = {"team"};
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)), "invalid label \"team\": want key=value");
  f.labels = {};
  f.backend = "kvmtool";
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)), "unknown backend \"kvmtool\" (use firecracker or qemu)");
}

TEST(LabelFlagsTest, ParsesAndBuildsQuery) {
  auto labels = ParseLabelFlags({"b=2", "a=x y"});
  ASSERT_TRUE(labels.ok());
  EXPECT_EQ(*labels, (Labels{{"a", "x y"}, {"b", "2"}}));
  EXPECT_EQ(LabelQuery(*labels), "?label=a%3Dx%20y%2Cb%3D2");
  EXPECT_EQ(LabelQuery({}), "");
  auto bad = ParseLabelFlags({"ok=1", "=v"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("invalid label key"), std::string::npos);
}

TEST(LifetimeFlagsTest, DurationsInMillisecondsOffIsZeroAndBadValuesSayWhy) {
  CreateFlags f;
  f.lifetime.idle_suspend = "5m";
  f.lifetime.ttl = "off";
  f.lifetime.ttl_action = "delete";
  auto r = BuildCreateRequest(f);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(ToJson(*r), Json::parse(R"({"idle_suspend_ms": 300000, "ttl_ms": 0, "ttl_action": "delete"})"));
  f.lifetime.ttl_action = "pause";
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)), "--ttl-action: ttl action must be stop or delete, got \"pause\"");
  f.lifetime.ttl_action.reset();
  f.lifetime.ttl = "500ms";
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)), "--ttl must be 0 (off) or between 1s and 8760h, got 500ms");
  f.lifetime.ttl = "soon";
  EXPECT_NE(ErrorOf(BuildCreateRequest(f)).find("--ttl: bad duration \"soon\""), std::string::npos)
      << ErrorOf(BuildCreateRequest(f));
  SetFlags s;
  s.lifetime.ttl = "2h";
  auto set = BuildSetRequest(s);
  ASSERT_TRUE(set.ok()) << set.error().message();
  EXPECT_EQ(ToJson(*set), Json::parse(R"({"ttl_ms": 7200000})"));
}

TEST(SetRequestTest, BuildsPatch) {
  SetFlags f;
  EXPECT_EQ(ErrorOf(BuildSetRequest(f)),
            "nothing to change: give --vcpus, --memory, --work-disk-size, --nat, --no-nat, --disk-bw, "
            "--disk-iops, --net-bw, --idle-suspend, --ttl or --ttl-action");
  f.no_nat = true;
  f.work_disk_size = "16G";
  auto r = BuildSetRequest(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ToJson(*r), Json::parse(R"({"nat_enabled": false, "work_disk_size_bytes": 17179869184})"));
  f.nat = true;
  EXPECT_EQ(ErrorOf(BuildSetRequest(f)), "--nat and --no-nat contradict each other");
}

TEST(RateFlagsTest, HumanSizesPlainBytesAndZero) {
  CreateFlags f;
  f.rates.disk_bw = "10M";
  f.rates.disk_iops = "500";
  f.rates.net_bw = "0";
  auto r = BuildCreateRequest(f);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(
      ToJson(*r),
      Json::parse(R"({"disk_bw_bytes_per_sec": 10485760, "disk_iops": 500, "net_bw_bytes_per_sec": 0})"));
  f.rates.disk_bw = "1500";  // a plain number is bytes per second (not MiB, unlike sizes)
  f.rates.net_bw = "2k";
  r = BuildCreateRequest(f);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r->disk_bw_bytes_per_sec, 1500);
  EXPECT_EQ(*r->net_bw_bytes_per_sec, 2048);
}

TEST(RateFlagsTest, BadValuesSayWhich) {
  CreateFlags f;
  f.rates.disk_bw = "-1";
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)),
            "--disk-bw must be a whole number with an optional K, M or G suffix, got \"-1\"");
  f.rates.disk_bw = "2048G";
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)), "--disk-bw exceeds the maximum of 1099511627776: \"2048G\"");
  f.rates.disk_bw.reset();
  f.rates.disk_iops = "10k";
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)),
            "--disk-iops must be a whole number (0 = unlimited), got \"10k\"");
  f.rates.disk_iops.reset();
  f.rates.net_bw = "99999999999999999999999";
  EXPECT_EQ(ErrorOf(BuildCreateRequest(f)),
            "--net-bw exceeds the maximum of 1099511627776: \"99999999999999999999999\"");
}

TEST(RateFlagsTest, SetWithOnlyALimitIsAChange) {
  SetFlags f;
  f.rates.disk_bw = "0";
  auto r = BuildSetRequest(f);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(ToJson(*r), Json::parse(R"({"disk_bw_bytes_per_sec": 0})"));
}

TEST(ImportRequestTest, MakesPathsAbsolute) {
  ImportFlags f;
  f.name = "base";
  f.kernel = "vmlinux";
  f.rootfs = "/images/rootfs.ext4";
  f.modules = "./mods/";
  auto r = BuildImportRequest(f);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(ToJson(*r)["kernel_path"], AbsolutePath("vmlinux"));
  EXPECT_EQ(ToJson(*r)["kernel_path"].get<std::string>().front(), '/');
  EXPECT_EQ(ToJson(*r)["rootfs_path"], "/images/rootfs.ext4");
  EXPECT_EQ(ToJson(*r)["modules_dir"], AbsolutePath("./mods/"));
  EXPECT_EQ(ToJson(*r)["initrd_path"], "");
  EXPECT_EQ(ToJson(*r)["work_seed_path"], "");
}

TEST(ImportRequestTest, ValidatesName) {
  ImportFlags f;
  f.name = "Bad Name";
  f.kernel = "/k";
  f.rootfs = "/r";
  EXPECT_NE(ErrorOf(BuildImportRequest(f)).find("invalid image name"), std::string::npos);
}

TEST(StopRequestTest, TimeoutInMilliseconds) {
  EXPECT_EQ(ToJson(*BuildStopRequest(std::nullopt)), Json::object());
  EXPECT_EQ(ToJson(*BuildStopRequest(30)), Json::parse(R"({"timeout_ms": 30000})"));
  EXPECT_EQ(ToJson(*BuildStopRequest(0)), Json::parse(R"({"timeout_ms": 0})"));
  EXPECT_EQ(ErrorOf(BuildStopRequest(-1)), "--timeout must be zero or more seconds, got -1");
}

TEST(GuestCommandTest, FlagsBecomeTheRequestFields) {
  GuestCommandFlags f;
  f.argv = {"id", "-u"};
  f.user = "app:staff";
  f.cwd = "/srv";
  f.env = {"A=1", "B=x=y", "A=2"};
  f.no_image_env = true;
  ExecVmRequest e;
  ASSERT_TRUE(PutGuestCommand(e, f).ok());
  EXPECT_EQ(ToJson(e)["argv"], Json::parse(R"(["id", "-u"])"));
  EXPECT_EQ(ToJson(e)["env"], Json::parse(R"({"A": "2", "B": "x=y"})"));
  EXPECT_EQ(ToJson(e)["cwd"], "/srv");
  EXPECT_EQ(ToJson(e)["user"], "app:staff");
  EXPECT_EQ(ToJson(e)["no_image_env"], true);
  StartSessionRequest s;
  ASSERT_TRUE(PutGuestCommand(s, f).ok());
  EXPECT_EQ(ToJson(s)["user"], "app:staff");
  EXPECT_EQ(ToJson(s)["no_image_env"], true);
}

TEST(GuestCommandTest, NoCommandAndNoFlagsSendNothingButArgv) {
  ExecVmRequest e;
  ASSERT_TRUE(PutGuestCommand(e, GuestCommandFlags{}).ok());
  Json j = ToJson(e);
  EXPECT_EQ(j["argv"], Json::array());  // the image's Entrypoint + Cmd
  for (const char* k : {"env", "cwd", "user", "no_image_env"}) EXPECT_FALSE(j.contains(k)) << k;
}

TEST(GuestCommandTest, BadValuesNameTheirFlag) {
  auto err = [](GuestCommandFlags f) {
    ExecVmRequest e;
    Status st = PutGuestCommand(e, f);
    return st.ok() ? std::string("<ok>") : st.error().message();
  };
  EXPECT_EQ(err({.cwd = "tmp"}), "--workdir must be an absolute path in the guest, got \"tmp\"");
  EXPECT_EQ(err({.user = "a:b:c"}), "--user \"a:b:c\" must be NAME, UID, UID:GID or NAME:GROUP");
  EXPECT_EQ(err({.user = "app:"}), "--user \"app:\" must be NAME, UID, UID:GID or NAME:GROUP");
  EXPECT_EQ(err({.env = {"NOVALUE"}}), "--env wants KEY=VALUE, got \"NOVALUE\"");
  EXPECT_EQ(err({.env = {"1A=x"}}),
            "--env name \"1A\" must be letters, digits and _ (not starting with a digit)");
  EXPECT_EQ(err({.env = {"A-B=x"}}),
            "--env name \"A-B\" must be letters, digits and _ (not starting with a digit)");
  EXPECT_EQ(err({.argv = {"sh"}, .user = "0:0", .cwd = "/", .env = {"_A1=", "a=b"}}), "<ok>");
}

}  // namespace
}  // namespace banger
