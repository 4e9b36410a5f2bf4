#include "storage/testing/fake_disk_ops.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace banger::testing {

Status FakeDisks::CreateExt4(const std::string& path, int64_t size, const std::string&) {
  if (!fail_create.message().empty()) return fail_create;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Error::FromErrno("create " + path);
  int rc = ::ftruncate(fd, size);
  ::close(fd);
  if (rc != 0) return Error::FromErrno("size " + path);
  return OkStatus();
}

Status FakeDisks::CreateFromSeed(const std::string& seed, const std::string& path, int64_t size) {
  seeded_from[path] = seed;
  return CreateExt4(path, size, "seeded");
}

Status FakeDisks::GrowExt4(const std::string& path, int64_t size) {
  if (size < SizeOf(path)) return Error::Invalid("shrinking a disk is not supported");
  if (::truncate(path.c_str(), size) != 0) return Error::FromErrno("grow " + path);
  return OkStatus();
}

int64_t FakeDisks::SizeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

}  // namespace banger::testing

// ---- FakeDeviceMapper ----

namespace banger::testing {

Status FakeDeviceMapper::Injected(const std::string& op) {
  auto it = fail.find(op);
  if (it == fail.end()) return OkStatus();
  return it->second;
}

Status FakeDeviceMapper::Available() {
  std::lock_guard<std::mutex> lk(mu_);
  calls_.push_back("available");
  return available;
}

Result<std::string> FakeDeviceMapper::AttachLoop(const std::string& file, bool read_only) {
  std::lock_guard<std::mutex> lk(mu_);
  calls_.push_back(std::string(read_only ? "attach-ro " : "attach-rw ") + file);
  BANGER_RETURN_IF_ERROR(Injected(read_only ? "attach-ro" : "attach-rw"));
  std::string dev = "/dev/loop" + std::to_string(next_loop_++);
  loops_[dev] = Loop{file, read_only};
  return dev;
}

Status FakeDeviceMapper::Step(const std::string& op, const std::string& arg,
                              const std::function<void()>& apply) {
  std::lock_guard<std::mutex> lk(mu_);
  calls_.push_back(op + " " + arg);
  BANGER_RETURN_IF_ERROR(Injected(op));
  apply();
  return OkStatus();
}

Status FakeDeviceMapper::DetachLoop(const std::string& dev) {
  return Step("detach", dev, [&] { loops_.erase(dev); });
}

Result<std::string> FakeDeviceMapper::CreateSnapshot(const std::string& name, const std::string& base_dev,
                                                     const std::string& cow_dev, uint64_t sectors) {
  std::lock_guard<std::mutex> lk(mu_);
  calls_.push_back("create " + name);
  BANGER_RETURN_IF_ERROR(Injected("create"));
  if (snapshots_.count(name)) return Error::Conflict("dm device " + name + " already exists");
  if (!loops_.count(base_dev) || !loops_.count(cow_dev))
    return Error::Internal("snapshot over detached loops");
  snapshots_[name] = Snapshot{base_dev, cow_dev, sectors};
  return "/dev/mapper/" + name;
}

Status FakeDeviceMapper::Remove(const std::string& name) {
  return Step("remove", name, [&] { snapshots_.erase(name); });
}

Result<std::vector<std::string>> FakeDeviceMapper::LoopsBackedBy(const std::string& file) {
  std::lock_guard<std::mutex> lk(mu_);
  calls_.push_back("backed " + file);
  std::vector<std::string> out;
  for (const auto& [dev, loop] : loops_) {
    if (loop.file == file) out.push_back(dev);
  }
  return out;
}

std::map<std::string, FakeDeviceMapper::Loop> FakeDeviceMapper::Loops() {
  std::lock_guard<std::mutex> lk(mu_);
  return loops_;
}

std::map<std::string, FakeDeviceMapper::Snapshot> FakeDeviceMapper::Snapshots() {
  std::lock_guard<std::mutex> lk(mu_);
  return snapshots_;
}

std::vector<std::string> FakeDeviceMapper::Calls() {
  std::lock_guard<std::mutex> lk(mu_);
  return calls_;
}

}  // namespace banger::testing
