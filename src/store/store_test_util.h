// Builders, raw-SQL helpers and the StoreTest fixture shared by the store's
// test files (store_test.cc, store_record_test.cc).
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace banger {

inline Timestamp At(int64_t seconds) { return Timestamp{std::chrono::seconds{seconds}}; }

// A 64-char id starting with `prefix` (padded with `fill`), to control prefixes.
inline std::string IdWithPrefix(const std::string& prefix, char fill) {
  return prefix + std::string(64 - prefix.size(), fill);
}

inline Image MakeImage(const std::string& name, std::string id = NewId()) {
  Image img;
  img.id = std::move(id);
  img.name = name;
  img.rootfs_path = "/var/lib/banger/images/" + name + "/rootfs.ext4";
  img.kernel_path = "/var/lib/banger/images/" + name + "/vmlinux";
  img.created_at = At(1700000000);
  img.updated_at = At(1700000100);
  return img;
}

inline VmRecord MakeVm(const std::string& name, const std::string& image_id,
                       Timestamp created = At(1700000000), std::string id = NewId()) {
  VmRecord vm;
  vm.id = std::move(id);
  vm.name = name;
  vm.image_id = image_id;
  vm.created_at = created;
  vm.updated_at = created;
  vm.last_touched_at = created;
  vm.runtime.vm_dir = "/var/lib/banger/vms/" + vm.id;
  return vm;
}

inline GuestSession MakeSession(const std::string& vm_id, const std::string& name,
                                Timestamp created = At(1700000000)) {
  GuestSession s;
  s.id = NewId();
  s.vm_id = vm_id;
  s.name = name;
  s.backend = "ssh";
  s.command = "/bin/sh";
  s.created_at = created;
  s.updated_at = created;
  return s;
}

inline std::vector<std::string> Names(const std::vector<VmRecord>& vms) {
  std::vector<std::string> out;
  out.reserve(vms.size());
  for (const auto& vm : vms) out.push_back(vm.name);
  return out;
}

// Runs SQL on a database file behind the store's back (corruption, version bumps).
inline void RawExec(const std::string& path, const std::string& sql) {
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
inline std::string RawQuery(const std::string& path, const std::string& sql) {
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

  // A file-backed store holding the image "base" and `vm` (named `name`), for
  // tests that then change the database behind the store's back.
  std::unique_ptr<Store> OpenFileWithVm(const std::string& name, VmRecord& vm) {
    auto store = OpenFile();
    if (store == nullptr) return nullptr;
    Image img = MakeImage("base");
    EXPECT_TRUE(store->InsertImage(img).ok());
    vm = MakeVm(name, img.id);
    EXPECT_TRUE(store->InsertVm(vm).ok());
    return store;
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

}  // namespace banger
