// `banger-agent cp-in [--chown UID:GID|keep] DEST`: a framed tar stream on stdin
// extracted under the directory DEST (docs/adr/0022-vm-cp-wire-format.md).
//
// stdin: [u32 BE length L, 1..1 MiB][L bytes of tar]... [u32 0][32 bytes sha256].
// Every entry is written into DEST/.banger-cp-<random>/ first, through
// openat(O_NOFOLLOW) walks that refuse a symlink on the way; only when the
// tar ended, the terminator arrived and the digest matched is anything
// renamed into place (cp_commit.cc). Any failure removes the staging
// directory and leaves DEST as it was. A guest crash in the middle of the
// commit can leave a .banger-cp-* directory and part of the entries in place.
// libarchive supplies only the tar format reader.
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cp.h"
#include "cp_in_internal.h"

namespace banger::agent::cp {
namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

// The frame layer under libarchive's reader: payload bytes out, framing,
// length and digest checked, the first error kept.
class FrameIn {
 public:
  explicit FrameIn(int fd) : fd_(fd), buf_(kBufSize) {}

  static la_ssize_t ReadCb(archive* /*a*/, void* client, const void** out) {
    auto* self = static_cast<FrameIn*>(client);
    la_ssize_t n = self->Next();
    *out = self->buf_.data();
    return n;
  }

  // Payload bytes into buf_: > 0 bytes, 0 after the terminator, -1 on error.
  la_ssize_t Next() {
    if (err_.failed()) return -1;
    if (done_) return 0;
    while (left_ == 0) {
      uint8_t hdr[4];
      ssize_t r = ReadFull(fd_, hdr, sizeof(hdr));
      if (r < 0) return Fail(ErrnoError("read stdin", errno));
      if (r < 4) return Fail(MakeError("invalid", "the stream ended before its terminator"));
      uint32_t len = (uint32_t{hdr[0]} << 24) | (uint32_t{hdr[1]} << 16) | (uint32_t{hdr[2]} << 8) | hdr[3];
      if (len == 0) {
        r = ReadFull(fd_, sent_digest_.data(), sent_digest_.size());
        if (r < 0) return Fail(ErrnoError("read stdin", errno));
        if (static_cast<size_t>(r) < sent_digest_.size()) {
          return Fail(MakeError("invalid", "the stream ended inside its terminator"));
        }
        done_ = true;
        return 0;
      }
      if (len > kMaxFrame) {
        return Fail(
            MakeError("invalid", "a frame of " + std::to_string(len) + " bytes (the limit is 1 MiB)"));
      }
      left_ = len;
    }
    ssize_t r = ReadFull(fd_, buf_.data(), std::min<size_t>(left_, buf_.size()));
    if (r < 0) return Fail(ErrnoError("read stdin", errno));
    if (r == 0) return Fail(MakeError("invalid", "the stream ended inside a frame"));
    left_ -= static_cast<uint32_t>(r);
    sha_.Update(buf_.data(), static_cast<size_t>(r));
    bytes_ += static_cast<uint64_t>(r);
    return r;
  }

  // Reads what the tar reader left (its end blocks' padding) up to the terminator.
  Error Drain() {
    while (Next() > 0) {
    }
    return err_;
  }

  // After Drain: the digest check.
  Error Verify(std::string* hex) {
    auto digest = sha_.Digest();
    *hex = Hex(digest.data(), digest.size());
    if (digest != sent_digest_) return MakeError("invalid", "the tar's sha256 does not match its terminator");
    return {};
  }

  const Error& error() const { return err_; }
  uint64_t bytes() const { return bytes_; }

 private:
  la_ssize_t Fail(Error e) {
    err_ = std::move(e);
    return -1;
  }

  int fd_;
  std::vector<char> buf_;
  uint32_t left_ = 0;
  bool done_ = false;
  Sha256 sha_;
  uint64_t bytes_ = 0;
  std::array<uint8_t, SHA256_DIGEST_SIZE> sent_digest_{};
  Error err_;
};

struct DirMeta {
  std::vector<std::string> comps;
  mode_t mode;
  timespec mtime;
  uid_t uid;  // the archive's owner (--chown keep)
  gid_t gid;
};

class Extractor {
 public:
  Extractor(int stage, std::string dest_guest, const WalkOptions& own)
      : stage_(stage), dest_guest_(std::move(dest_guest)), own_(own), buf_(kBufSize) {}

  Error Entry(archive* a, archive_entry* e);
  Error FinishDirs();
  uint64_t entries() const { return entries_; }

 private:
  mode_t Mode(archive_entry* e) const {
    return static_cast<mode_t>(archive_entry_perm(e)) & (own_.chown || own_.keep ? 07777 : 01777);
  }
  Error Apply(int fd, archive_entry* e, const std::string& guest);
  Error MakeRoom(int parent, const std::string& leaf, bool for_dir, const std::string& guest, bool* is_dir);
  Error WriteFile(archive* a, int parent, const std::string& leaf, archive_entry* e,
                  const std::string& guest);

  int stage_;
  std::string dest_guest_;
  WalkOptions own_;
  std::vector<char> buf_;
  uint64_t entries_ = 0;
  std::vector<DirMeta> dirs_;
  // The last entry's parent directory, reused by its siblings.
  std::vector<std::string> parent_comps_;
  UniqueFd parent_;
};

Error Extractor::Apply(int fd, archive_entry* e, const std::string& guest) {
  if (own_.chown && fchown(fd, own_.uid, own_.gid) != 0) return ErrnoError(guest, errno);
  if (own_.keep &&
      fchown(fd, static_cast<uid_t>(archive_entry_uid(e)), static_cast<gid_t>(archive_entry_gid(e))) != 0)
    return ErrnoError(guest, errno);
  if (fchmod(fd, Mode(e)) != 0) return ErrnoError(guest, errno);
  timespec times[2] = {{0, UTIME_OMIT}, {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
  if (futimens(fd, times) != 0) return ErrnoError(guest, errno);
  return {};
}

// A later entry of the same name replaces an earlier one (tar semantics),
// except that a directory is never replaced by a non-directory.
Error Extractor::MakeRoom(int parent, const std::string& leaf, bool for_dir, const std::string& guest,
                          bool* is_dir) {
  *is_dir = false;
  struct stat st = {};
  if (fstatat(parent, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Error{} : ErrnoError(guest, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    if (!for_dir) return MakeError("invalid", guest + ": a non-directory entry replaces a directory entry");
    *is_dir = true;
    return {};
  }
  if (unlinkat(parent, leaf.c_str(), 0) != 0) return ErrnoError(guest, errno);
  return {};
}

Error Extractor::WriteFile(archive* a, int parent, const std::string& leaf, archive_entry* e,
                           const std::string& guest) {
  UniqueFd fd(openat(parent, leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError(guest, errno);
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf_.data(), buf_.size());
    if (n < 0) {
      const char* msg = archive_error_string(a);
      return MakeError("invalid", guest + ": " + (msg != nullptr ? msg : "bad tar data"));
    }
    if (n == 0) break;
    if (!WriteAll(fd.get(), buf_.data(), static_cast<size_t>(n))) return ErrnoError(guest, errno);
  }
  return Apply(fd.get(), e, guest);
}

Error Extractor::Entry(archive* a, archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  if (raw == nullptr) return MakeError("invalid", "a tar entry without a readable name");
  std::string name = raw;
  if (name.size() > kMaxName) return MakeError("too_large", "a tar entry name is longer than 4096 bytes");
  if (++entries_ > kMaxEntries) return MakeError("too_large", "the tar has more than 1000000 entries");
  std::vector<std::string> comps;
  if (Error err = SplitName(name, &comps); err.failed()) return err;
  mode_t type = archive_entry_filetype(e);
  const char* hardlink = archive_entry_hardlink(e);
  if (comps.empty()) {
    // "." (or "./"): DEST itself, whose own metadata stays.
    if (type == AE_IFDIR && hardlink == nullptr) return {};
    return MakeError("invalid", "tar entry " + name + ": names the destination itself");
  }
  std::string guest = dest_guest_ + "/" + name;
  std::vector<std::string> parent_comps(comps.begin(), comps.end() - 1);
  if (!parent_.valid() || parent_comps != parent_comps_) {
    parent_.Reset();
    WalkOptions create = own_;
    create.create = true;
    if (Error err = OpenDirBeneath(stage_, parent_comps, parent_comps.size(), create, guest, &parent_);
        err.failed()) {
      return err;
    }
    parent_comps_ = std::move(parent_comps);
  }
  const std::string& leaf = comps.back();
  bool is_dir = false;
  if (hardlink != nullptr) {
    std::vector<std::string> target;
    if (Error err = SplitName(hardlink, &target); err.failed()) return err;
    if (target.empty() || target == comps) return MakeError("invalid", guest + ": a hard link to itself");
    UniqueFd tparent;
    if (Error err = OpenDirBeneath(stage_, target, target.size() - 1, {}, guest, &tparent); err.failed()) {
      return err;
    }
    struct stat st = {};
    if (fstatat(tparent.get(), target.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode)) {
      return MakeError("invalid",
                       guest + ": a hard link to " + hardlink + ", which is no earlier file in the tar");
    }
    if (Error err = MakeRoom(parent_.get(), leaf, false, guest, &is_dir); err.failed()) return err;
    if (linkat(tparent.get(), target.back().c_str(), parent_.get(), leaf.c_str(), 0) != 0) {
      return ErrnoError(guest, errno);
    }
    return {};
  }
  switch (type) {
    case AE_IFREG:
      if (Error err = MakeRoom(parent_.get(), leaf, false, guest, &is_dir); err.failed()) return err;
      return WriteFile(a, parent_.get(), leaf, e, guest);
    case AE_IFDIR: {
      if (Error err = MakeRoom(parent_.get(), leaf, true, guest, &is_dir); err.failed()) return err;
      if (!is_dir && mkdirat(parent_.get(), leaf.c_str(), 0700) != 0) return ErrnoError(guest, errno);
      dirs_.push_back(DirMeta{std::move(comps),
                              Mode(e),
                              {archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                              static_cast<uid_t>(archive_entry_uid(e)),
                              static_cast<gid_t>(archive_entry_gid(e))});
      return {};
    }
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (target == nullptr || *target == '\0')
        return MakeError("invalid", guest + ": a symlink without a target");
      if (Error err = MakeRoom(parent_.get(), leaf, false, guest, &is_dir); err.failed()) return err;
      if (symlinkat(target, parent_.get(), leaf.c_str()) != 0) return ErrnoError(guest, errno);
      if (own_.chown && fchownat(parent_.get(), leaf.c_str(), own_.uid, own_.gid, AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoError(guest, errno);
      }
      if (own_.keep && fchownat(parent_.get(), leaf.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                                static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoError(guest, errno);
      }
      timespec times[2] = {{0, UTIME_OMIT}, {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
      if (utimensat(parent_.get(), leaf.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        return ErrnoError(guest, errno);
      return {};
    }
    default:
      return MakeError("invalid", guest + ": device, fifo and socket entries are refused");
  }
}

// Directory metadata last (children first), so writing their entries did
// not change their mtime and a read-only mode did not get in the way.
Error Extractor::FinishDirs() {
  parent_.Reset();
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    std::string guest = dest_guest_;
    for (const std::string& c : it->comps) guest += "/" + c;
    UniqueFd fd;
    if (Error err = OpenDirBeneath(stage_, it->comps, it->comps.size(), {}, guest, &fd); err.failed())
      return err;
    if (own_.chown && fchown(fd.get(), own_.uid, own_.gid) != 0) return ErrnoError(guest, errno);
    if (own_.keep && fchown(fd.get(), it->uid, it->gid) != 0) return ErrnoError(guest, errno);
    if (fchmod(fd.get(), it->mode) != 0) return ErrnoError(guest, errno);
    timespec times[2] = {{0, UTIME_OMIT}, it->mtime};
    if (futimens(fd.get(), times) != 0) return ErrnoError(guest, errno);
  }
  return {};
}

bool ParseId(const std::string& s, uint32_t* out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > 0xfffffffeULL) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// Removes the staging directory however the run ends.
struct StageGuard {
  int dest;
  std::string name;
  ~StageGuard() {
    if (!name.empty()) (void)RemoveTree(dest, name);
  }
};

}  // namespace

Error CpInFromFd(int in_fd, const std::string& dest_path, const WalkOptions& own, std::string* ok_line) {
  UniqueFd dest(open(dest_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dest.valid()) return ErrnoError(dest_path, errno);
  uint8_t rnd[8];
  if (getrandom(rnd, sizeof(rnd), 0) != static_cast<ssize_t>(sizeof(rnd)))
    return ErrnoError("getrandom", errno);
  std::string stage_name = ".banger-cp-" + Hex(rnd, sizeof(rnd));
  std::string guest = dest_path == "/" ? "" : dest_path;
  if (mkdirat(dest.get(), stage_name.c_str(), 0700) != 0) return ErrnoError(guest + "/" + stage_name, errno);
  StageGuard guard{dest.get(), stage_name};
  UniqueFd stage(openat(dest.get(), stage_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!stage.valid()) return ErrnoError(guest + "/" + stage_name, errno);

  FrameIn in(in_fd);
  std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
  if (!a || archive_read_support_format_tar(a.get()) != ARCHIVE_OK ||
      archive_read_open(a.get(), &in, nullptr, &FrameIn::ReadCb, nullptr) != ARCHIVE_OK) {
    if (in.error().failed()) return in.error();
    const char* msg = a ? archive_error_string(a.get()) : nullptr;
    return MakeError("invalid", std::string("not a tar stream: ") + (msg != nullptr ? msg : "unreadable"));
  }
  Extractor x(stage.get(), guest, own);
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      if (in.error().failed()) return in.error();
      const char* msg = archive_error_string(a.get());
      return MakeError("invalid", std::string("bad tar: ") + (msg != nullptr ? msg : "unreadable header"));
    }
    if (Error err = x.Entry(a.get(), e); err.failed()) return in.error().failed() ? in.error() : err;
  }
  if (Error err = in.Drain(); err.failed()) return err;
  std::string hex;
  if (Error err = in.Verify(&hex); err.failed()) return err;
  if (Error err = x.FinishDirs(); err.failed()) return err;
  if (Error err = CommitStaged(dest.get(), stage.get(), guest); err.failed()) return err;
  *ok_line = "banger-cp ok sha256=" + hex + " bytes=" + std::to_string(in.bytes()) +
             " entries=" + std::to_string(x.entries());
  return {};
}

int RunCpIn(int argc, char** argv) {
  static constexpr const char* kUsage = "usage: banger-agent cp-in [--chown UID:GID|keep] /ABSOLUTE/DIR\n";
  WalkOptions own;
  std::string dest;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--chown" && i + 1 < argc && !own.chown && !own.keep) {
      std::string v = argv[++i];
      if (v == "keep") {
        own.keep = true;
        continue;
      }
      size_t colon = v.find(':');
      uint32_t uid = 0;
      uint32_t gid = 0;
      if (colon == std::string::npos || !ParseId(v.substr(0, colon), &uid) ||
          !ParseId(v.substr(colon + 1), &gid)) {
        fprintf(stderr, "%s", kUsage);
        return 2;
      }
      own.chown = true;
      own.uid = uid;
      own.gid = gid;
    } else if (dest.empty() && !arg.empty() && arg[0] == '/') {
      dest = arg;
    } else {
      fprintf(stderr, "%s", kUsage);
      return 2;
    }
  }
  if (dest.empty()) {
    fprintf(stderr, "%s", kUsage);
    return 2;
  }
  while (dest.size() > 1 && dest.back() == '/') dest.pop_back();
  std::string ok;
  Error err = CpInFromFd(STDIN_FILENO, dest, own, &ok);
  if (err.failed()) return Report(err);
  printf("%s\n", ok.c_str());
  fflush(stdout);
  return 0;
}

}  // namespace banger::agent::cp
