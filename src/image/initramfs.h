// The guest initramfs: a gzip-compressed newc cpio archive (the format the
// kernel unpacks into its initial rootfs), written with libarchive so no
// root privileges, staging directory or external cpio are needed.
//
// Layout of the archive WriteInitramfs produces:
//   /init                       the guest init (guest/init/init.sh), 0755
//   /bin/busybox + applet links what the init script calls
//   /bin/banger-agent           the static guest agent, copied into the root
//                               filesystem and started by /init
//   /lib/modules/<kver>/...     the module files, as in the kernel package
//   /lib/banger/modules         their absolute paths, one a line, load order
//   /lib/banger/modules-9p      the same for the 9p modules (host folders),
//                               only when the kernel has 9p
//   /lib/banger/oci             "1\n", only for an OCI image's root
//                               (InitramfsSpec::oci_root)
//   /dev/console, /dev/null     for the kernel's console before /init mounts
//                               devtmpfs, and for the shell once /init has
//                               moved devtmpfs into the new root
// Every entry is owned by root:root with a fixed mtime, so the same inputs
// give the same archive.
//
// CpioWriter is not thread-safe; separate writers are independent.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "image/modules.h"

struct archive;

namespace banger {

class CpioWriter {
 public:
  // Creates (truncates) `path` and starts a gzip-compressed newc archive.
  static Result<CpioWriter> Create(const std::string& path);

  CpioWriter(CpioWriter&&) noexcept;
  CpioWriter& operator=(CpioWriter&&) noexcept;
  ~CpioWriter();

  // Paths are absolute inside the archive ("/bin/sh"). Missing parent
  // directories are added (0755) first; adding a path twice is an error.
  Status AddDirectory(const std::string& path, mode_t perm = 0755);
  Status AddFile(const std::string& path, std::string_view data, mode_t perm);
  Status AddSymlink(const std::string& path, const std::string& target);
  Status AddCharDevice(const std::string& path, mode_t perm, unsigned major, unsigned minor);

  // Writes the trailer and closes the file. Required: without it the archive
  // is truncated.
  Status Finish();

 private:
  struct ArchiveDeleter {
    void operator()(archive* a) const;
  };
  CpioWriter(std::unique_ptr<archive, ArchiveDeleter> a, std::string path);
  Status AddParents(const std::string& path);
  Status AddEntry(const std::string& path, unsigned type, mode_t perm, std::string_view data,
                  const std::string& symlink, unsigned rdev_major, unsigned rdev_minor);

  std::unique_ptr<archive, ArchiveDeleter> archive_;
  std::string path_;
  std::set<std::string> added_;  // archive paths written so far
  long next_ino_ = 1;
};

// Applets the init script calls; each becomes /bin/<applet> -> busybox.
const std::vector<std::string>& InitramfsApplets();

// True if an ELF file names a program interpreter (is dynamically linked).
// An initramfs has no libc, so its busybox and agent must be static.
Result<bool> IsDynamicElf(std::string_view elf);

struct InitramfsSpec {
  std::string init_script;          // contents of /init
  std::string busybox_path;         // host path of a static busybox
  std::string agent_path;           // host path of the static banger-agent
  std::string modules_root;         // host directory holding lib/modules/<kver>
  std::string kernel_version;       // <kver>
  std::vector<ModuleFile> modules;  // load order (ModuleIndex::Resolve)
  // What 9p (host folders) needs beyond `modules`, in load order; written to
  // /lib/banger/modules-9p, which the init loads only for a VM with mounts.
  // nullopt: the kernel has no 9p, and the file is not written.
  std::optional<std::vector<ModuleFile>> mount_modules;
  // An OCI image's root (no init of its own): writes /lib/banger/oci, and the
  // guest init then makes the agent PID 1 of the new root
  // (`banger-agent --pid1`) instead of exec'ing the image's /sbin/init.
  bool oci_root = false;
};

// Writes the initramfs described above to out_path.
Status WriteInitramfs(const std::string& out_path, const InitramfsSpec& spec);

}  // namespace banger
