#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "model/json.h"
#include "store/migrations.h"
#include "store/store.h"
#include "store/store_test_util.h"

namespace banger {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- guest sessions ----

TEST_F(StoreTest, SessionsUpsertGetListAndCascade) {
  Image img = AddBaseImage();
  VmRecord web = MakeVm("web", img.id);
  VmRecord db = MakeVm("db", img.id);
  ASSERT_TRUE(store_->InsertVm(web).ok());
  ASSERT_TRUE(store_->InsertVm(db).ok());

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

  ASSERT_TRUE(store_->DeleteVm(web.id).ok());
  auto after = store_->ListSessions();
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].id, db_shell.id);
  EXPECT_FALSE(store_->GetSession(shell.id).ok());
}

TEST_F(StoreTest, SessionForUnknownVmIsNotFound) {
  Status st = store_->UpsertSession(MakeSession(NewId(), "shell"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kNotFound);
}

// ---- workspaces ----

TEST_F(StoreTest, WorkspacesUpsertListAndCascade) {
  Image img = AddBaseImage();
  VmRecord vm = MakeVm("web", img.id);
  ASSERT_TRUE(store_->InsertVm(vm).ok());

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

  auto other = store_->ListWorkspaces(NewId());
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());

  ASSERT_TRUE(store_->DeleteVm(vm.id).ok());
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
  threads.reserve(kThreads);
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        VmRecord vm = MakeVm("vm-" + std::to_string(t) + "-" + std::to_string(i), img.id, At(1000 + i));
        vm.labels = {{"thread", std::to_string(t)}};
        if (!store->InsertVm(vm).ok()) ++failures;
        vm.state = VmState::kRunning;
        vm.spec.vcpu_count = t + 1;
        if (!store->UpdateVm(vm).ok()) ++failures;
        Event ev;
        ev.type = "vm.created";
        ev.vm_id = vm.id;
        if (!store->AppendEvent(ev).ok()) ++failures;
        if (!store->GetVm(vm.name).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);

  auto all = store->ListVms();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), static_cast<size_t>(kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t) {
    auto mine = store->ListVms({{"thread", std::to_string(t)}});
    ASSERT_TRUE(mine.ok());
    ASSERT_EQ(mine->size(), static_cast<size_t>(kPerThread));
    for (const auto& vm : *mine) {
      EXPECT_EQ(vm.state, VmState::kRunning);
      EXPECT_EQ(vm.spec.vcpu_count, t + 1);
    }
  }
  auto count = store->CountVmsUsingImage(img.id);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, kThreads * kPerThread);
  auto last = store->LastEventSeq();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, kThreads * kPerThread);
}

TEST(StoreTouchTest, TouchUpdatesOnlyLastTouched) {
  auto store = std::move(*Store::Open(":memory:"));
  Image img;
  img.id = NewId();
  img.name = "base";
  ASSERT_TRUE(store->InsertImage(img).ok());
  VmRecord vm;
  vm.id = NewId();
  vm.name = "t1";
  vm.image_id = img.id;
  vm.state = VmState::kRunning;
  ASSERT_TRUE(store->InsertVm(vm).ok());
  Timestamp at = *ParseRfc3339("2030-01-01T00:00:00Z");
  ASSERT_TRUE(store->TouchVm(vm.id, at).ok());
  auto got = store->GetVm("t1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->last_touched_at, at);
  EXPECT_EQ(got->state, VmState::kRunning);
  EXPECT_EQ(store->TouchVm(NewId(), at).error().kind(), ErrorKind::kNotFound);

  // Stats likewise touch nothing else.
  VmStats stats;
  stats.collected_at = at;
  stats.cpu_percent = 42.5;
  stats.rss_bytes = 1 << 20;
  stats.metrics_raw = Json{{"vcpu", {{"exit_io_in", 3}}}};
  ASSERT_TRUE(store->UpdateVmStats(vm.id, stats).ok());
  got = store->GetVm("t1");
  EXPECT_DOUBLE_EQ(got->stats.cpu_percent, 42.5);
  EXPECT_EQ(got->stats.rss_bytes, 1 << 20);
  EXPECT_EQ(got->stats.metrics_raw["vcpu"]["exit_io_in"], 3);
  EXPECT_EQ(got->last_touched_at, at);
  EXPECT_EQ(store->UpdateVmStats(NewId(), stats).error().kind(), ErrorKind::kNotFound);
}

}  // namespace
}  // namespace banger
