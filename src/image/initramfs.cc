#include "image/initramfs.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <cstring>

#include "base/fs.h"
#include "image/vmlinux.h"

namespace banger {
namespace {

std::string ArchiveError(archive* a) {
  const char* msg = archive_error_string(a);
  return msg ? msg : "unknown libarchive error";
}

std::string ParentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

template <typename T>
T ReadLe(std::string_view data, size_t off) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<T>(static_cast<unsigned char>(data[off + i])) << (8 * i);
  return v;
}

// Reads a program that must run without a libc.
Result<std::string> ReadStaticProgram(const std::string& what, const std::string& path) {
  BANGER_ASSIGN_OR_RETURN(std::string data, Annotate(ReadFile(path), what));
  BANGER_ASSIGN_OR_RETURN(bool dynamic, Annotate(IsDynamicElf(data), what + " " + path));
  if (dynamic) {
    return Error::Invalid(what + " " + path +
                          " is dynamically linked; the initramfs has no libc, so it must be static");
  }
  return data;
}

// Newer Debian kernels ship modules compressed, which busybox insmod cannot
// load: store those uncompressed. Returns the path to record.
Result<std::string> UncompressModule(const std::string& path, std::string& data) {
  static const std::pair<const char*, KernelCompression> kFormats[] = {
      {".xz", KernelCompression::kXz}, {".zst", KernelCompression::kZstd}, {".gz", KernelCompression::kGzip}};
  for (const auto& [suffix, format] : kFormats) {
    const size_t n = std::strlen(suffix);
    if (path.size() <= n || path.compare(path.size() - n, n, suffix) != 0) continue;
    BANGER_ASSIGN_OR_RETURN(data, DecompressPayload(format, data));
    return path.substr(0, path.size() - n);
  }
  return path;
}

}  // namespace

void CpioWriter::ArchiveDeleter::operator()(archive* a) const { archive_write_free(a); }

CpioWriter::CpioWriter(std::unique_ptr<archive, ArchiveDeleter> a, std::string path)
    : archive_(std::move(a)), path_(std::move(path)) {
  added_.insert("/");
}
CpioWriter::CpioWriter(CpioWriter&&) noexcept = default;
CpioWriter& CpioWriter::operator=(CpioWriter&&) noexcept = default;
CpioWriter::~CpioWriter() = default;

Result<CpioWriter> CpioWriter::Create(const std::string& path) {
  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  if (!a) return Error::Internal("archive_write_new failed");
  if (archive_write_set_format_cpio_newc(a.get()) != ARCHIVE_OK ||
      archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK) {
    return Error::Internal("setting up a gzip newc cpio writer: " + ArchiveError(a.get()));
  }
  if (archive_write_open_filename(a.get(), path.c_str()) != ARCHIVE_OK) {
    return Error::Internal("create " + path + ": " + ArchiveError(a.get()));
  }
  return CpioWriter(std::move(a), path);
}

Status CpioWriter::AddParents(const std::string& path) {
  std::string parent = ParentOf(path);
  if (added_.count(parent)) return OkStatus();
  return AddDirectory(parent);
}

Status CpioWriter::AddEntry(const std::string& path, unsigned type, mode_t perm, std::string_view data,
                            const std::string& symlink, unsigned rdev_major, unsigned rdev_minor) {
  if (!archive_) return Error::Internal("cpio writer for " + path_ + " is finished");
  if (path.size() < 2 || path.front() != '/' || path.back() == '/') {
    return Error::Invalid("cpio entry path must be absolute, without a trailing '/': \"" + path + "\"");
  }
  BANGER_RETURN_IF_ERROR(AddParents(path));
  if (!added_.insert(path).second) return Error::Invalid("cpio entry " + path + " added twice");

  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
  // The kernel unpacks names relative to its rootfs; cpio convention has no
  // leading '/'.
  archive_entry_set_pathname(e.get(), path.c_str() + 1);
  archive_entry_set_filetype(e.get(), type);
  archive_entry_set_perm(e.get(), perm);
  archive_entry_set_uid(e.get(), 0);
  archive_entry_set_gid(e.get(), 0);
  archive_entry_set_mtime(e.get(), 0, 0);
  // Distinct inode numbers and nlink 1 keep the unpacker from treating
  // unrelated files as hard links of each other.
  archive_entry_set_ino(e.get(), next_ino_++);
  archive_entry_set_nlink(e.get(), type == AE_IFDIR ? 2 : 1);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  if (type == AE_IFLNK) archive_entry_set_symlink(e.get(), symlink.c_str());
  if (type == AE_IFCHR) {
    archive_entry_set_rdevmajor(e.get(), rdev_major);
    archive_entry_set_rdevminor(e.get(), rdev_minor);
  }
  if (archive_write_header(archive_.get(), e.get()) != ARCHIVE_OK) {
    return Error::Internal("cpio entry " + path + ": " + ArchiveError(archive_.get()));
  }
  if (!data.empty()) {
    la_ssize_t n = archive_write_data(archive_.get(), data.data(), data.size());
    if (n < 0 || static_cast<size_t>(n) != data.size()) {
      return Error::Internal("cpio entry " + path + ": " + ArchiveError(archive_.get()));
    }
  }
  return OkStatus();
}

Status CpioWriter::AddDirectory(const std::string& path, mode_t perm) {
  return AddEntry(path, AE_IFDIR, perm, {}, "", 0, 0);
}

Status CpioWriter::AddFile(const std::string& path, std::string_view data, mode_t perm) {
  return AddEntry(path, AE_IFREG, perm, data, "", 0, 0);
}

Status CpioWriter::AddSymlink(const std::string& path, const std::string& target) {
  return AddEntry(path, AE_IFLNK, 0777, {}, target, 0, 0);
}

Status CpioWriter::AddCharDevice(const std::string& path, mode_t perm, unsigned major, unsigned minor) {
  return AddEntry(path, AE_IFCHR, perm, {}, "", major, minor);
}

Status CpioWriter::Finish() {
  if (!archive_) return Error::Internal("cpio writer for " + path_ + " is finished");
  int rc = archive_write_close(archive_.get());
  std::string why = rc == ARCHIVE_OK ? "" : ArchiveError(archive_.get());
  archive_.reset();
  if (rc != ARCHIVE_OK) return Error::Internal("closing " + path_ + ": " + why);
  return OkStatus();
}

const std::vector<std::string>& InitramfsApplets() {
  static const std::vector<std::string> applets = {
      "sh",       "cat",    "chmod", "chroot", "cp",    "dmesg",       "echo",  "grep",
      "hostname", "insmod", "ip",    "ln",     "ls",    "mkdir",       "mount", "poweroff",
      "printf",   "reboot", "rm",    "setsid", "sleep", "switch_root", "sync",  "umount",
  };
  return applets;
}

Result<bool> IsDynamicElf(std::string_view elf) {
  constexpr uint32_t kPtInterp = 3;
  if (!IsElf(elf) || elf.size() < 0x40) return Error::Invalid("not an ELF file");
  if (elf[5] != 1) return Error::Invalid("not a little-endian ELF file");
  const bool is64 = elf[4] == 2;
  uint64_t phoff = is64 ? ReadLe<uint64_t>(elf, 0x20) : ReadLe<uint32_t>(elf, 0x1c);
  uint16_t phentsize = ReadLe<uint16_t>(elf, is64 ? 0x36 : 0x2a);
  uint16_t phnum = ReadLe<uint16_t>(elf, is64 ? 0x38 : 0x2c);
  if (phentsize < 4 || phoff > elf.size() || phnum > (elf.size() - phoff) / phentsize) {
    return Error::Invalid("ELF program headers lie outside the file");
  }
  for (uint16_t i = 0; i < phnum; ++i) {
    if (ReadLe<uint32_t>(elf, phoff + size_t{i} * phentsize) == kPtInterp) return true;
  }
  return false;
}

Status WriteInitramfs(const std::string& out_path, const InitramfsSpec& spec) {
  BANGER_ASSIGN_OR_RETURN(std::string busybox, ReadStaticProgram("busybox", spec.busybox_path));
  BANGER_ASSIGN_OR_RETURN(std::string agent, ReadStaticProgram("guest agent", spec.agent_path));
  BANGER_ASSIGN_OR_RETURN(CpioWriter w, CpioWriter::Create(out_path));

  for (const char* dir : {"/dev", "/proc", "/sys", "/tmp", "/newroot", "/mnt"}) {
    BANGER_RETURN_IF_ERROR(w.AddDirectory(dir));
  }
  BANGER_RETURN_IF_ERROR(w.AddCharDevice("/dev/console", 0600, 5, 1));
  BANGER_RETURN_IF_ERROR(w.AddCharDevice("/dev/null", 0666, 1, 3));
  BANGER_RETURN_IF_ERROR(w.AddFile("/bin/busybox", busybox, 0755));
  for (const std::string& applet : InitramfsApplets()) {
    BANGER_RETURN_IF_ERROR(w.AddSymlink("/bin/" + applet, "busybox"));
  }
  BANGER_RETURN_IF_ERROR(w.AddFile("/bin/banger-agent", agent, 0755));
  BANGER_RETURN_IF_ERROR(w.AddFile("/init", spec.init_script, 0755));

  const std::string kmod_dir = "/lib/modules/" + spec.kernel_version;
  auto add_modules = [&](const std::vector<ModuleFile>& modules, const std::string& list) -> Status {
    std::string load_order;
    for (const ModuleFile& m : modules) {
      BANGER_ASSIGN_OR_RETURN(std::string ko, Annotate(ReadFile(spec.modules_root + kmod_dir + "/" + m.path),
                                                       "module " + m.name));
      BANGER_ASSIGN_OR_RETURN(std::string path, Annotate(UncompressModule(m.path, ko), "module " + m.name));
      BANGER_RETURN_IF_ERROR(w.AddFile(kmod_dir + "/" + path, ko, 0644));
      load_order += kmod_dir + "/" + path + "\n";
    }
    return w.AddFile(list, load_order, 0644);
  };
  BANGER_RETURN_IF_ERROR(add_modules(spec.modules, "/lib/banger/modules"));
  if (spec.mount_modules) BANGER_RETURN_IF_ERROR(add_modules(*spec.mount_modules, "/lib/banger/modules-9p"));
  if (spec.oci_root) BANGER_RETURN_IF_ERROR(w.AddFile("/lib/banger/oci", "1\n", 0644));
  return w.Finish();
}

}  // namespace banger
