#include "cli/cp_local.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

namespace banger {
namespace {

struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

Error ArchiveErr(const std::string& what, archive* a) {
  const char* m = archive_error_string(a);
  return Error::Invalid(what + ": " + (m ? m : "archive error"));
}

bool IsVmNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.';
}

// The tar stream the host writes goes out in chunks of this size.
constexpr size_t kOutChunk = 256 * 1024;

struct TarSink {
  const std::function<Status(std::string_view)>* out;
  std::string buf;
  std::optional<Error> failed;
};

la_ssize_t SinkWrite(archive* /*a*/, void* client, const void* data, size_t n) {
  auto* s = static_cast<TarSink*>(client);
  if (s->failed) return -1;
  s->buf.append(static_cast<const char*>(data), n);
  if (s->buf.size() >= kOutChunk) {
    Status st = (*s->out)(s->buf);
    s->buf.clear();
    if (!st.ok()) {
      s->failed = st.error();
      return -1;
    }
  }
  return static_cast<la_ssize_t>(n);
}

struct TarSource {
  const std::function<Result<std::string>()>* read;
  std::string buf;
  std::optional<Error> failed;
};

la_ssize_t SourceRead(archive* /*a*/, void* client, const void** data) {
  auto* s = static_cast<TarSource*>(client);
  auto r = (*s->read)();
  if (!r.ok()) {
    s->failed = r.error();
    return -1;
  }
  s->buf = std::move(*r);
  *data = s->buf.data();
  return static_cast<la_ssize_t>(s->buf.size());
}

// Moves `staged` to `final`, merging directories into existing ones.
Status MergeInto(const std::string& staged, const std::string& final) {
  struct stat fs {};
  struct stat ss {};
  if (::lstat(staged.c_str(), &ss) != 0) return Error::FromErrno("reading " + staged);
  if (::lstat(final.c_str(), &fs) != 0) {
    if (errno != ENOENT) return Error::FromErrno("reading " + final);
    if (::rename(staged.c_str(), final.c_str()) != 0) return Error::FromErrno("moving into place " + final);
    return OkStatus();
  }
  bool sdir = S_ISDIR(ss.st_mode), fdir = S_ISDIR(fs.st_mode);
  if (sdir && fdir) {
    std::vector<std::string> names;
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(staged.c_str()), ::closedir);
    if (!d) return Error::FromErrno("reading " + staged);
    while (dirent* e = ::readdir(d.get())) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    for (const auto& n : names) BANGER_RETURN_IF_ERROR(MergeInto(staged + "/" + n, final + "/" + n));
    return OkStatus();
  }
  if (sdir) return Error::Conflict("cannot overwrite non-directory " + final + " with a directory");
  if (fdir) return Error::Conflict("cannot overwrite directory " + final + " with a non-directory");
  if (::rename(staged.c_str(), final.c_str()) != 0) return Error::FromErrno("moving into place " + final);
  return OkStatus();
}

}  // namespace

Result<CpEndpoint> ParseCpEndpoint(const std::string& arg) {
  CpEndpoint e;
  if (arg.empty()) return Error::Invalid("empty path");
  if (arg == "-") {
    e.stdio = true;
    return e;
  }
  size_t colon = arg.find(':');
  // docker's rule: a colon after a leading name that is not a path.
  if (colon != std::string::npos && colon > 0 && arg[0] != '/' && arg[0] != '.') {
    std::string name = arg.substr(0, colon);
    bool ok = true;
    for (char c : name) ok = ok && IsVmNameChar(c);
    if (ok) {
      e.vm = true;
      e.vm_ref = name;
      e.path = arg.substr(colon + 1);
      if (e.path.empty() || e.path.front() != '/') {
        return Error::Invalid("guest path \"" + e.path + "\" in " + arg + " must be absolute");
      }
      if (e.path.find('\0') != std::string::npos || e.path.size() > 4096)
        return Error::Invalid("bad guest path in " + arg);
      return e;
    }
  }
  e.path = arg;
  return e;
}

Status CheckCpPair(const CpEndpoint& src, const CpEndpoint& dst) {
  if (src.vm == dst.vm) {
    return Error::Invalid(src.vm ? "copying between two VMs is not supported; copy through the host"
                                 : "one of SRC and DST must be VM:PATH");
  }
  if ((src.stdio && dst.vm == false) || (dst.stdio && src.vm == false)) {
    return Error::Invalid("\"-\" (a tar stream) needs VM:PATH on the other side");
  }
  return OkStatus();
}

bool IsContentsPath(const std::string& path) {
  return path == "." || (path.size() >= 2 && path.compare(path.size() - 2, 2, "/.") == 0);
}

std::string TrimCpPath(const std::string& path) {
  std::string p = path;
  if (IsContentsPath(p)) p.resize(p.size() - 1);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p.empty() ? "." : p;
}

std::string CpBaseName(const std::string& path) {
  std::string p = TrimCpPath(path);
  if (p == "/") return ".";
  size_t s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

std::string CpDirName(const std::string& path) {
  std::string p = TrimCpPath(path);
  size_t s = p.rfind('/');
  if (s == std::string::npos) return ".";
  return s == 0 ? "/" : p.substr(0, s);
}

Result<CpInPlan> PlanCopyIn(const std::string& src, bool src_is_dir, const std::string& dst,
                            const std::optional<std::string>& dst_type) {
  const bool contents = IsContentsPath(src) && src_is_dir;
  std::string d = TrimCpPath(dst);
  if (dst_type && *dst_type == "dir") {
    if (contents) return CpInPlan{d, ""};
    std::string name = CpBaseName(src);
    if (name == "." || name == "..") return Error::Invalid("cannot name the copy of " + src + "; use SRC/.");
    return CpInPlan{d, name};
  }
  if (!dst_type && !dst.empty() && dst.back() == '/' && !src_is_dir) {
    return Error::NotFound("destination directory " + dst + " does not exist in the guest");
  }
  if (dst_type && src_is_dir) return Error::Conflict("cannot copy a directory onto the file " + dst);
  if (d == "/") return Error::Invalid("cannot replace / in the guest");
  return CpInPlan{CpDirName(d), CpBaseName(d)};
}

Status WriteHostTar(const std::string& src, bool follow, const std::string& top_name,
                    const std::function<Status(std::string_view)>& out, int* skipped) {
  const std::string root = TrimCpPath(src);
  // Declared before the archive: freeing an archive that was not closed
  // flushes into the sink, which must still exist and then send nothing.
  TarSink sink{&out, {}, {}};
  std::unique_ptr<archive, ReadFree> disk(archive_read_disk_new());
  std::unique_ptr<archive, WriteFree> w(archive_write_new());
  bool finished = false;
  struct Abandon {
    TarSink& sink;
    const bool& finished;
    ~Abandon() {
      if (!finished && !sink.failed) sink.failed = Error::Internal("abandoned");
    }
  } abandon{sink, finished};
  if (!disk || !w) return Error::Internal("libarchive: out of memory");
  if (follow) {
    archive_read_disk_set_symlink_hybrid(disk.get());
  } else {
    archive_read_disk_set_symlink_physical(disk.get());
  }
  archive_read_disk_set_behavior(
      disk.get(), ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL | ARCHIVE_READDISK_NO_FFLAGS);
  // Full pax: mtimes keep their nanoseconds (pax_restricted drops them).
  archive_write_set_format_pax(w.get());
  archive_write_set_bytes_per_block(w.get(), 64 * 1024);
  archive_write_set_bytes_in_last_block(w.get(), 1);
  if (archive_write_open(w.get(), &sink, nullptr, SinkWrite, nullptr) != ARCHIVE_OK)
    return ArchiveErr("writing the archive", w.get());
  if (archive_read_disk_open(disk.get(), root.c_str()) != ARCHIVE_OK) {
    return Error::NotFound("reading " + src + ": " + (archive_error_string(disk.get()) ?: "no such file"));
  }
  std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
  std::vector<char> buf(256 * 1024);
  for (;;) {
    archive_entry_clear(e.get());
    int r = archive_read_next_header2(disk.get(), e.get());
    if (r == ARCHIVE_EOF) break;
    if (r == ARCHIVE_FATAL) return ArchiveErr("reading " + src, disk.get());
    std::string name = archive_entry_pathname(e.get()) ? archive_entry_pathname(e.get()) : "";
    if (archive_read_disk_can_descend(disk.get())) archive_read_disk_descend(disk.get());
    if (r == ARCHIVE_WARN && archive_entry_pathname(e.get()) == nullptr) continue;
    std::string rel;
    if (name == root) {
      rel = "";
    } else if (name.compare(0, root.size() + 1, root + "/") == 0) {
      rel = name.substr(root.size() + 1);
    } else if (root == "/" && !name.empty() && name[0] == '/') {
      rel = name;
    } else {
      return Error::Internal("reading " + src + ": unexpected path " + name);
    }
    std::string out_name = top_name.empty() ? rel : (rel.empty() ? top_name : top_name + "/" + rel);
    if (out_name.empty()) continue;  // the directory itself, when only its contents go
    auto type = archive_entry_filetype(e.get());
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
      if (skipped) ++*skipped;
      continue;
    }
    archive_entry_set_pathname(e.get(), out_name.c_str());
    archive_entry_unset_atime(e.get());
    archive_entry_unset_ctime(e.get());
    archive_entry_unset_birthtime(e.get());
    archive_entry_set_uname(e.get(), nullptr);
    archive_entry_set_gname(e.get(), nullptr);
    if (archive_write_header(w.get(), e.get()) != ARCHIVE_OK) {
      if (sink.failed) return *sink.failed;
      return ArchiveErr("writing the archive of " + src, w.get());
    }
    if (type != AE_IFREG || archive_entry_size(e.get()) == 0) continue;
    // Read as the calling user: the file is opened here, never by the daemon.
    std::string path = name;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ELOOP && follow && name == root) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error::FromErrno("reading " + path);
    int64_t left = archive_entry_size(e.get());
    Status st;
    while (left > 0) {
      ssize_t n = ::read(fd, buf.data(), std::min<size_t>(buf.size(), static_cast<size_t>(left)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        st = Error::FromErrno("reading " + path);
        break;
      }
      if (n == 0) {
        st = Error::Conflict(path + " shrank while being read");
        break;
      }
      if (archive_write_data(w.get(), buf.data(), static_cast<size_t>(n)) != n) {
        st = sink.failed ? *sink.failed : ArchiveErr("writing the archive of " + src, w.get());
        break;
      }
      left -= n;
    }
    ::close(fd);
    BANGER_RETURN_IF_ERROR(st);
  }
  if (archive_write_close(w.get()) != ARCHIVE_OK) {
    if (sink.failed) return *sink.failed;
    return ArchiveErr("writing the archive of " + src, w.get());
  }
  if (!sink.buf.empty()) BANGER_RETURN_IF_ERROR(out(sink.buf));
  finished = true;
  return OkStatus();
}

Result<std::unique_ptr<StagedExtract>> StagedExtract::Begin(const std::string& dst,
                                                            const std::string& src_name, bool contents) {
  std::unique_ptr<StagedExtract> x(new StagedExtract());
  x->contents_ = contents;
  std::string d = TrimCpPath(dst);
  struct stat st {};
  std::string parent;
  if (::stat(d.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    parent = d;
    x->final_ = contents ? d : (d == "/" ? "" : d) + "/" + src_name;
    if (!contents && (src_name == "." || src_name == "..")) {
      return Error::Invalid("cannot name the copy of the guest's / ; use VM:/. to copy its contents");
    }
  } else if (::lstat(d.c_str(), &st) == 0) {
    if (contents) return Error::Conflict("cannot copy a directory's contents onto the file " + dst);
    parent = CpDirName(d);
    x->final_ = d;
  } else {
    if (errno != ENOENT) return Error::FromErrno("reading " + dst);
    if (!dst.empty() && dst.back() == '/')
      return Error::NotFound("destination directory " + dst + " does not exist");
    parent = CpDirName(d);
    struct stat ps {};
    if (::stat(parent.c_str(), &ps) != 0 || !S_ISDIR(ps.st_mode)) {
      return Error::NotFound("destination directory " + parent + " does not exist");
    }
    x->final_ = d;
    x->contents_ = false;  // the copied directory becomes DST
  }
  std::string tmpl = parent + "/.banger-cp-XXXXXX";
  std::vector<char> t(tmpl.begin(), tmpl.end());
  t.push_back('\0');
  if (::mkdtemp(t.data()) == nullptr) return Error::FromErrno("creating a staging directory in " + parent);
  x->staging_ = t.data();
  return x;
}

StagedExtract::~StagedExtract() {
  if (staging_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(staging_, ec);
}

Status StagedExtract::Extract(const std::function<Result<std::string>()>& read) {
  std::unique_ptr<archive, ReadFree> a(archive_read_new());
  std::unique_ptr<archive, WriteFree> disk(archive_write_disk_new());
  if (!a || !disk) return Error::Internal("libarchive: out of memory");
  archive_read_support_format_tar(a.get());
  archive_write_disk_set_options(
      disk.get(), ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                      ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM);
  TarSource src{&read, {}, {}};
  if (archive_read_open(a.get(), &src, nullptr, SourceRead, nullptr) != ARCHIVE_OK) {
    if (src.failed) return *src.failed;
    return ArchiveErr("reading the guest's archive", a.get());
  }
  // Entries are extracted relative to the staging directory.
  int cwd = ::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cwd < 0) return Error::FromErrno("opening the current directory");
  if (::chdir(staging_.c_str()) != 0) {
    ::close(cwd);
    return Error::FromErrno("entering " + staging_);
  }
  Status result;
  std::string top;
  auto rename_entry = [&top](const char* name, std::string& out) -> bool {
    std::string n = name ? name : "";
    while (n.size() > 1 && n.back() == '/') n.pop_back();
    if (n == top) {
      out = "t";
    } else if (n.compare(0, top.size() + 1, top + "/") == 0) {
      out = "t/" + n.substr(top.size() + 1);
    } else {
      return false;
    }
    return true;
  };
  std::vector<char> buf(256 * 1024);
  for (bool first = true;; first = false) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      result = src.failed ? *src.failed : ArchiveErr("reading the guest's archive", a.get());
      break;
    }
    if (first) {
      top = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
      while (top.size() > 1 && top.back() == '/') top.pop_back();
      if (top.empty()) {
        result = Error::Invalid("the guest's archive starts with an unnamed entry");
        break;
      }
    }
    std::string name, link;
    if (!rename_entry(archive_entry_pathname(e), name)) {
      result = Error::Invalid(std::string("the guest's archive has an entry outside its top: ") +
                              (archive_entry_pathname(e) ?: ""));
      break;
    }
    auto type = archive_entry_filetype(e);
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) continue;  // devices, fifos: skipped
    archive_entry_set_pathname(e, name.c_str());
    if (const char* hl = archive_entry_hardlink(e)) {
      if (!rename_entry(hl, link)) {
        result = Error::Invalid(std::string("the guest's archive links outside its top: ") + hl);
        break;
      }
      archive_entry_set_hardlink(e, link.c_str());
    }
    if (archive_write_header(disk.get(), e) < ARCHIVE_WARN) {
      result = ArchiveErr("extracting " + name, disk.get());
      break;
    }
    if (archive_entry_size(e) > 0 && type == AE_IFREG) {
      for (;;) {
        la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
        if (n == 0) break;
        if (n < 0) {
          result = src.failed ? *src.failed : ArchiveErr("reading the guest's archive", a.get());
          break;
        }
        if (archive_write_data(disk.get(), buf.data(), static_cast<size_t>(n)) != n) {
          result = ArchiveErr("writing " + name, disk.get());
          break;
        }
      }
      if (!result.ok()) break;
    }
    if (archive_write_finish_entry(disk.get()) < ARCHIVE_WARN) {
      result = ArchiveErr("writing " + name, disk.get());
      break;
    }
  }
  if (result.ok() && top.empty()) result = Error::Invalid("the guest's archive is empty");
  // Directory times and modes are fixed up here (they were deferred).
  if (result.ok() && archive_write_close(disk.get()) != ARCHIVE_OK) {
    result = ArchiveErr("finishing the extraction", disk.get());
  }
  if (::fchdir(cwd) != 0 && result.ok()) result = Error::FromErrno("returning to the current directory");
  ::close(cwd);
  return result;
}

Status StagedExtract::Commit() {
  std::string staged = staging_ + "/t";
  struct stat st {};
  if (::lstat(staged.c_str(), &st) != 0) return Error::Internal("nothing was extracted");
  if (contents_ && !S_ISDIR(st.st_mode)) return Error::Invalid("the guest's source is not a directory");
  BANGER_RETURN_IF_ERROR(MergeInto(staged, final_));
  committed_ = true;
  return OkStatus();
}

}  // namespace banger
