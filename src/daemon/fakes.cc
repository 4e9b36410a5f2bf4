#include "daemon/fakes.h"

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
