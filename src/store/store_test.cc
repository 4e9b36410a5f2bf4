#include "store/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "model/json.h"
#include "store/migrations.h"

namespace banger {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Timestamp At(int64_t seconds) { return Timestamp{std::chrono::seconds{seconds}}; }

// A 64-char id starting with `prefix` (padded with `fill`), to control prefixes.
std::string IdWithPrefix(const std::string& prefix, char fill) {
  return prefix + std::string(64 - prefix.size(), fill);
}

Image MakeImage(const std::string& name, std::string id = NewID()) {
  Image img;
  img.id = std::move(id);
  img.name = name;
  img.rootfs_path = "/var/lib/banger/images/" + name + "/rootfs.ext4";
  img.kernel_path = "/var/lib/banger/images/" + name + "/vmlinux";
  img.created_at = At(1700000000);
  img.updated_at = At(1700000100);
  return img;
}

VMRecord MakeVM(const std::string& name, const std::string& image_id, Timestamp created = At(1700000000),
                std::string id = NewID()) {
  VMRecord vm;
  vm.id = std::move(id);
  vm.name = name;
  vm.image_id = image_id;
  vm.created_at = created;
  vm.updated_at = created;
  vm.last_touched_at = created;
  vm.runtime.vm_dir = "/var/lib/banger/vms/" + vm.id;
  return vm;
}

GuestSession MakeSession(const std::string& vm_id, const std::string& name,
                         Timestamp created = At(1700000000)) {
  GuestSession s;
  s.id = NewID();
  s.vm_id = vm_id;
  s.name = name;
  s.backend = "ssh";
  s.command = "/bin/sh";
  s.created_at = created;
  s.updated_at = created;
  return s;
}

std::vector<std::string> Names(const std::vector<VMRecord>& vms) {
  std::vector<std::string> out;
  for (const auto& vm : vms) out.push_back(vm.name);
  return out;
}

// Runs SQL on a database file behind the store's back (corruption, version bumps).
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

// The first column of the first row of `sql`, as text.
std::string RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "banger-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_path_ = dir_ + "/banger.db";
    auto s = Store::Open(":memory:");
    ASSERT_TRUE(s.ok()) << s.error().message();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Store> OpenFile() {
    auto s = Store::Open(db_path_);
    EXPECT_TRUE(s.ok()) << s.error().message();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Inserts an image named "base" for VMs to reference.
  Image AddBaseImage() {
    Image img = MakeImage("base");
    EXPECT_TRUE(store_->InsertImage(img).ok());
    return img;
  }

  std::string dir_;
  std::string db_path_;
  std::unique_ptr<Store> store_;
};

// ---- opening and migrations ----

TEST_F(StoreTest, OpenMigratesFileDatabaseAndReopenKeepsData) {
  Image img = MakeImage("base");
  {
    auto store = OpenFile();
    ASSERT_NE(store, nullptr);
    auto v = store->SchemaVersion();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, LatestSchemaVersion());
    EXPECT_EQ(*v, 1);
    ASSERT_TRUE(store->InsertImage(img).ok());
  }
  EXPECT_EQ(RawQuery(db_path_, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(RawQuery(db_path_, "SELECT COUNT(*) FROM schema_migrations"), "1");

  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  auto v = store->SchemaVersion();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 1);
  EXPECT_EQ(RawQuery(db_path_, "SELECT COUNT(*) FROM schema_migrations"), "1");  // nothing re-applied
  auto got = store->GetImage("base");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->id, img.id);
  EXPECT_EQ(got->kernel_path, img.kernel_path);
}

TEST_F(StoreTest, RefusesNewerSchemaVersion) {
  ASSERT_NE(OpenFile(), nullptr);
  RawExec(db_path_,
          "INSERT INTO schema_migrations(version, applied_at) VALUES (999, '2030-01-01T00:00:00Z')");
  auto s = Store::Open(db_path_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kInternal);
  EXPECT_THAT(s.error().message(),
              HasSubstr("database schema version 999 is newer than this banger supports (1)"));
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

TEST_F(StoreTest, VMRoundTripPreservesEveryField) {
  Image img = AddBaseImage();
  VMRecord vm = MakeVM("web-1", img.id, At(1700000000));
  vm.state = VMState::kRunning;
  vm.updated_at = At(1700000500);
  vm.last_touched_at = At(1700000600);
  vm.spec = VMSpec{.vcpu_count = 6,
                   .memory_mib = 3072,
                   .system_overlay_size_bytes = 3 * kGiB,
                   .work_disk_size_bytes = 5 * kGiB,
                   .nat_enabled = true,
                   .backend = BackendKind::kFirecracker};
  // runtime.state deliberately differs from vm.state: the store keeps both as given.
  vm.runtime.state = VMState::kStopped;
  vm.runtime.guest_ip = "172.16.0.7";
  vm.runtime.api_sock_path = "/run/banger/web-1.sock";
  vm.runtime.vsock_path = "/run/banger/web-1.vsock";
  vm.runtime.vsock_cid = 42;
  vm.runtime.log_path = "/var/log/web-1.log";
  vm.runtime.metrics_path = "/var/log/web-1.metrics";
  vm.runtime.dns_name = "web-1.vm";
  vm.runtime.system_overlay_path = "/vms/web-1/overlay";
  vm.runtime.work_disk_path = "/vms/web-1/work.ext4";
  vm.runtime.last_error = "previous boot failed";
  vm.runtime.boot_id = "boot-7";
  vm.runtime.started_at = At(1700000400);
  vm.stats.collected_at = At(1700000550);
  vm.stats.cpu_percent = 12.75;
  vm.stats.rss_bytes = 123456789;
  vm.stats.vsz_bytes = 987654321;
  vm.stats.system_overlay_bytes = 1111;
  vm.stats.work_disk_bytes = 2222;
  vm.stats.metrics_raw = Json{{"vcpu", {{"exits", 17}}}, {"ratio", 0.5}};
  vm.labels = {{"env", "prod"}, {"team", "infra"}};
  vm.request_id = "req-123";
  ASSERT_TRUE(store_->InsertVM(vm).ok());

  auto got = store_->GetVM("web-1");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(ToJson(*got), ToJson(vm));
  EXPECT_EQ(got->state, VMState::kRunning);
  EXPECT_EQ(got->runtime.state, VMState::kStopped);
  EXPECT_EQ(got->spec.backend, BackendKind::kFirecracker);
  EXPECT_EQ(got->runtime.vsock_cid, 42u);
  EXPECT_DOUBLE_EQ(got->stats.cpu_percent, 12.75);
  EXPECT_EQ(got->stats.metrics_raw["vcpu"]["exits"], 17);
  EXPECT_EQ(got->labels, vm.labels);
  EXPECT_EQ(got->request_id, "req-123");
  EXPECT_EQ(got->last_touched_at, At(1700000600));
}

TEST_F(StoreTest, VMStateColumnFollowsUpdates) {
  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  Image img = MakeImage("base");
  ASSERT_TRUE(store->InsertImage(img).ok());
  VMRecord vm = MakeVM("web", img.id);
  ASSERT_TRUE(store->InsertVM(vm).ok());
  EXPECT_EQ(RawQuery(db_path_, "SELECT state FROM vms"), "created");

  vm.state = VMState::kRunning;
  vm.runtime.state = VMState::kRunning;
  ASSERT_TRUE(store->UpdateVM(vm).ok());
  EXPECT_EQ(RawQuery(db_path_, "SELECT state FROM vms"), "running");
  EXPECT_EQ(RawQuery(db_path_, "SELECT request_id IS NULL FROM vms"), "1");
}

TEST_F(StoreTest, VMUpdateListOrderSelectorAndDelete) {
  Image img = AddBaseImage();
  VMRecord a = MakeVM("a", img.id, At(200));
  VMRecord b = MakeVM("b", img.id, At(100));
  VMRecord c = MakeVM("c", img.id, At(100));
  a.labels = {{"env", "prod"}, {"team", "web"}};
  b.labels = {{"env", "prod"}};
  c.labels = {{"env", "dev"}, {"team", "web"}};
  for (const auto& vm : {a, c, b}) ASSERT_TRUE(store_->InsertVM(vm).ok());

  auto all = store_->ListVMs();
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Names(*all), ElementsAre("b", "c", "a"));  // created_at, then name

  auto prod = store_->ListVMs({{"env", "prod"}});
  ASSERT_TRUE(prod.ok());
  EXPECT_THAT(Names(*prod), ElementsAre("b", "a"));
  auto prod_web = store_->ListVMs({{"env", "prod"}, {"team", "web"}});
  ASSERT_TRUE(prod_web.ok());
  EXPECT_THAT(Names(*prod_web), ElementsAre("a"));
  auto none = store_->ListVMs({{"team", "db"}});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  b.name = "b-renamed";
  b.labels = {{"env", "staging"}};
  b.spec.memory_mib = 4096;
  b.updated_at = At(300);
  ASSERT_TRUE(store_->UpdateVM(b).ok());
  auto got = store_->GetVM(b.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(ToJson(*got), ToJson(b));
  auto old_name = store_->GetVM("b");
  ASSERT_FALSE(old_name.ok());
  EXPECT_EQ(old_name.error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(old_name.error().message(), "vm \"b\" not found");

  VMRecord ghost = MakeVM("ghost", img.id);
  Status missing = store_->UpdateVM(ghost);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);

  ASSERT_TRUE(store_->DeleteVM(a.id).ok());
  auto rest = store_->ListVMs();
  ASSERT_TRUE(rest.ok());
  EXPECT_THAT(Names(*rest), ElementsAre("b-renamed", "c"));
  Status again = store_->DeleteVM(a.id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind(), ErrorKind::kNotFound);
}

TEST_F(StoreTest, VMLookupByPrefix) {
  Image img = AddBaseImage();
  VMRecord x = MakeVM("x", img.id, At(1), IdWithPrefix("abcdef0123", '1'));
  VMRecord y = MakeVM("y", img.id, At(1), IdWithPrefix("abcdef0124", '2'));
  ASSERT_TRUE(store_->InsertVM(x).ok());
  ASSERT_TRUE(store_->InsertVM(y).ok());

  auto ambiguous = store_->GetVM("abcdef01");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.error().kind(), ErrorKind::kConflict);
  EXPECT_THAT(ambiguous.error().message(), HasSubstr("ambiguous"));

  auto unique = store_->GetVM("abcdef0124");
  ASSERT_TRUE(unique.ok());
  EXPECT_EQ(unique->id, y.id);

  auto too_short = store_->GetVM("abcdef0");
  ASSERT_FALSE(too_short.ok());
  EXPECT_EQ(too_short.error().kind(), ErrorKind::kNotFound);

  // An exact name wins over a prefix that would match another VM's id.
  VMRecord named = MakeVM("abcdef01", img.id);
  ASSERT_TRUE(store_->InsertVM(named).ok());
  auto by_name = store_->GetVM("abcdef01");
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(by_name->id, named.id);
}

TEST_F(StoreTest, DuplicateVMNameAndRequestIDAreConflicts) {
  Image img = AddBaseImage();
  VMRecord web = MakeVM("web", img.id);
  web.request_id = "req-1";
  ASSERT_TRUE(store_->InsertVM(web).ok());

  Status dup_name = store_->InsertVM(MakeVM("web", img.id));
  ASSERT_FALSE(dup_name.ok());
  EXPECT_EQ(dup_name.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(dup_name.error().message(), "vm name \"web\" is already in use");

  VMRecord other = MakeVM("other", img.id);
  other.request_id = "req-1";
  Status dup_req = store_->InsertVM(other);
  ASSERT_FALSE(dup_req.ok());
  EXPECT_EQ(dup_req.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(dup_req.error().message(), "request id \"req-1\" is already used by another vm");

  VMRecord dup_id = MakeVM("third", img.id, At(1), web.id);
  Status dup_id_st = store_->InsertVM(dup_id);
  ASSERT_FALSE(dup_id_st.ok());
  EXPECT_EQ(dup_id_st.error().kind(), ErrorKind::kConflict);

  // Empty request ids are stored as NULL, so any number of VMs may lack one.
  ASSERT_TRUE(store_->InsertVM(MakeVM("no-req-1", img.id)).ok());
  ASSERT_TRUE(store_->InsertVM(MakeVM("no-req-2", img.id)).ok());

  VMRecord renamed = MakeVM("no-req-3", img.id);
  ASSERT_TRUE(store_->InsertVM(renamed).ok());
  renamed.name = "web";
  Status clash = store_->UpdateVM(renamed);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(clash.error().message(), "vm name \"web\" is already in use");
}

TEST_F(StoreTest, FindVMByRequestID) {
  Image img = AddBaseImage();
  VMRecord vm = MakeVM("web", img.id);
  vm.request_id = "req-42";
  ASSERT_TRUE(store_->InsertVM(vm).ok());
  ASSERT_TRUE(store_->InsertVM(MakeVM("plain", img.id)).ok());

  auto found = store_->FindVMByRequestID("req-42");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, vm.id);

  auto absent = store_->FindVMByRequestID("req-43");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
}

TEST_F(StoreTest, ImageInUseCannotBeDeleted) {
  Image img = AddBaseImage();
  VMRecord a = MakeVM("a", img.id);
  VMRecord b = MakeVM("b", img.id);
  ASSERT_TRUE(store_->InsertVM(a).ok());
  ASSERT_TRUE(store_->InsertVM(b).ok());

  auto count = store_->CountVMsUsingImage(img.id);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 2);

  Status in_use = store_->DeleteImage(img.id);
  ASSERT_FALSE(in_use.ok());
  EXPECT_EQ(in_use.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(in_use.error().message(), "image base is used by 2 vm(s)");
  EXPECT_TRUE(store_->GetImage(img.id).ok());

  ASSERT_TRUE(store_->DeleteVM(a.id).ok());
  ASSERT_TRUE(store_->DeleteVM(b.id).ok());
  auto zero = store_->CountVMsUsingImage(img.id);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(*zero, 0);
  EXPECT_TRUE(store_->DeleteImage(img.id).ok());
}

TEST_F(StoreTest, VMWithUnknownImageIsNotFound) {
  Status st = store_->InsertVM(MakeVM("orphan", NewID()));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kNotFound);
  EXPECT_THAT(st.error().message(), HasSubstr("image"));
}

TEST_F(StoreTest, CorruptRowIsInternalErrorNamingTheRow) {
  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  Image img = MakeImage("base");
  ASSERT_TRUE(store->InsertImage(img).ok());
  VMRecord vm = MakeVM("web", img.id);
  ASSERT_TRUE(store->InsertVM(vm).ok());
  RawExec(db_path_, "UPDATE vms SET spec_json = '{\"vcpu_count\": \"many\"}'");

  auto got = store->GetVM("web");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind(), ErrorKind::kInternal);
  EXPECT_THAT(got.error().message(), HasSubstr(vm.id));
  EXPECT_THAT(got.error().message(), HasSubstr("vcpu_count"));
  auto list = store->ListVMs();
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(list.error().message(), HasSubstr(vm.id));
}

// ---- guest sessions ----

TEST_F(StoreTest, SessionsUpsertGetListAndCascade) {
  Image img = AddBaseImage();
  VMRecord web = MakeVM("web", img.id);
  VMRecord db = MakeVM("db", img.id);
  ASSERT_TRUE(store_->InsertVM(web).ok());
  ASSERT_TRUE(store_->InsertVM(db).ok());

  GuestSession shell = MakeSession(web.id, "shell", At(10));
  shell.args = {"-c", "echo hi"};
  shell.env = {{"TERM", "xterm"}};
  shell.tags = {{"owner", "me"}};
  shell.exit_code = 3;
  shell.attachable = true;
  GuestSession build = MakeSession(web.id, "build", At(20));
  GuestSession db_shell = MakeSession(db.id, "shell", At(30));
  for (const auto& s : {shell, build, db_shell}) ASSERT_TRUE(store_->UpsertSession(s).ok());

  auto by_id = store_->GetSession(shell.id);
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(ToJson(*by_id), ToJson(shell));
  auto by_prefix = store_->GetSession(build.id.substr(0, 12));
  ASSERT_TRUE(by_prefix.ok());
  EXPECT_EQ(by_prefix->id, build.id);
  auto by_unique_name = store_->GetSession("build");
  ASSERT_TRUE(by_unique_name.ok());
  EXPECT_EQ(by_unique_name->id, build.id);

  auto ambiguous = store_->GetSession("shell");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.error().kind(), ErrorKind::kConflict);
  auto scoped = store_->GetSession("shell", db.id);
  ASSERT_TRUE(scoped.ok());
  EXPECT_EQ(scoped->id, db_shell.id);
  auto wrong_vm = store_->GetSession("build", db.id);
  ASSERT_FALSE(wrong_vm.ok());
  EXPECT_EQ(wrong_vm.error().kind(), ErrorKind::kNotFound);

  shell.status = GuestSessionStatus::kExited;
  shell.updated_at = At(40);
  ASSERT_TRUE(store_->UpsertSession(shell).ok());
  auto updated = store_->GetSession(shell.id);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->status, GuestSessionStatus::kExited);
  EXPECT_EQ(updated->updated_at, At(40));

  GuestSession dup = MakeSession(web.id, "build");
  Status clash = store_->UpsertSession(dup);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().kind(), ErrorKind::kConflict);
  EXPECT_THAT(clash.error().message(), HasSubstr("\"build\""));

  auto web_sessions = store_->ListSessions(web.id);
  ASSERT_TRUE(web_sessions.ok());
  ASSERT_EQ(web_sessions->size(), 2u);
  EXPECT_EQ((*web_sessions)[0].id, shell.id);
  EXPECT_EQ((*web_sessions)[1].id, build.id);
  auto all = store_->ListSessions();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);

  ASSERT_TRUE(store_->DeleteSession(build.id).ok());
  Status gone = store_->DeleteSession(build.id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind(), ErrorKind::kNotFound);

  ASSERT_TRUE(store_->DeleteVM(web.id).ok());
  auto after = store_->ListSessions();
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].id, db_shell.id);
  EXPECT_FALSE(store_->GetSession(shell.id).ok());
}

TEST_F(StoreTest, SessionForUnknownVMIsNotFound) {
  Status st = store_->UpsertSession(MakeSession(NewID(), "shell"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kNotFound);
}

// ---- workspaces ----

TEST_F(StoreTest, WorkspacesUpsertListAndCascade) {
  Image img = AddBaseImage();
  VMRecord vm = MakeVM("web", img.id);
  ASSERT_TRUE(store_->InsertVM(vm).ok());

  WorkspacePrepareResult src;
  src.vm_id = vm.id;
  src.source_path = "/home/me/src";
  src.repo_root = "/home/me/src";
  src.repo_name = "src";
  src.guest_path = "/root/src";
  src.mode = WorkspacePrepareMode::kFullCopy;
  src.readonly = true;
  src.head_commit = "abc123";
  src.current_branch = "main";
  src.branch_name = "banger/web";
  src.base_commit = "def456";
  src.prepared_at = At(100);
  WorkspacePrepareResult docs = src;
  docs.guest_path = "/root/docs";
  docs.mode = WorkspacePrepareMode::kMetadataOnly;
  ASSERT_TRUE(store_->UpsertWorkspace(src).ok());
  ASSERT_TRUE(store_->UpsertWorkspace(docs).ok());

  src.head_commit = "fff999";
  src.prepared_at = At(200);
  ASSERT_TRUE(store_->UpsertWorkspace(src).ok());

  auto list = store_->ListWorkspaces(vm.id);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(ToJson((*list)[0]), ToJson(docs));  // ordered by guest_path
  EXPECT_EQ(ToJson((*list)[1]), ToJson(src));
  EXPECT_EQ((*list)[1].head_commit, "fff999");

  auto other = store_->ListWorkspaces(NewID());
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());

  ASSERT_TRUE(store_->DeleteVM(vm.id).ok());
  auto after = store_->ListWorkspaces(vm.id);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty());
}

// ---- events ----

TEST_F(StoreTest, EventsAppendAfterLimitAndTrim) {
  auto empty_seq = store_->LastEventSeq();
  ASSERT_TRUE(empty_seq.ok());
  EXPECT_EQ(*empty_seq, 0);

  for (int i = 1; i <= 5; ++i) {
    Event ev;
    ev.type = "vm.state";
    ev.vm_id = "id-" + std::to_string(i);
    ev.vm_name = "vm-" + std::to_string(i);
    ev.data = Json{{"i", i}, {"to", "running"}};
    if (i == 3) ev.at = At(1234);
    auto seq = store_->AppendEvent(ev);
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, i);
    EXPECT_EQ(ev.seq, i);
    if (i == 3) {
      EXPECT_EQ(ev.at, At(1234));  // a caller's timestamp is kept
    } else {
      EXPECT_NE(ev.at.time_since_epoch().count(), 0);
    }
  }

  auto page = store_->EventsAfter(2, 2);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].seq, 3);
  EXPECT_EQ((*page)[0].at, At(1234));
  EXPECT_EQ((*page)[0].vm_name, "vm-3");
  EXPECT_EQ((*page)[0].data, (Json{{"i", 3}, {"to", "running"}}));
  EXPECT_EQ((*page)[1].seq, 4);
  auto none = store_->EventsAfter(0, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  ASSERT_TRUE(store_->TrimEvents(2).ok());
  auto kept = store_->EventsAfter(0, 100);
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->size(), 2u);
  EXPECT_EQ((*kept)[0].seq, 4);
  EXPECT_EQ((*kept)[1].seq, 5);
  ASSERT_TRUE(store_->TrimEvents(10).ok());  // fewer than `keep`: nothing goes
  kept = store_->EventsAfter(0, 100);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->size(), 2u);

  ASSERT_TRUE(store_->TrimEvents(0).ok());
  auto emptied = store_->EventsAfter(0, 100);
  ASSERT_TRUE(emptied.ok());
  EXPECT_TRUE(emptied->empty());
  auto last = store_->LastEventSeq();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 5);  // does not go backwards after trimming

  Event next;
  next.type = "image.created";
  auto seq = store_->AppendEvent(next);
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 6);  // never reused
  auto only = store_->EventsAfter(0, 100);
  ASSERT_TRUE(only.ok());
  ASSERT_EQ(only->size(), 1u);
  EXPECT_EQ((*only)[0].vm_id, "");
  EXPECT_EQ((*only)[0].type, "image.created");

  EXPECT_EQ(store_->TrimEvents(-1).error().kind(), ErrorKind::kInvalidArgument);
}

TEST_F(StoreTest, EventSeqSurvivesReopenAfterTrim) {
  {
    auto store = OpenFile();
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 3; ++i) {
      Event ev;
      ev.type = "vm.created";
      ASSERT_TRUE(store->AppendEvent(ev).ok());
    }
    ASSERT_TRUE(store->TrimEvents(0).ok());
  }
  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  auto last = store->LastEventSeq();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 3);
  Event ev;
  ev.type = "vm.created";
  auto seq = store->AppendEvent(ev);
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 4);
}

// ---- concurrency ----

TEST_F(StoreTest, ConcurrentWritersStayConsistent) {
  auto store = OpenFile();
  ASSERT_NE(store, nullptr);
  Image img = MakeImage("base");
  ASSERT_TRUE(store->InsertImage(img).ok());

  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        VMRecord vm = MakeVM("vm-" + std::to_string(t) + "-" + std::to_string(i), img.id, At(1000 + i));
        vm.labels = {{"thread", std::to_string(t)}};
        if (!store->InsertVM(vm).ok()) ++failures;
        vm.state = VMState::kRunning;
        vm.spec.vcpu_count = t + 1;
        if (!store->UpdateVM(vm).ok()) ++failures;
        Event ev;
        ev.type = "vm.created";
        ev.vm_id = vm.id;
        if (!store->AppendEvent(ev).ok()) ++failures;
        if (!store->GetVM(vm.name).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);

  auto all = store->ListVMs();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), static_cast<size_t>(kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t) {
    auto mine = store->ListVMs({{"thread", std::to_string(t)}});
    ASSERT_TRUE(mine.ok());
    ASSERT_EQ(mine->size(), static_cast<size_t>(kPerThread));
    for (const auto& vm : *mine) {
      EXPECT_EQ(vm.state, VMState::kRunning);
      EXPECT_EQ(vm.spec.vcpu_count, t + 1);
    }
  }
  auto count = store->CountVMsUsingImage(img.id);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, kThreads * kPerThread);
  auto last = store->LastEventSeq();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, kThreads * kPerThread);
}

TEST(StoreTouchTest, TouchUpdatesOnlyLastTouched) {
  auto store = std::move(*Store::Open(":memory:"));
  Image img;
  img.id = NewID();
  img.name = "base";
  ASSERT_TRUE(store->InsertImage(img).ok());
  VMRecord vm;
  vm.id = NewID();
  vm.name = "t1";
  vm.image_id = img.id;
  vm.state = VMState::kRunning;
  ASSERT_TRUE(store->InsertVM(vm).ok());
  Timestamp at = *ParseRfc3339("2030-01-01T00:00:00Z");
  ASSERT_TRUE(store->TouchVM(vm.id, at).ok());
  auto got = store->GetVM("t1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->last_touched_at, at);
  EXPECT_EQ(got->state, VMState::kRunning);
  EXPECT_EQ(store->TouchVM(NewID(), at).error().kind(), ErrorKind::kNotFound);

  // Stats likewise touch nothing else.
  VMStats stats;
  stats.collected_at = at;
  stats.cpu_percent = 42.5;
  stats.rss_bytes = 1 << 20;
  stats.metrics_raw = Json{{"vcpu", {{"exit_io_in", 3}}}};
  ASSERT_TRUE(store->UpdateVMStats(vm.id, stats).ok());
  got = store->GetVM("t1");
  EXPECT_DOUBLE_EQ(got->stats.cpu_percent, 42.5);
  EXPECT_EQ(got->stats.rss_bytes, 1 << 20);
  EXPECT_EQ(got->stats.metrics_raw["vcpu"]["exit_io_in"], 3);
  EXPECT_EQ(got->last_touched_at, at);
  EXPECT_EQ(store->UpdateVMStats(NewID(), stats).error().kind(), ErrorKind::kNotFound);
}

}  // namespace
}  // namespace banger
