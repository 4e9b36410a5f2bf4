// Shared pieces of the file-copy subcommands (`banger-agent cp-out`, `cp-in`,
// `stat`, `ls`; the contract is docs/adr/0022-vm-cp-wire-format.md): the one
// error line, errno -> error code, SHA-256 (nettle), blocking full reads and
// writes.
#pragma once

#include <nettle/sha2.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace banger::agent::cp {

// Fixed I/O buffer size: stdout chunks and file reads never exceed it.
inline constexpr size_t kBufSize = 64 * 1024;
inline constexpr uint32_t kMaxFrame = 1024 * 1024;
inline constexpr size_t kMaxName = 4096;
inline constexpr uint64_t kMaxEntries = 1000000;

// A failure: a contract code (not_found, permission, no_space, read_only,
// not_dir, exists, invalid, too_large, io) and one human line.
struct Error {
  std::string code;
  std::string message;
  bool failed() const { return !code.empty(); }
};

// The code for an errno (ENOENT -> not_found, ...; unknown -> io).
const char* CodeForErrno(int err);
// `what`: strerror(err), coded from err.
Error ErrnoError(const std::string& what, int err);
Error MakeError(const char* code, const std::string& message);

// Writes `banger-cp error=<code> <message>` to stderr; returns exit code 1.
int Report(const Error& e);

class Sha256 {
 public:
  Sha256() { sha256_init(&ctx_); }
  void Update(const void* data, size_t n) {
    if (n > 0) sha256_update(&ctx_, n, static_cast<const uint8_t*>(data));
  }
  std::array<uint8_t, SHA256_DIGEST_SIZE> Digest() {
    std::array<uint8_t, SHA256_DIGEST_SIZE> out{};
    sha256_digest(&ctx_, out.size(), out.data());
    return out;
  }

 private:
  sha256_ctx ctx_{};
};

std::string Hex(const uint8_t* data, size_t n);

// Calls each(name) for every entry of the directory open at fd, but . and
// .. (fd itself is left as it was); `guest` names it in the error.
Error ForEachName(int fd, const std::string& guest, const std::function<void(const char* name)>& each);

// Writes all n bytes (retrying EINTR and short writes); false with errno set.
bool WriteAll(int fd, const void* data, size_t n);
// Reads until n bytes or EOF; returns the count, or -1 with errno set.
ssize_t ReadFull(int fd, void* data, size_t n);

// "a/b/c" -> "c"; "/" -> "/".
std::string BaseName(std::string_view path);

}  // namespace banger::agent::cp
