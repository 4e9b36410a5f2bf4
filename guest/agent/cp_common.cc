#include "cp_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace banger::agent::cp {

const char* CodeForErrno(int err) {
  switch (err) {
    case ENOENT:
      return "not_found";
    case EACCES:
    case EPERM:
      return "permission";
    case ENOSPC:
    case EDQUOT:
      return "no_space";
    case EROFS:
      return "read_only";
    case ENOTDIR:
      return "not_dir";
    case EEXIST:
    case ENOTEMPTY:
      return "exists";
    case ENAMETOOLONG:
      return "too_large";
    default:
      return "io";
  }
}

Error ErrnoError(const std::string& what, int err) {
  return Error{CodeForErrno(err), what + ": " + strerror(err)};
}

Error MakeError(const char* code, const std::string& message) { return Error{code, message}; }

int Report(const Error& e) {
  std::string line = "banger-cp error=" + e.code + " " + e.message;
  // One line, whatever the message holds (guest paths may hold newlines).
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = '?';
  }
  fprintf(stderr, "%s\n", line.c_str());
  fflush(stderr);
  return 1;
}

std::string Hex(const uint8_t* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

bool WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

ssize_t ReadFull(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(got);
}

std::string BaseName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path == "/") return "/";
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

Error ForEachName(int fd, const std::string& guest, const std::function<void(const char* name)>& each) {
  int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return ErrnoError(guest, errno);
  DIR* dir = fdopendir(dup_fd);
  if (dir == nullptr) {
    int err = errno;
    close(dup_fd);
    return ErrnoError(guest, err);
  }
  rewinddir(dir);  // the dup shares its offset with fd, which may have been read before
  errno = 0;
  while (dirent* ent = readdir(dir)) {
    if (strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0) each(ent->d_name);
    errno = 0;
  }
  int err = errno;
  closedir(dir);
  return err != 0 ? ErrnoError(guest, err) : Error{};
}

}  // namespace banger::agent::cp
