// EventLog's long poll (what `banger events --follow` and GET
// /v1/events?wait_ms ride on): Read waits for the next Emit, Close wakes
// every waiter, and reads after Close return at once.
//
// No assertion depends on timing: waits are for states (the reader has
// queried the store and found nothing), with deadlines far beyond any
// machine's speed; the waits under test are given an hour so that only a
// wake-up can end them.
#include "daemon/events.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace banger {
namespace {

using namespace std::chrono_literals;

constexpr auto kForever = std::chrono::milliseconds(std::chrono::hours(1));
constexpr auto kDeadline = std::chrono::minutes(1);

// A real SQLite store that counts EventsAfter queries, so a test can wait
// until a reader has looked, found nothing and gone to wait.
class CountingStore : public Store {
 public:
  explicit CountingStore(std::unique_ptr<Store> s) : s_(std::move(s)) {}
  int queries() const { return queries_.load(); }
  // Waits (bounded) until EventsAfter has run at least `n` times.
  bool WaitForQueries(int n) {
    auto until = std::chrono::steady_clock::now() + kDeadline;
    while (queries_.load() < n) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }

  Result<std::vector<Event>> EventsAfter(int64_t after, int limit) override {
    auto r = s_->EventsAfter(after, limit);
    ++queries_;
    return r;
  }
  Result<int64_t> AppendEvent(Event& ev) override { return s_->AppendEvent(ev); }
  Result<int64_t> LastEventSeq() override { return s_->LastEventSeq(); }
  Status InsertPort(const PortMapping& p) override { return s_->InsertPort(p); }
  Status DeletePort(const PortMapping& p) override { return s_->DeletePort(p); }
  Result<std::vector<PortMapping>> ListPorts(const std::string& vm) override { return s_->ListPorts(vm); }
  Status TrimEvents(int64_t keep) override { return s_->TrimEvents(keep); }
  Result<int> SchemaVersion() override { return s_->SchemaVersion(); }
  Status InsertImage(const Image& i) override { return s_->InsertImage(i); }
  Status UpdateImage(const Image& i) override { return s_->UpdateImage(i); }
  Result<Image> GetImage(const std::string& id) override { return s_->GetImage(id); }
  Result<std::vector<Image>> ListImages() override { return s_->ListImages(); }
  Status DeleteImage(const std::string& id) override { return s_->DeleteImage(id); }
  Result<int> CountVmsUsingImage(const std::string& id) override { return s_->CountVmsUsingImage(id); }
  Status InsertVm(const VmRecord& vm) override { return s_->InsertVm(vm); }
  Status UpdateVm(const VmRecord& vm) override { return s_->UpdateVm(vm); }
  Status TouchVm(const std::string& id, Timestamp at) override { return s_->TouchVm(id, at); }
  Status UpdateVmStats(const std::string& id, const VmStats& st) override {
    return s_->UpdateVmStats(id, st);
  }
  Result<VmRecord> GetVm(const std::string& id) override { return s_->GetVm(id); }
  Result<std::optional<VmRecord>> FindVmByRequestId(const std::string& r) override {
    return s_->FindVmByRequestId(r);
  }
  Result<std::vector<VmRecord>> ListVms(const Labels& sel) override { return s_->ListVms(sel); }
  Status DeleteVm(const std::string& id) override { return s_->DeleteVm(id); }
  Status UpsertSession(const GuestSession& s) override { return s_->UpsertSession(s); }
  Result<GuestSession> GetSession(const std::string& id, const std::string& vm) override {
    return s_->GetSession(id, vm);
  }
  Result<std::vector<GuestSession>> ListSessions(const std::string& vm) override {
    return s_->ListSessions(vm);
  }
  Status DeleteSession(const std::string& id) override { return s_->DeleteSession(id); }
  Status UpsertWorkspace(const WorkspacePrepareResult& w) override { return s_->UpsertWorkspace(w); }
  Status InsertSnapshot(const VmSnapshot& s) override { return s_->InsertSnapshot(s); }
  Status UpdateSnapshot(const VmSnapshot& s) override { return s_->UpdateSnapshot(s); }
  Result<VmSnapshot> GetSnapshot(const std::string& vm, const std::string& id) override {
    return s_->GetSnapshot(vm, id);
  }
  Result<std::vector<VmSnapshot>> ListSnapshots(const std::string& vm) override {
    return s_->ListSnapshots(vm);
  }
  Status DeleteSnapshot(const std::string& id) override { return s_->DeleteSnapshot(id); }
  Status PutTemplate(const VmTemplate& t) override { return s_->PutTemplate(t); }
  Result<std::vector<VmTemplate>> ListTemplates() override { return s_->ListTemplates(); }
  Status DeleteTemplate(const std::string& id) override { return s_->DeleteTemplate(id); }
  Result<std::vector<WorkspacePrepareResult>> ListWorkspaces(const std::string& vm) override {
    return s_->ListWorkspaces(vm);
  }

 private:
  std::unique_ptr<Store> s_;
  std::atomic<int> queries_{0};
};

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::Open(":memory:");
    ASSERT_TRUE(s.ok()) << s.error().message();
    store_ = std::make_unique<CountingStore>(std::move(*s));
    log_ = std::make_unique<EventLog>(*store_);
  }
  static Event Ev(const std::string& type, const std::string& vm = "") {
    Event e;
    e.type = type;
    e.vm_name = vm;
    return e;
  }
  // Starts Read(after, limit, wait) on its own thread.
  std::future<Result<std::vector<Event>>> ReadAsync(int64_t after, std::chrono::milliseconds wait) {
    return std::async(std::launch::async, [this, after, wait] { return log_->Read(after, 100, wait); });
  }
  std::unique_ptr<CountingStore> store_;
  std::unique_ptr<EventLog> log_;
};

TEST_F(EventLogTest, ReadReturnsStoredEventsWithoutWaiting) {
  log_->Emit(Ev("vm.created", "a"));
  log_->Emit(Ev("vm.state", "a"));
  // Would block for an hour if it waited while events are there.
  auto r = log_->Read(0, 100, kForever);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].type, "vm.created");
  EXPECT_EQ((*r)[1].type, "vm.state");
  EXPECT_LT((*r)[0].seq, (*r)[1].seq);
  // Resuming after the last seq with no wait: nothing, at once.
  auto none = log_->Read((*r)[1].seq, 100, 0ms);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(EventLogTest, WaitingReadWakesOnTheNextEmit) {
  log_->Emit(Ev("vm.created", "old"));
  auto first = log_->Read(0, 100, 0ms);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  int64_t cursor = first->back().seq;

  int before = store_->queries();
  auto reader = ReadAsync(cursor, kForever);
  // The reader has looked and found nothing new: it is (about to be) waiting.
  ASSERT_TRUE(store_->WaitForQueries(before + 1));
  EXPECT_NE(reader.wait_for(0ms), std::future_status::ready) << "a read with nothing new must wait";
  log_->Emit(Ev("vm.state", "new"));
  ASSERT_EQ(reader.wait_for(kDeadline), std::future_status::ready) << "Emit did not wake the reader";
  auto got = reader.get();
  ASSERT_TRUE(got.ok()) << got.error().message();
  ASSERT_EQ(got->size(), 1u) << "only events after the cursor";
  EXPECT_EQ((*got)[0].type, "vm.state");
  EXPECT_EQ((*got)[0].vm_name, "new");
  EXPECT_GT((*got)[0].seq, cursor);
}

TEST_F(EventLogTest, EveryWaitingReaderWakes) {
  int before = store_->queries();
  std::vector<std::future<Result<std::vector<Event>>>> readers;
  for (int i = 0; i < 3; ++i) readers.push_back(ReadAsync(0, kForever));
  ASSERT_TRUE(store_->WaitForQueries(before + 3));
  log_->Emit(Ev("image.built"));
  for (auto& r : readers) {
    ASSERT_EQ(r.wait_for(kDeadline), std::future_status::ready);
    auto got = r.get();
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ((*got)[0].type, "image.built");
  }
}

TEST_F(EventLogTest, CloseWakesWaitersAndLaterReadsReturnAtOnce) {
  int before = store_->queries();
  auto a = ReadAsync(0, kForever);
  auto b = ReadAsync(0, kForever);
  ASSERT_TRUE(store_->WaitForQueries(before + 2));
  log_->Close();
  for (auto* r : {&a, &b}) {
    ASSERT_EQ(r->wait_for(kDeadline), std::future_status::ready) << "Close did not wake a reader";
    auto got = r->get();
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE(got->empty());
  }
  // After Close, an hour-long wait returns at once (this would hang otherwise).
  auto later = ReadAsync(0, kForever);
  ASSERT_EQ(later.wait_for(kDeadline), std::future_status::ready);
  ASSERT_TRUE(later.get().ok());
  // Events stored before a read are still returned after Close.
  log_->Emit(Ev("vm.deleted", "x"));
  auto after_close = log_->Read(0, 100, kForever);
  ASSERT_TRUE(after_close.ok());
  ASSERT_EQ(after_close->size(), 1u);
  EXPECT_EQ((*after_close)[0].type, "vm.deleted");
}

TEST_F(EventLogTest, WaitEndsEmptyWhenNothingHappens) {
  // A bounded wait with no event returns an empty list (the poll's timeout
  // path); 50 ms is a bound on how long the test takes, not asserted.
  auto r = log_->Read(0, 100, 50ms);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST_F(EventLogTest, LimitIsHonouredAndResumable) {
  for (int i = 0; i < 5; ++i) log_->Emit(Ev("vm.state", "v" + std::to_string(i)));
  auto page = log_->Read(0, 2, kForever);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[1].vm_name, "v1");
  auto rest = log_->Read(page->back().seq, 100, kForever);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 3u);
  EXPECT_EQ((*rest)[0].vm_name, "v2");
}

}  // namespace
}  // namespace banger
