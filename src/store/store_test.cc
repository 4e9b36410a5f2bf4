#include "store/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "model/json.h"
#include "store/migrations.h"
#include "store/store_test_util.h"

namespace banger {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- opening and migrations ----

TEST_F(StoreTest, OpenMigratesFileDatabaseAndReopenKeepsData) {
  Image img = MakeImage("base");
  {
    auto store = OpenFile();
    ASSERT_NE(store, nullptr);
    auto v = store->SchemaVersion();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, LatestSchemaVersion());
    EXPECT_EQ(*v, 6);
    ASSERT_TRUE(store->InsertImage(img).ok());
  }
  EXPECT_EQ(RawQuery(db_path_, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(RawQuery(db_path_, "SELECT COUNT(*) FROM schema_migrations"), "6");

  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  auto v = store->SchemaVersion();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 6);
  EXPECT_EQ(RawQuery(db_path_, "SELECT COUNT(*) FROM schema_migrations"), "6");  // nothing re-applied
  auto got = store->GetImage("base");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->id, img.id);
  EXPECT_EQ(got->kernel_path, img.kernel_path);
}

TEST_F(StoreTest, ImageSourceAndSizeRoundTrip) {
  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  Image img = MakeImage("oci1");
  img.source.kind = "oci";
  img.source.ref = "localhost:5000/t:1";
  img.source.digest = "sha256:" + std::string(64, 'a');
  img.source.layers = {"sha256:" + std::string(64, 'b'), "sha256:" + std::string(64, 'c')};
  img.source.config = OciImageConfig{.env = {"A=1", "PATH=/bin"},
                                     .working_dir = "/w",
                                     .user = "1000:1000",
                                     .entrypoint = {"/bin/sh", "-c"},
                                     .cmd = {"echo hi"},
                                     .exposed_ports = {"80/tcp"}};
  img.size_bytes = 12345;
  ASSERT_TRUE(store->InsertImage(img).ok());
  auto got = store->GetImage("oci1");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->source, img.source);
  EXPECT_EQ(got->size_bytes, 12345);
  Image plain = MakeImage("plain");
  ASSERT_TRUE(store->InsertImage(plain).ok());
  got = store->GetImage("plain");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->source, ImageSource{});
  EXPECT_FALSE(got->source.config.has_value());
}

TEST_F(StoreTest, Migration2WritesRateLimitsIntoOlderVmSpecs) {
  Image img = MakeImage("base");
  VmRecord vm = MakeVm("old", img.id);
  {
    auto store = OpenFile();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->InsertImage(img).ok());
    ASSERT_TRUE(store->InsertVm(vm).ok());
  }
  // Make the row look like one written before migration 2, and forget it ran.
  RawExec(db_path_,
          "UPDATE vms SET spec_json = json_remove(spec_json, '$.disk_bw_bytes_per_sec', '$.disk_iops', "
          "'$.net_bw_bytes_per_sec')");
  // Later migrations are forgotten too (and undone), so 2 runs again.
  RawExec(db_path_, "DELETE FROM schema_migrations WHERE version >= 2");
  RawExec(db_path_, "DROP TABLE snapshots");
  RawExec(db_path_, "DROP TABLE templates");
  RawExec(db_path_, "DROP TABLE ports");
  RawExec(db_path_, "ALTER TABLE images DROP COLUMN source_json");
  RawExec(db_path_, "ALTER TABLE images DROP COLUMN size_bytes");
  ASSERT_EQ(RawQuery(db_path_, "SELECT json_type(spec_json, '$.disk_iops') IS NULL FROM vms"), "1");

  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQuery(db_path_,
                     "SELECT json_extract(spec_json, '$.disk_bw_bytes_per_sec') || ',' || "
                     "json_extract(spec_json, '$.disk_iops') || ',' || "
                     "json_extract(spec_json, '$.net_bw_bytes_per_sec') FROM vms"),
            "0,0,0");
  auto got = store->GetVm("old");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->spec.limits, RateLimits{});
}

TEST_F(StoreTest, RateLimitsRoundTripThroughTheSpecColumn) {
  Image img = MakeImage("base");
  VmRecord vm = MakeVm("limited", img.id);
  vm.spec.limits = RateLimits{10 * kMiB, 500, 2 * kMiB};
  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->InsertImage(img).ok());
  ASSERT_TRUE(store->InsertVm(vm).ok());
  auto got = store->GetVm("limited");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->spec.limits, vm.spec.limits);
}

TEST_F(StoreTest, RefusesNewerSchemaVersion) {
  ASSERT_NE(OpenFile(), nullptr);
  RawExec(db_path_,
          "INSERT INTO schema_migrations(version, applied_at) VALUES (999, '2030-01-01T00:00:00Z')");
  auto s = Store::Open(db_path_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kInternal);
  EXPECT_THAT(s.error().message(),
              HasSubstr("database schema version 999 is newer than this banger supports (" +
                        std::to_string(LatestSchemaVersion()) + ")"));
}

TEST_F(StoreTest, OpenFailureIsInternalWithSqliteText) {
  auto s = Store::Open(dir_ + "/missing-dir/banger.db");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kInternal);
  EXPECT_THAT(s.error().message(), HasSubstr("unable to open database file"));
}

// ---- images ----

TEST_F(StoreTest, ImageInsertGetListUpdateDelete) {
  Image a = MakeImage("zeta", IdWithPrefix("0123abcd", '1'));
  a.managed = true;
  a.docker = true;
  a.artifact_dir = "/art";
  a.work_seed_path = "/seed.ext4";
  a.initrd_path = "/initrd";
  a.modules_dir = "/modules";
  a.build_size = "4G";
  a.seeded_ssh_public_key_fingerprint = "SHA256:abc";
  Image b = MakeImage("alpha");
  ASSERT_TRUE(store_->InsertImage(a).ok());
  ASSERT_TRUE(store_->InsertImage(b).ok());

  for (const std::string& key :
       {a.id, std::string("zeta"), std::string("0123abcd"), std::string("0123ABCD1")}) {
    auto got = store_->GetImage(key);
    ASSERT_TRUE(got.ok()) << key << ": " << got.error().message();
    EXPECT_EQ(ToJson(*got), ToJson(a)) << key;
  }
  auto short_prefix = store_->GetImage("0123abc");  // 7 chars: too short to be a prefix
  ASSERT_FALSE(short_prefix.ok());
  EXPECT_EQ(short_prefix.error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(short_prefix.error().message(), "image \"0123abc\" not found");

  auto list = store_->ListImages();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "alpha");
  EXPECT_EQ((*list)[1].name, "zeta");

  a.name = "zeta-2";
  a.docker = false;
  a.updated_at = At(1800000000);
  ASSERT_TRUE(store_->UpdateImage(a).ok());
  auto updated = store_->GetImage(a.id);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(ToJson(*updated), ToJson(a));
  EXPECT_FALSE(store_->GetImage("zeta").ok());

  Image ghost = MakeImage("ghost");
  Status missing = store_->UpdateImage(ghost);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);

  ASSERT_TRUE(store_->DeleteImage(a.id).ok());
  auto gone = store_->GetImage(a.id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind(), ErrorKind::kNotFound);
  Status again = store_->DeleteImage(a.id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind(), ErrorKind::kNotFound);
}

TEST_F(StoreTest, DuplicateImageNameOrIdIsConflict) {
  Image a = MakeImage("base");
  ASSERT_TRUE(store_->InsertImage(a).ok());

  Status dup_name = store_->InsertImage(MakeImage("base"));
  ASSERT_FALSE(dup_name.ok());
  EXPECT_EQ(dup_name.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(dup_name.error().message(), "image name \"base\" is already in use");

  Status dup_id = store_->InsertImage(MakeImage("other", a.id));
  ASSERT_FALSE(dup_id.ok());
  EXPECT_EQ(dup_id.error().kind(), ErrorKind::kConflict);
  EXPECT_THAT(dup_id.error().message(), HasSubstr(a.id));

  Image b = MakeImage("second");
  ASSERT_TRUE(store_->InsertImage(b).ok());
  b.name = "base";
  Status rename = store_->UpdateImage(b);
  ASSERT_FALSE(rename.ok());
  EXPECT_EQ(rename.error().kind(), ErrorKind::kConflict);
}

// ---- vms ----

TEST_F(StoreTest, VmRoundTripPreservesEveryField) {
  Image img = AddBaseImage();
  VmRecord vm = MakeVm("web-1", img.id, At(1700000000));
  vm.state = VmState::kRunning;
  vm.updated_at = At(1700000500);
  vm.last_touched_at = At(1700000600);
  vm.spec = VmSpec{.vcpu_count = 6,
                   .memory_mib = 3072,
                   .system_overlay_size_bytes = 3 * kGiB,
                   .work_disk_size_bytes = 5 * kGiB,
                   .nat_enabled = true,
                   .backend = BackendKind::kFirecracker};
  // runtime.state deliberately differs from vm.state: the store keeps both as given.
  vm.runtime = VmRuntime{.state = VmState::kStopped,
                         .guest_ip = "172.16.0.7",
                         .api_sock_path = "/run/banger/web-1.sock",
                         .vsock_path = "/run/banger/web-1.vsock",
                         .vsock_cid = 42,
                         .log_path = "/var/log/web-1.log",
                         .metrics_path = "/var/log/web-1.metrics",
                         .dns_name = "web-1.vm",
                         .vm_dir = vm.runtime.vm_dir,
                         .system_overlay_path = "/vms/web-1/overlay",
                         .work_disk_path = "/vms/web-1/work.ext4",
                         .last_error = "previous boot failed",
                         .boot_id = "boot-7",
                         .started_at = At(1700000400)};
  vm.stats = VmStats{.collected_at = At(1700000550),
                     .cpu_percent = 12.75,
                     .rss_bytes = 123456789,
                     .vsz_bytes = 987654321,
                     .system_overlay_bytes = 1111,
                     .work_disk_bytes = 2222,
                     .metrics_raw = Json{{"vcpu", {{"exits", 17}}}, {"ratio", 0.5}}};
  vm.labels = {{"env", "prod"}, {"team", "infra"}};
  vm.request_id = "req-123";
  ASSERT_TRUE(store_->InsertVm(vm).ok());

  auto got = store_->GetVm("web-1");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(ToJson(*got), ToJson(vm));
  EXPECT_EQ(got->state, VmState::kRunning);
  EXPECT_EQ(got->runtime.state, VmState::kStopped);
  EXPECT_EQ(got->spec.backend, BackendKind::kFirecracker);
  EXPECT_EQ(got->runtime.vsock_cid, 42u);
  EXPECT_DOUBLE_EQ(got->stats.cpu_percent, 12.75);
  EXPECT_EQ(got->stats.metrics_raw["vcpu"]["exits"], 17);
  EXPECT_EQ(got->labels, vm.labels);
  EXPECT_EQ(got->request_id, "req-123");
  EXPECT_EQ(got->last_touched_at, At(1700000600));
}

TEST_F(StoreTest, VmStateColumnFollowsUpdates) {
  VmRecord vm;
  auto store = OpenFileWithVm("web", vm);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQuery(db_path_, "SELECT state FROM vms"), "created");

  vm.state = VmState::kRunning;
  vm.runtime.state = VmState::kRunning;
  ASSERT_TRUE(store->UpdateVm(vm).ok());
  EXPECT_EQ(RawQuery(db_path_, "SELECT state FROM vms"), "running");
  EXPECT_EQ(RawQuery(db_path_, "SELECT request_id IS NULL FROM vms"), "1");
}

TEST_F(StoreTest, VmUpdateListOrderSelectorAndDelete) {
  Image img = AddBaseImage();
  VmRecord a = MakeVm("a", img.id, At(200));
  VmRecord b = MakeVm("b", img.id, At(100));
  VmRecord c = MakeVm("c", img.id, At(100));
  a.labels = {{"env", "prod"}, {"team", "web"}};
  b.labels = {{"env", "prod"}};
  c.labels = {{"env", "dev"}, {"team", "web"}};
  for (const auto& vm : {a, c, b}) ASSERT_TRUE(store_->InsertVm(vm).ok());

  auto all = store_->ListVms();
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Names(*all), ElementsAre("b", "c", "a"));  // created_at, then name

  auto prod = store_->ListVms({{"env", "prod"}});
  ASSERT_TRUE(prod.ok());
  EXPECT_THAT(Names(*prod), ElementsAre("b", "a"));
  auto prod_web = store_->ListVms({{"env", "prod"}, {"team", "web"}});
  ASSERT_TRUE(prod_web.ok());
  EXPECT_THAT(Names(*prod_web), ElementsAre("a"));
  auto none = store_->ListVms({{"team", "db"}});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  b.name = "b-renamed";
  b.labels = {{"env", "staging"}};
  b.spec.memory_mib = 4096;
  b.updated_at = At(300);
  ASSERT_TRUE(store_->UpdateVm(b).ok());
  auto got = store_->GetVm(b.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(ToJson(*got), ToJson(b));
  auto old_name = store_->GetVm("b");
  ASSERT_FALSE(old_name.ok());
  EXPECT_EQ(old_name.error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(old_name.error().message(), "vm \"b\" not found");

  VmRecord ghost = MakeVm("ghost", img.id);
  Status missing = store_->UpdateVm(ghost);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);

  ASSERT_TRUE(store_->DeleteVm(a.id).ok());
  auto rest = store_->ListVms();
  ASSERT_TRUE(rest.ok());
  EXPECT_THAT(Names(*rest), ElementsAre("b-renamed", "c"));
  Status again = store_->DeleteVm(a.id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind(), ErrorKind::kNotFound);
}

TEST_F(StoreTest, VmLookupByPrefix) {
  Image img = AddBaseImage();
  VmRecord x = MakeVm("x", img.id, At(1), IdWithPrefix("abcdef0123", '1'));
  VmRecord y = MakeVm("y", img.id, At(1), IdWithPrefix("abcdef0124", '2'));
  ASSERT_TRUE(store_->InsertVm(x).ok());
  ASSERT_TRUE(store_->InsertVm(y).ok());

  auto ambiguous = store_->GetVm("abcdef01");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.error().kind(), ErrorKind::kConflict);
  EXPECT_THAT(ambiguous.error().message(), HasSubstr("ambiguous"));

  auto unique = store_->GetVm("abcdef0124");
  ASSERT_TRUE(unique.ok());
  EXPECT_EQ(unique->id, y.id);

  auto too_short = store_->GetVm("abcdef0");
  ASSERT_FALSE(too_short.ok());
  EXPECT_EQ(too_short.error().kind(), ErrorKind::kNotFound);

  // An exact name wins over a prefix that would match another VM's id.
  VmRecord named = MakeVm("abcdef01", img.id);
  ASSERT_TRUE(store_->InsertVm(named).ok());
  auto by_name = store_->GetVm("abcdef01");
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(by_name->id, named.id);
}

TEST_F(StoreTest, DuplicateVmNameAndRequestIdAreConflicts) {
  Image img = AddBaseImage();
  VmRecord web = MakeVm("web", img.id);
  web.request_id = "req-1";
  ASSERT_TRUE(store_->InsertVm(web).ok());

  Status dup_name = store_->InsertVm(MakeVm("web", img.id));
  ASSERT_FALSE(dup_name.ok());
  EXPECT_EQ(dup_name.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(dup_name.error().message(), "vm name \"web\" is already in use");

  VmRecord other = MakeVm("other", img.id);
  other.request_id = "req-1";
  Status dup_req = store_->InsertVm(other);
  ASSERT_FALSE(dup_req.ok());
  EXPECT_EQ(dup_req.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(dup_req.error().message(), "request id \"req-1\" is already used by another vm");

  VmRecord dup_id = MakeVm("third", img.id, At(1), web.id);
  Status dup_id_st = store_->InsertVm(dup_id);
  ASSERT_FALSE(dup_id_st.ok());
  EXPECT_EQ(dup_id_st.error().kind(), ErrorKind::kConflict);

  // Empty request ids are stored as NULL, so any number of VMs may lack one.
  ASSERT_TRUE(store_->InsertVm(MakeVm("no-req-1", img.id)).ok());
  ASSERT_TRUE(store_->InsertVm(MakeVm("no-req-2", img.id)).ok());

  VmRecord renamed = MakeVm("no-req-3", img.id);
  ASSERT_TRUE(store_->InsertVm(renamed).ok());
  renamed.name = "web";
  Status clash = store_->UpdateVm(renamed);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(clash.error().message(), "vm name \"web\" is already in use");
}

TEST_F(StoreTest, FindVmByRequestId) {
  Image img = AddBaseImage();
  VmRecord vm = MakeVm("web", img.id);
  vm.request_id = "req-42";
  ASSERT_TRUE(store_->InsertVm(vm).ok());
  ASSERT_TRUE(store_->InsertVm(MakeVm("plain", img.id)).ok());

  auto found = store_->FindVmByRequestId("req-42");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, vm.id);

  auto absent = store_->FindVmByRequestId("req-43");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
}

TEST_F(StoreTest, ImageInUseCannotBeDeleted) {
  Image img = AddBaseImage();
  VmRecord a = MakeVm("a", img.id);
  VmRecord b = MakeVm("b", img.id);
  ASSERT_TRUE(store_->InsertVm(a).ok());
  ASSERT_TRUE(store_->InsertVm(b).ok());

  auto count = store_->CountVmsUsingImage(img.id);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 2);

  Status in_use = store_->DeleteImage(img.id);
  ASSERT_FALSE(in_use.ok());
  EXPECT_EQ(in_use.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(in_use.error().message(), "image base is used by 2 vm(s)");
  EXPECT_TRUE(store_->GetImage(img.id).ok());

  ASSERT_TRUE(store_->DeleteVm(a.id).ok());
  ASSERT_TRUE(store_->DeleteVm(b.id).ok());
  auto zero = store_->CountVmsUsingImage(img.id);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(*zero, 0);
  EXPECT_TRUE(store_->DeleteImage(img.id).ok());
}

TEST_F(StoreTest, VmWithUnknownImageIsNotFound) {
  Status st = store_->InsertVm(MakeVm("orphan", NewId()));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kNotFound);
  EXPECT_THAT(st.error().message(), HasSubstr("image"));
}

TEST_F(StoreTest, CorruptRowIsInternalErrorNamingTheRow) {
  VmRecord vm;
  auto store = OpenFileWithVm("web", vm);
  ASSERT_NE(store, nullptr);
  RawExec(db_path_, "UPDATE vms SET spec_json = '{\"vcpu_count\": \"many\"}'");

  auto got = store->GetVm("web");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind(), ErrorKind::kInternal);
  EXPECT_THAT(got.error().message(), HasSubstr(vm.id));
  EXPECT_THAT(got.error().message(), HasSubstr("vcpu_count"));
  auto list = store->ListVms();
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(list.error().message(), HasSubstr(vm.id));
}

}  // namespace
}  // namespace banger
