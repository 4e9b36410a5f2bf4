#include "daemon/console_times.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

#include "base/fs.h"
#include "base/unique_fd.h"

namespace banger {
namespace {

constexpr size_t kRecord = 2 * sizeof(int64_t);

std::string Encode(const ConsoleSample& s) {
  std::string out(kRecord, '\0');
  std::memcpy(out.data(), &s.unix_ms, sizeof(int64_t));
  std::memcpy(out.data() + sizeof(int64_t), &s.size, sizeof(int64_t));
  return out;
}

std::vector<ConsoleSample> Decode(const std::string& data) {
  std::vector<ConsoleSample> out;
  out.reserve(data.size() / kRecord);
  for (size_t at = 0; at + kRecord <= data.size(); at += kRecord) {  // a torn tail is left out
    ConsoleSample s;
    std::memcpy(&s.unix_ms, data.data() + at, sizeof(int64_t));
    std::memcpy(&s.size, data.data() + at + sizeof(int64_t), sizeof(int64_t));
    out.push_back(s);
  }
  return out;
}

}  // namespace

std::string ConsoleTimesPath(const std::string& log_path) {
  auto slash = log_path.rfind('/');
  return (slash == std::string::npos ? std::string() : log_path.substr(0, slash + 1)) + kConsoleTimesName;
}

Result<std::vector<ConsoleSample>> ReadConsoleTimes(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::vector<ConsoleSample>{};
    return Error::FromErrno("open " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::FromErrno("stat " + path);
  // Bounded by construction; a larger file is not ours to read whole.
  const auto cap = static_cast<off_t>((kConsoleTimesMax + 1) * kRecord);
  std::string data(static_cast<size_t>(std::min(st.st_size, cap)), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::pread(fd.get(), data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("read " + path);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  return Decode(data);
}

Status RecordConsoleSize(const std::string& path, int64_t unix_ms, int64_t size, size_t max_samples) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return Error::FromErrno("open " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::FromErrno("stat " + path);
  if (!S_ISREG(st.st_mode)) return Error::Invalid(path + " is not a regular file");
  const auto whole = static_cast<off_t>(kRecord);
  off_t end = st.st_size - st.st_size % whole;  // past the last whole record
  ConsoleSample last;
  if (end > 0) {
    std::string rec(kRecord, '\0');
    if (::pread(fd.get(), rec.data(), kRecord, end - whole) != whole) return Error::FromErrno("read " + path);
    last = Decode(rec).front();
  }
  const int64_t last_size = last.size;
  // Kept in time order for the lookup even if the wall clock steps back.
  if (size >= last_size) unix_ms = std::max(unix_ms, last.unix_ms);
  if (size == last_size && end > 0) return OkStatus();
  if (size < last_size) end = 0;  // a new, shorter log: its offsets are not the old ones
  if (size == 0) {
    if (end != st.st_size && ::ftruncate(fd.get(), end) != 0) return Error::FromErrno("truncate " + path);
    return OkStatus();
  }
  if (static_cast<size_t>(end / whole) >= max_samples) {
    // Full: the newest half is kept, written beside and renamed over.
    BANGER_ASSIGN_OR_RETURN(auto all, ReadConsoleTimes(path));
    std::string kept;
    for (size_t i = all.size() - max_samples / 2; i < all.size(); ++i) kept += Encode(all[i]);
    kept += Encode({unix_ms, size});
    return WriteFileAtomic(path, kept, 0600);
  }
  if (end != st.st_size && ::ftruncate(fd.get(), end) != 0) return Error::FromErrno("truncate " + path);
  std::string rec = Encode({unix_ms, size});
  ssize_t n = ::pwrite(fd.get(), rec.data(), rec.size(), end);
  if (n != whole)
    return n < 0 ? Error::FromErrno("write " + path) : Error::Internal("short write to " + path);
  return OkStatus();
}

Status ResetConsoleTimes(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid() && errno != ENOENT) return Error::FromErrno("truncate " + path);
  return OkStatus();
}

int64_t ConsoleOffsetSince(const std::vector<ConsoleSample>& samples, int64_t since_ms) {
  // Samples are appended in time order: the last one at or before since_ms.
  auto it = std::upper_bound(samples.begin(), samples.end(), since_ms,
                             [](int64_t t, const ConsoleSample& s) { return t < s.unix_ms; });
  return it == samples.begin() ? 0 : std::prev(it)->size;
}

}  // namespace banger
