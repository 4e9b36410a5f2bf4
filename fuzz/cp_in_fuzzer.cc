// The guest agent's `cp-in` (guest/agent/cp_in.cc) against hostile tars. The
// first byte picks the framing: even, the rest of the input is a tar framed
// correctly (frames of a fuzzer-chosen size, the right sha256), so the tar
// reader and the extraction see every byte; odd, the rest is fed as the raw
// framed stream. The extraction writes into a fresh directory. Invariants:
// nothing crashes; a refusal leaves the directory empty; no .banger-cp-*
// staging directory is ever left; nothing appears beside the directory.
#include <dirent.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "agent/cp_in_internal.h"
#include "fuzz/fuzz_util.h"

namespace banger::agent::cp {
namespace {

// Names in dir (without . and ..).
int CountEntries(const std::string& dir, bool* staging) {
  DIR* d = opendir(dir.c_str());
  BANGER_FUZZ_CHECK(d != nullptr);
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (strncmp(e->d_name, ".banger-cp-", 11) == 0) *staging = true;
    ++n;
  }
  closedir(d);
  return n;
}

void AppendU32(std::string* s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s->push_back(static_cast<char>(v >> shift));
}

}  // namespace
}  // namespace banger::agent::cp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger::agent::cp;  // NOLINT(google-build-using-namespace): harness
  static const std::string root = banger::fuzz::MakeTempDir("bfc");
  static const std::string dest = root + "/dest";
  static const bool made = mkdir(dest.c_str(), 0755) == 0;
  BANGER_FUZZ_CHECK(made);
  banger::fuzz::Input in(data, size);
  uint8_t mode = in.U8();
  std::string stream;
  if (mode % 2 == 0) {
    size_t chunk = 1 + in.U16();
    std::string_view tar = in.Rest();
    for (size_t i = 0; i < tar.size(); i += chunk) {
      std::string_view part = tar.substr(i, chunk);
      AppendU32(&stream, static_cast<uint32_t>(part.size()));
      stream.append(part);
    }
    AppendU32(&stream, 0);
    sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, tar.size(), reinterpret_cast<const uint8_t*>(tar.data()));
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_digest(&ctx, sizeof(digest), digest);
    stream.append(reinterpret_cast<const char*>(digest), sizeof(digest));
  } else {
    stream = std::string(in.Rest());
  }
  // A memfd holds any size without a reader thread.
  banger::UniqueFd fd(memfd_create("cp-in", MFD_CLOEXEC));
  BANGER_FUZZ_CHECK(fd.valid());
  BANGER_FUZZ_CHECK(WriteAll(fd.get(), stream.data(), stream.size()));
  BANGER_FUZZ_CHECK(lseek(fd.get(), 0, SEEK_SET) == 0);
  std::string ok;
  Error err = CpInFromFd(fd.get(), dest, WalkOptions{}, &ok);
  bool staging = false;
  int entries = CountEntries(dest, &staging);
  BANGER_FUZZ_CHECK(!staging);
  if (err.failed()) {
    BANGER_FUZZ_CHECK(entries == 0);
    BANGER_FUZZ_CHECK(!err.code.empty() && !err.message.empty());
  } else {
    BANGER_FUZZ_CHECK(ok.rfind("banger-cp ok sha256=", 0) == 0);
  }
  bool unused = false;
  BANGER_FUZZ_CHECK(CountEntries(root, &unused) == 1);  // only dest
  // Empty dest for the next input.
  banger::UniqueFd dir(open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  BANGER_FUZZ_CHECK(dir.valid());
  std::vector<std::string> names;
  DIR* d = opendir(dest.c_str());
  BANGER_FUZZ_CHECK(d != nullptr);
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
  }
  closedir(d);
  for (const std::string& n : names) BANGER_FUZZ_CHECK(!RemoveTree(dir.get(), n).failed());
  return 0;
}
