// Fetching the guest kernel: Debian's cloud (or generic) kernel package, downloaded with
// apt (never installed on the host), unpacked with dpkg-deb, its bzImage
// turned into an ELF vmlinux and its module tree indexed with depmod.
//
// Safe to run concurrently for different artifact directories, except that
// apt itself serializes `apt-get update` with a lock (a concurrent update
// fails with apt's lock error).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace banger {

// The meta package that always depends on the current cloud kernel (the
// default flavour; image/kernel_info.h KernelMetaPackage names the others).
inline constexpr const char* kKernelMetaPackage = "linux-image-cloud-amd64";

// The versioned package ("linux-image-6.1.0-56-cloud-amd64") in the output
// of `apt-cache depends <meta_package>`.
Result<std::string> ParseKernelPackage(std::string_view apt_cache_depends_output,
                                       const std::string& meta_package = kKernelMetaPackage);

struct KernelFetchSpec {
  std::string artifact_dir;                       // gets vmlinux and modules/lib/modules/<kver>
  std::string cache_dir;                          // keeps downloaded .debs across builds; empty = none
  std::string meta_package = kKernelMetaPackage;  // which kernel: cloud or generic
};

struct FetchedKernel {
  std::string package;         // linux-image-<kver>
  std::string kernel_version;  // <kver>, e.g. 6.1.0-56-cloud-amd64
  std::string vmlinux_path;    // artifact_dir/vmlinux (ELF)
  std::string modules_root;    // artifact_dir/modules (depmod -b base)
};

// Fetches and unpacks the kernel. `progress` gets "fetching kernel <kver>"
// once the package is known. Without network, the error reads
// "fetching kernel package <pkg>: <apt's last line>".
Result<FetchedKernel> FetchKernel(const KernelFetchSpec& spec,
                                  const std::function<void(const std::string&)>& progress,
                                  const std::atomic<bool>& cancel);

}  // namespace banger
