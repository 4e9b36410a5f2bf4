#include "image/kernel_package.h"

#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "base/scope_guard.h"
#include "base/strings.h"
#include "image/vmlinux.h"

namespace banger {
namespace {

namespace fs = std::filesystem;
using std::chrono::minutes;

constexpr const char* kPackagePrefix = "linux-image-";

// What a failed apt command said last, for error messages.
std::string AptComplaint(const CommandResult& r) {
  std::string why = LastLine(r.err);
  if (why.empty()) why = LastLine(r.out);
  if (why.empty()) why = "exit status " + std::to_string(r.exit_code);
  return why;
}

// `apt-get update` at most once per fetch: it is slow, and only worth it
// when apt's package lists look stale or absent.
class AptUpdater {
 public:
  Status UpdateOnce() {
    if (done_) return Error::Internal("package lists already updated");
    done_ = true;
    BANGER_ASSIGN_OR_RETURN(CommandResult r, RunCommand({"apt-get", "update", "-qq"}, minutes(5)));
    if (r.exit_code != 0) return Error::Unavailable("apt-get update: " + AptComplaint(r));
    return OkStatus();
  }
  bool done() const { return done_; }

 private:
  bool done_ = false;
};

Result<std::string> ResolvePackage(const std::string& meta, AptUpdater& apt) {
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(CommandResult r, RunCommand({"apt-cache", "depends", meta}, minutes(1)));
    auto pkg = r.exit_code == 0 ? ParseKernelPackage(r.out, meta)
                                : Result<std::string>(Error::NotFound(AptComplaint(r)));
    if (pkg.ok() || apt.done()) {
      return Annotate(std::move(pkg), "resolving " + meta + " (apt-cache depends)");
    }
    BANGER_RETURN_IF_ERROR(apt.UpdateOnce());
  }
}

// apt-get download writes into its working directory. As root, apt would
// otherwise fetch as the _apt user, which cannot write into our private
// scratch directory, and warn that it fell back to root.
Result<std::string> DownloadPackage(const std::string& pkg, const std::string& dir, AptUpdater& apt) {
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(
        CommandResult r,
        RunCommand({"apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", pkg}, minutes(10), dir));
    if (r.exit_code == 0) break;
    if (apt.done()) return Error::Unavailable("fetching kernel package " + pkg + ": " + AptComplaint(r));
    // The lists may name a version the mirror no longer has.
    if (!apt.UpdateOnce().ok()) {
      return Error::Unavailable("fetching kernel package " + pkg + ": " + AptComplaint(r));
    }
  }
  std::vector<std::string> debs;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".deb") debs.push_back(e.path().string());
  }
  if (debs.size() != 1) {
    return Error::Internal("apt-get download " + pkg + " left " + std::to_string(debs.size()) +
                           " .deb files");
  }
  return debs.front();
}

// The .deb for pkg: from the cache, or downloaded (and then cached).
Result<std::string> ObtainDeb(const std::string& pkg, const std::string& scratch,
                              const std::string& cache_dir, AptUpdater& apt) {
  const std::string cached = cache_dir.empty() ? "" : cache_dir + "/" + pkg + ".deb";
  if (!cached.empty() && IsRegularFile(cached)) return cached;
  const std::string dl = scratch + "/download";
  BANGER_RETURN_IF_ERROR(MakeDirs(dl));
  BANGER_ASSIGN_OR_RETURN(std::string deb, DownloadPackage(pkg, dl, apt));
  if (cached.empty()) return deb;
  // Copy under a temporary name, then rename: a concurrent build must never
  // see half a .deb.
  BANGER_RETURN_IF_ERROR(MakeDirs(cache_dir));
  const std::string tmp = cached + ".tmp." + std::to_string(::getpid());
  std::error_code ec;
  fs::copy_file(deb, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Error::Internal("caching " + deb + " in " + cache_dir + ": " + ec.message());
  }
  if (Status st = RenameDurable(tmp, cached); !st.ok()) {
    fs::remove(tmp, ec);
    return std::move(st).error().Wrap("caching " + deb + " in " + cache_dir);
  }
  return cached;
}

}  // namespace

Result<std::string> ParseKernelPackage(std::string_view output, const std::string& meta_package) {
  std::istringstream lines{std::string(output)};
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string key, pkg;
    words >> key >> pkg;
    // "  Depends: linux-image-6.1.0-56-cloud-amd64"; alternatives print as
    // "|Depends:", which we skip.
    if (key == "Depends:" && pkg.rfind(kPackagePrefix, 0) == 0 &&
        pkg.size() > std::string(kPackagePrefix).size()) {
      return pkg;
    }
  }
  return Error::NotFound("no linux-image-* dependency of " + meta_package);
}

Result<FetchedKernel> FetchKernel(const KernelFetchSpec& spec,
                                  const std::function<void(const std::string&)>& progress,
                                  const std::atomic<bool>& cancel) {
  FetchedKernel k;
  AptUpdater apt;
  BANGER_ASSIGN_OR_RETURN(k.package, ResolvePackage(spec.meta_package, apt));
  k.kernel_version = k.package.substr(std::string(kPackagePrefix).size());
  progress("fetching kernel " + k.kernel_version);

  const std::string scratch = spec.artifact_dir + "/.kernel";
  BANGER_RETURN_IF_ERROR(RemoveAll(scratch));
  ScopeGuard remove_scratch([&scratch] { (void)RemoveAll(scratch); });
  BANGER_RETURN_IF_ERROR(MakeDirs(scratch));
  BANGER_ASSIGN_OR_RETURN(std::string deb, ObtainDeb(k.package, scratch, spec.cache_dir, apt));
  if (cancel.load()) return Error::Internal("interrupted");

  const std::string unpacked = scratch + "/root";
  BANGER_RETURN_IF_ERROR(
      Annotate(RunChecked({"dpkg-deb", "-x", deb, unpacked}, minutes(5)), "unpacking " + deb));
  const std::string vmlinuz = unpacked + "/boot/vmlinuz-" + k.kernel_version;
  if (!IsRegularFile(vmlinuz)) {
    return Error::Internal(k.package + " has no boot/vmlinuz-" + k.kernel_version);
  }
  k.vmlinux_path = spec.artifact_dir + "/vmlinux";
  BANGER_RETURN_IF_ERROR(ExtractVmlinuxFile(vmlinuz, k.vmlinux_path));
  if (cancel.load()) return Error::Internal("interrupted");

  // Packages built for a merged /usr ship the tree under usr/lib; depmod -b
  // wants <base>/lib/modules either way.
  std::string tree = unpacked + "/lib/modules/" + k.kernel_version;
  if (!IsDirectory(tree)) tree = unpacked + "/usr/lib/modules/" + k.kernel_version;
  if (!IsDirectory(tree)) return Error::Internal(k.package + " has no lib/modules/" + k.kernel_version);
  k.modules_root = spec.artifact_dir + "/modules";
  const std::string dest = k.modules_root + "/lib/modules/" + k.kernel_version;
  BANGER_RETURN_IF_ERROR(RemoveAll(k.modules_root));
  BANGER_RETURN_IF_ERROR(MakeDirs(k.modules_root + "/lib/modules"));
  std::error_code ec;
  fs::rename(tree, dest, ec);
  if (ec) return Error::Internal("moving " + tree + " to " + dest + ": " + ec.message());
  // The package does not ship modules.dep: it is made at install time.
  BANGER_RETURN_IF_ERROR(Annotate(RunChecked({"depmod", "-b", k.modules_root, k.kernel_version}, minutes(2)),
                                  "indexing modules"));
  return k;
}

}  // namespace banger
