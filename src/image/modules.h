// Kernel module selection for guest images.
//
// Debian's kernel is modular (virtio, vsock and overlayfs are =m), so the
// initramfs must insmod a handful of modules before it can see its disks.
// Which files, and in which order, comes from the kernel's own modules.dep
// (generated with `depmod -b`), never from a hard-coded list: dependencies
// change between kernel builds.
//
// Everything here is pure (no I/O) and thread-safe.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace banger {

// One loadable module: its name ("virtio_blk") and its path relative to
// lib/modules/<kver> ("kernel/drivers/block/virtio_blk.ko").
struct ModuleFile {
  std::string name;
  std::string path;

  bool operator==(const ModuleFile&) const = default;
};

// The modules the initramfs needs: MMIO discovery, disks, network, the
// virtio-serial agent port, the Firecracker vsock agent, the overlay root,
// and the ACPI power button as an input device (graceful stop under QEMU).
const std::vector<std::string>& InitramfsModuleRoots();

// What Docker inside a guest needs the kernel to load on demand (bridge
// networking, NAT through both iptables back ends, overlay2 storage). These
// go into the rootfs's /lib/modules, where modprobe finds them.
const std::vector<std::string>& DockerModuleRoots();

// The module name a path or name stands for: directory and .ko[.xz|.zst|.gz]
// suffix stripped, '-' folded to '_' (the kernel treats them as equal).
std::string ModuleName(std::string_view path_or_name);

// A parsed modules.dep (+ modules.builtin) of one kernel.
class ModuleIndex {
 public:
  // modules_dep: the text of modules.dep ("path: dep-path dep-path...").
  // modules_builtin: the text of modules.builtin (one path per line); may be
  // empty. Malformed lines are errors naming the line number.
  static Result<ModuleIndex> Parse(std::string_view modules_dep, std::string_view modules_builtin);

  bool IsBuiltin(const std::string& name) const { return builtin_.count(ModuleName(name)) != 0; }
  bool HasModule(const std::string& name) const { return modules_.count(ModuleName(name)) != 0; }

  // The files to load for `roots`, each once, every module after all its
  // dependencies; roots keep their given order where dependencies allow.
  // A root that is built into the kernel is skipped; a root that is neither
  // loadable nor built in is an error naming it.
  Result<std::vector<ModuleFile>> Resolve(const std::vector<std::string>& roots) const;

 private:
  struct Entry {
    std::string path;
    std::vector<std::string> deps;  // module names
  };
  Status Visit(const std::string& name, std::set<std::string>& done, std::set<std::string>& in_progress,
               std::vector<ModuleFile>& out) const;

  std::map<std::string, Entry> modules_;  // by module name
  std::set<std::string> builtin_;         // module names
};

}  // namespace banger
