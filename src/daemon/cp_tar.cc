#include "daemon/cp_tar.h"

#include <archive.h>
#include <archive_entry.h>

#include <ctime>
#include <memory>

namespace banger {
namespace {

struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

la_ssize_t AppendToString(archive* /*a*/, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

Error ArchiveError(const std::string& what, archive* a) {
  const char* m = archive_error_string(a);
  return Error::Invalid(what + ": " + (m ? m : "libarchive error"));
}

}  // namespace

Result<std::string> SingleFileTar(const std::string& name, const std::string& data, unsigned mode) {
  if (name.empty() || name.find('/') != std::string::npos)
    return Error::Invalid("bad file name \"" + name + "\"");
  std::string out;
  std::unique_ptr<archive, ArchiveWriteFree> a(archive_write_new());
  if (!a) return Error::Internal("archive_write_new failed");
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open(a.get(), &out, nullptr, AppendToString, nullptr) != ARCHIVE_OK)
    return ArchiveError("building the file's archive", a.get());
  std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), static_cast<mode_t>(mode & 07777));
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  archive_entry_set_mtime(e.get(), now.tv_sec, now.tv_nsec);
  if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK)
    return ArchiveError("building the file's archive", a.get());
  if (!data.empty() &&
      archive_write_data(a.get(), data.data(), data.size()) != static_cast<la_ssize_t>(data.size()))
    return ArchiveError("building the file's archive", a.get());
  if (archive_write_close(a.get()) != ARCHIVE_OK) return ArchiveError("building the file's archive", a.get());
  return out;
}

Result<std::string> SingleFileFromTar(const std::string& tar, int64_t max_bytes) {
  std::unique_ptr<archive, ArchiveReadFree> a(archive_read_new());
  if (!a) return Error::Internal("archive_read_new failed");
  archive_read_support_format_tar(a.get());
  if (archive_read_open_memory(a.get(), tar.data(), tar.size()) != ARCHIVE_OK)
    return ArchiveError("reading the guest's archive", a.get());
  archive_entry* e = nullptr;
  if (archive_read_next_header(a.get(), &e) != ARCHIVE_OK)
    return ArchiveError("reading the guest's archive", a.get());
  if (archive_entry_filetype(e) != AE_IFREG)
    return Error::Invalid("the guest's archive holds no regular file");
  if (archive_entry_size(e) > max_bytes) return Error::Invalid("the guest's file is larger than the limit");
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
    if (n < 0) return ArchiveError("reading the guest's archive", a.get());
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (static_cast<int64_t>(out.size()) > max_bytes)
      return Error::Invalid("the guest's file is larger than the limit");
  }
  return out;
}

}  // namespace banger
