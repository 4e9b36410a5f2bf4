#include "cli/output.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

Timestamp At(const std::string& s) { return *ParseRfc3339(s); }

Json SampleVm() {
  return Json::parse(R"({
    "id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "name": "web-1", "image_id": "img1", "state": "running",
    "created_at": "2026-01-01T10:00:00Z",
    "spec": {"vcpu_count": 2, "memory_mib": 2048, "system_overlay_size_bytes": 8589934592,
             "work_disk_size_bytes": 536870912, "nat_enabled": true, "backend": "qemu"},
    "runtime": {"state": "running", "guest_ip": "172.16.0.2", "vm_dir": "/h/vms/0123",
                "log_path": "/h/vms/0123/console.log", "boot_id": "b1"},
    "labels": {"team": "a", "env": "dev"},
    "handles": {"pid": 4242}
  })");
}

TEST(RenderTableTest, PadsColumnsAndLeavesNoTrailingSpace) {
  EXPECT_EQ(RenderTable({"NAME", "STATE"}, {{"web-1", "running"}, {"a", ""}}),
            "NAME    STATE\n"
            "web-1   running\n"
            "a\n");
}

TEST(RenderTableTest, HeaderOnlyWhenEmpty) { EXPECT_EQ(RenderTable({"A", "B"}, {}), "A   B\n"); }

TEST(RenderKeyValuesTest, AlignsValues) {
  EXPECT_EQ(RenderKeyValues({{"name", "web"}, {"last error", "boom"}}),
            "name:       web\n"
            "last error: boom\n");
}

TEST(RenderJsonTest, TwoSpaceIndent) { EXPECT_EQ(RenderJson(Json{{"a", 1}}), "{\n  \"a\": 1\n}\n"); }

TEST(FormatAgeTest, Buckets) {
  Timestamp now = At("2026-01-10T12:00:00Z");
  EXPECT_EQ(FormatAge(Timestamp{}, now), "");
  EXPECT_EQ(FormatAge(now, now), "just now");
  EXPECT_EQ(FormatAge(At("2026-01-10T11:59:30Z"), now), "30 seconds ago");
  EXPECT_EQ(FormatAge(At("2026-01-10T11:59:00Z"), now), "1 minute ago");
  EXPECT_EQ(FormatAge(At("2026-01-10T10:00:00Z"), now), "2 hours ago");
  EXPECT_EQ(FormatAge(At("2026-01-07T12:00:00Z"), now), "3 days ago");
  // A clock that ran ahead of ours is not "in the future".
  EXPECT_EQ(FormatAge(At("2026-01-10T12:05:00Z"), now), "just now");
}

TEST(JsonTextTest, ReadsLeniently) {
  Json j = SampleVm();
  EXPECT_EQ(JsonText(j, "/runtime/guest_ip"), "172.16.0.2");
  EXPECT_EQ(JsonText(j, "/spec/vcpu_count"), "2");
  EXPECT_EQ(JsonText(j, "/runtime/missing"), "");
  EXPECT_EQ(JsonText(j, "/labels"), "");
  EXPECT_EQ(JsonInt(j, "/handles/pid"), 4242);
  EXPECT_EQ(JsonInt(j, "/name"), 0);
}

TEST(VmTableTest, ShowsImageNamesAndDashes) {
  Json stopped = SampleVm();
  stopped["name"] = "db";
  stopped["state"] = "stopped";
  stopped["image_id"] = "ffffffffffffffffffff";
  stopped["runtime"]["guest_ip"] = "";
  Json web = SampleVm();
  web["ports"] = Json::array({"127.0.0.1:18080:8080/tcp"});
  Json vms = Json::array({web, stopped});
  EXPECT_EQ(
      RenderVmTable(vms, {{"img1", "debian"}}, At("2026-01-01T12:00:00Z")),
      "ID             NAME    STATE     IMAGE          VCPUS   MEMORY   IP           BACKEND   CREATED       "
      "PORTS\n"
      "0123456789ab   web-1   running   debian         2       2G       172.16.0.2   qemu      2 hours ago   "
      "127.0.0.1:18080->8080/tcp\n"
      "0123456789ab   db      stopped   ffffffffffff   2       2G       -            qemu      2 hours ago   "
      "-\n");
}

TEST(VmDetailsTest, ListsWhatIsKnown) {
  EXPECT_EQ(RenderKeyValues(VmDetails(SampleVm(), "debian")),
            "name:           web-1\n"
            "id:             0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
            "state:          running\n"
            "image:          debian\n"
            "backend:        qemu\n"
            "vcpus:          2\n"
            "memory:         2G\n"
            "system overlay: 8G\n"
            "work disk:      512M\n"
            "nat:            enabled\n"
            "disk limit:     unlimited\n"
            "net limit:      unlimited\n"
            "ip:             172.16.0.2\n"
            "pid:            4242\n"
            "boot id:        b1\n"
            "idle suspend:   off\n"
            "ttl:            off\n"
            "created:        2026-01-01T10:00:00Z\n"
            "vm dir:         /h/vms/0123\n"
            "log:            /h/vms/0123/console.log\n"
            "labels:         env=dev, team=a\n"
            "ports:          -\n");
}

TEST(VmDetailsTest, ShowsRateLimits) {
  Json vm = SampleVm();
  vm["spec"]["disk_bw_bytes_per_sec"] = 10 * 1024 * 1024;
  vm["spec"]["disk_iops"] = 500;
  vm["spec"]["net_bw_bytes_per_sec"] = 1024 * 1024;
  std::map<std::string, std::string> got;
  for (const auto& [k, v] : VmDetails(vm, "debian")) got[k] = v;
  EXPECT_EQ(got["disk limit"], "10.0 MiB/s, 500 iops per disk");
  EXPECT_EQ(got["net limit"], "1.0 MiB/s each way");
  vm["spec"]["disk_bw_bytes_per_sec"] = 0;
  got.clear();
  for (const auto& [k, v] : VmDetails(vm, "debian")) got[k] = v;
  EXPECT_EQ(got["disk limit"], "500 iops per disk");
}

TEST(VmDetailsTest, ShowsMountsOnlyWhenThereAreSome) {
  Json vm = SampleVm();
  std::map<std::string, std::string> got;
  for (const auto& [k, v] : VmDetails(vm, "debian")) got[k] = v;
  EXPECT_EQ(got.count("mounts"), 0u);
  vm["spec"]["mounts"] = Json::parse(R"([{"host_path": "/srv/a", "guest_path": "/a", "read_only": true},
                                          {"host_path": "/srv/b", "guest_path": "/b", "read_only": false}])");
  for (const auto& [k, v] : VmDetails(vm, "debian")) got[k] = v;
  EXPECT_EQ(got["mounts"], "/srv/a:/a:ro, /srv/b:/b:rw");
}

TEST(ImageDetailsTest, KernelFlavourAnd9p) {
  Json image = Json::parse(R"({"id": "i1", "name": "g", "kernel_path": "/k", "rootfs_path": "/r",
                               "kernel_flavour": "generic", "kernel_9p": true})");
  std::map<std::string, std::string> got;
  for (const auto& [k, v] : ImageDetails(image)) got[k] = v;
  EXPECT_EQ(got["kernel flavour"], "generic (has 9p: --mount works)");
  image["kernel_flavour"] = "cloud";
  image.erase("kernel_9p");
  got.clear();
  for (const auto& [k, v] : ImageDetails(image)) got[k] = v;
  EXPECT_EQ(got["kernel flavour"], "cloud (no 9p: no --mount)");
}

TEST(VmDetailsTest, ShowsIdleSuspendTtlAndPause) {
  Json vm = SampleVm();
  vm["state"] = "paused";
  vm["spec"]["idle_suspend_ms"] = 120000;
  vm["spec"]["ttl_ms"] = 7200000;
  vm["spec"]["ttl_action"] = "delete";
  vm["runtime"]["expires_at"] = "2026-01-01T12:00:00Z";
  vm["runtime"]["paused_at"] = "2026-01-01T11:00:00Z";
  std::map<std::string, std::string> got;
  for (const auto& [k, v] : VmDetails(vm, "debian")) got[k] = v;
  EXPECT_EQ(got["state"], "paused");
  EXPECT_EQ(got["idle suspend"], "2m");
  EXPECT_EQ(got["ttl"], "2h, then delete");
  EXPECT_EQ(got["expires"], "2026-01-01T12:00:00Z");
  EXPECT_EQ(got["paused"], "2026-01-01T11:00:00Z");
}

TEST(VmDetailsTest, LastErrorShownOnlyWhenSet) {
  Json vm = SampleVm();
  auto has_error = [](const KeyValues& kv) {
    for (const auto& [k, v] : kv) {
      if (k == "last error") return v;
    }
    return std::string("<absent>");
  };
  EXPECT_EQ(has_error(VmDetails(vm, "")), "<absent>");
  vm["runtime"]["last_error"] = "qemu exited: no kvm";
  EXPECT_EQ(has_error(VmDetails(vm, "")), "qemu exited: no kvm");
}

TEST(ImageTableTest, ShortensIds) {
  Json images = Json::parse(R"([{"id": "abcdef0123456789abcdef", "name": "base", "kernel_path": "/k",
                                  "rootfs_path": "/r.ext4", "created_at": "2026-01-01T11:00:00Z"}])");
  EXPECT_EQ(RenderImageTable(images, At("2026-01-01T12:00:00Z")),
            "NAME   ID             SOURCE   SIZE   FLAVOUR   CREATED\n"
            "base   abcdef012345   -        -      -         1 hour ago\n");
  EXPECT_EQ(ImageNamesById(images), (std::map<std::string, std::string>{{"abcdef0123456789abcdef", "base"}}));
}

TEST(ImageDetailsTest, OptionalPathsOnlyWhenSet) {
  Json image = Json::parse(R"({"id": "i1", "name": "base", "managed": false, "kernel_path": "/k",
                               "rootfs_path": "/r", "initrd_path": "/i", "docker": false,
                               "created_at": "2026-01-01T11:00:00Z"})");
  EXPECT_EQ(RenderKeyValues(ImageDetails(image)),
            "name:    base\n"
            "id:      i1\n"
            "kernel:  /k\n"
            "initrd:  /i\n"
            "rootfs:  /r\n"
            "managed: no (files referenced in place)\n"
            "source:  -\n"
            "created: 2026-01-01T11:00:00Z\n");
}

TEST(ImageTableTest, SourceAndSize) {
  const std::string d = "sha256:0123456789abcdef" + std::string(48, '0');
  Json images = Json::parse(R"([
      {"id": "a1", "name": "py", "size_bytes": 1048576, "created_at": "2026-01-01T11:00:00Z",
       "source": {"kind": "oci", "ref": "docker.io/library/python:3.12-slim", "digest": ")" +
                            d + R"("}},
      {"id": "b2", "name": "dk", "docker": true, "source": {"kind": "profile", "profile": "debian"},
       "created_at": "2026-01-01T11:00:00Z"},
      {"id": "c3", "name": "im", "source": {"kind": "import"}, "created_at": "2026-01-01T11:00:00Z"}])");
  EXPECT_EQ(
      RenderImageTable(images, At("2026-01-01T12:00:00Z")),
      "NAME   ID   SOURCE                                                   SIZE      FLAVOUR   CREATED\n"
      "py     a1   docker.io/library/python:3.12-slim@sha256:0123456789ab   1.0 MiB   -         1 hour ago\n"
      "dk     b2   debian+docker                                            -         -         1 hour ago\n"
      "im     c3   import                                                   -         -         1 hour "
      "ago\n");
}

TEST(ImageDetailsTest, OciSourceAndConfig) {
  Json image = Json::parse(R"({"id": "i1", "name": "t", "kernel_path": "/k", "rootfs_path": "/r",
      "source": {"kind": "oci", "ref": "127.0.0.1:5000/t:1", "digest": "sha256:abcdef0123456789ff",
                 "layers": ["sha256:11", "sha256:22"],
                 "config": {"env": ["FOO=bar"], "working_dir": "/srv", "cmd": ["sh", "-c", "echo"],
                            "exposed_ports": ["80/tcp"]}}})");
  std::map<std::string, std::string> got;
  for (const auto& [k, v] : ImageDetails(image)) got[k] = v;
  EXPECT_EQ(got["source"], "127.0.0.1:5000/t:1@sha256:abcdef012345");
  EXPECT_EQ(got["digest"], "sha256:abcdef0123456789ff");
  EXPECT_EQ(got["layers"], "2\n  sha256:11\n  sha256:22");
  EXPECT_EQ(got["env"], R"(["FOO=bar"])");
  EXPECT_EQ(got["workdir"], "/srv");
  EXPECT_EQ(got["cmd"], R"(["sh","-c","echo"])");
  EXPECT_EQ(got["exposed ports"], R"(["80/tcp"])");
  EXPECT_EQ(got.count("user"), 0u);
  EXPECT_EQ(got.count("entrypoint"), 0u);
}

TEST(DaemonDetailsTest, SummarisesPing) {
  Json ping = Json::parse(R"({"version": "0.1.0", "api": 1, "pid": 123, "home": "/h",
                              "started_at": "2026-01-01T11:00:00Z", "backend": "qemu",
                              "qemu_accel": "tcg", "vms_total": 3, "vms_running": 1})");
  EXPECT_EQ(RenderKeyValues(DaemonDetails(ping, "/h/bangerd.sock")),
            "status:  running (pid 123)\n"
            "version: 0.1.0\n"
            "api:     1\n"
            "home:    /h\n"
            "socket:  /h/bangerd.sock\n"
            "started: 2026-01-01T11:00:00Z\n"
            "backend: qemu (tcg)\n"
            "vms:     1 running, 3 total\n");
}

TEST(HumanBytesTest, BinaryUnits) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(512), "512 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(5976883), "5.7 MiB");
  EXPECT_EQ(HumanBytes(int64_t{1} << 30), "1.0 GiB");
}

TEST(VmStatsDetailsTest, RunningStoppedAndNotYetCollected) {
  Timestamp now = *ParseRfc3339("2026-01-01T00:00:10Z");
  Json a = Json::parse(R"({"id":"x","name":"t1","state":"running","stats":{
      "collected_at":"2026-01-01T00:00:05Z","cpu_percent":12.345,"rss_bytes":104857600,
      "vsz_bytes":1073741824,"system_overlay_bytes":5976883,"work_disk_bytes":1048576,
      "metrics_raw":{"vcpu":{},"block":{}}}})");
  EXPECT_EQ(RenderKeyValues(VmStatsDetails(a, now)),
            "name:           t1\n"
            "state:          running\n"
            "cpu:            12.3%\n"
            "memory (rss):   100.0 MiB\n"
            "virtual size:   1.0 GiB\n"
            "system overlay: 5.7 MiB on the host\n"
            "work disk:      1.0 MiB on the host\n"
            "vmm metrics:    2 groups (see --json)\n"
            "collected:      5 seconds ago\n");
  Json stopped = Json::parse(R"({"name":"t2","state":"stopped","stats":{}})");
  EXPECT_EQ(VmStatsDetails(stopped, now).back().second, "none (the VM is not running)");
  Json fresh = Json::parse(R"({"name":"t3","state":"running","stats":{}})");
  EXPECT_EQ(VmStatsDetails(fresh, now).back().second, "not collected yet");
}

}  // namespace
}  // namespace banger
