#include "oci/layout.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "oci/errors.h"
#include "oci/image_config.h"
#include "oci/prescan.h"

namespace banger {
namespace {

namespace fs = std::filesystem;

constexpr auto kCopyTimeout = std::chrono::minutes(60);
constexpr auto kInspectTimeout = std::chrono::minutes(2);
constexpr auto kUnpackTimeout = std::chrono::minutes(30);
constexpr auto kGcTimeout = std::chrono::minutes(10);
constexpr int64_t kMaxJsonBlob = int64_t{4} << 20;
// skopeo's oci: destination writes each blob to LAYOUT/oci-put-blob<random>
// and renames it into blobs/ once its digest is verified.
constexpr const char* kPartialBlobPrefix = "oci-put-blob";

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

Result<std::string> Tool(const std::string& name) {
  auto path = FindExecutable(name);
  if (!path.ok()) path = FindExecutable("/usr/bin/" + name);
  if (!path.ok()) return Error::Unavailable(name + " not found: install the Debian package " + name);
  return *path;
}

std::set<std::string> BlobNames(const std::string& layout) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(layout + "/blobs/sha256", ec)) {
    out.insert("sha256:" + e.path().filename().string());
  }
  return out;
}

// Partial downloads: name -> size.
std::map<std::string, int64_t> PartialBlobs(const std::string& layout) {
  std::map<std::string, int64_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(layout, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kPartialBlobPrefix, 0) != 0) continue;
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) out[name] = st.st_size;
  }
  return out;
}

void RemovePartialBlobs(const std::string& layout) {
  for (const auto& [name, size] : PartialBlobs(layout)) (void)RemoveFile(layout + "/" + name);
}

Result<std::string> ReadBlob(const std::string& layout, const std::string& digest, const char* what) {
  BANGER_ASSIGN_OR_RETURN(std::string path, BlobPath(layout, digest));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Error::Internal(std::string(what) + " blob " + digest + " is missing");
  if (st.st_size > kMaxJsonBlob) return Error::Invalid(std::string(what) + " blob is larger than 4 MiB");
  return ReadFile(path);
}

std::string Short(const std::string& digest) { return digest.substr(0, std::min<size_t>(digest.size(), 19)); }

std::string Mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// Turns skopeo's stdout ("Copying blob sha256:...") and the growing partial
// blob files into progress lines.
class CopyWatcher {
 public:
  CopyWatcher(std::string layout, std::set<std::string> before, const OciProgress& progress)
      : layout_(std::move(layout)), before_(std::move(before)), progress_(progress) {}

  void Tick(const std::string& out) {
    while (true) {
      size_t nl = out.find('\n', consumed_);
      if (nl == std::string::npos) break;
      std::string line = Trim(out.substr(consumed_, nl - consumed_));
      consumed_ = nl + 1;
      const std::string prefix = "Copying blob ";
      if (line.rfind(prefix, 0) != 0) continue;
      std::string digest = line.substr(prefix.size());
      digest = digest.substr(0, digest.find(' '));
      if (digest.rfind("sha256:", 0) != 0) digest = "sha256:" + digest;
      progress_("layer " + Short(digest) +
                (before_.count(digest) != 0 ? ": already present" : ": downloading"));
    }
    for (const auto& [name, size] : PartialBlobs(layout_)) seen_[name] = std::max(seen_[name], size);
    int64_t total = 0;
    for (const auto& [name, size] : seen_) total += size;
    const auto now = std::chrono::steady_clock::now();
    if (total >= reported_ + (int64_t{1} << 20) && now - last_ >= std::chrono::seconds(1)) {
      reported_ = total;
      last_ = now;
      progress_("downloaded " + Mib(total));
    }
  }

 private:
  std::string layout_;
  std::set<std::string> before_;
  const OciProgress& progress_;
  size_t consumed_ = 0;
  std::map<std::string, int64_t> seen_;
  int64_t reported_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

RunOptions ToolOptions(std::chrono::milliseconds timeout, const std::atomic<bool>& cancel) {
  RunOptions o;
  o.timeout = timeout;
  o.keep_going = [&cancel](const CommandResult&) { return !cancel.load(); };
  return o;
}

}  // namespace

std::vector<std::string> SkopeoCopyArgv(const std::string& src_transport, const std::string& dest_transport,
                                        bool insecure, const std::string& authfile) {
  std::vector<std::string> argv = {"skopeo"};
  // Without a system policy skopeo refuses to copy anything; banger checks
  // digests, not signatures (docs/security.md).
  if (!PathExists("/etc/containers/policy.json")) argv.push_back("--insecure-policy");
  argv.insert(argv.end(),
              {"copy", "--override-os", "linux", "--override-arch", "amd64", "--retry-times", "2"});
  if (insecure) argv.push_back("--src-tls-verify=false");
  if (!authfile.empty()) argv.insert(argv.end(), {"--src-authfile", authfile});
  argv.push_back(src_transport);
  argv.push_back(dest_transport);
  return argv;
}

Result<std::string> OciPathTransport(const std::string& path) {
  if (path.empty() || path.front() != '/') return Error::Invalid("OCI path must be absolute: " + path);
  if (path.find(':') != std::string::npos) return Error::Invalid("OCI path must not contain ':': " + path);
  if (IsDirectory(path)) {
    if (!IsRegularFile(path + "/oci-layout") || !IsRegularFile(path + "/index.json"))
      return Error::Invalid(path + " is not an OCI image layout (no oci-layout / index.json)");
    return std::string("oci");
  }
  if (!IsRegularFile(path)) return Error::Invalid("OCI path " + path + " does not exist");
  std::unique_ptr<archive, ArchiveReadFree> a(archive_read_new());
  if (!a) return Error::Internal("archive_read_new failed");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 256 * 1024) != ARCHIVE_OK)
    return Error::Invalid(path + " is not a tar archive");
  bool docker = false;
  for (int n = 0; n < 100000; ++n) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return Error::Invalid(path + " is not a readable tar archive");
    std::string name = archive_entry_pathname(e) != nullptr ? archive_entry_pathname(e) : "";
    if (name.rfind("./", 0) == 0) name = name.substr(2);
    if (name == "oci-layout") return std::string("oci-archive");
    if (name == "manifest.json") docker = true;
  }
  if (docker) return std::string("docker-archive");
  return Error::Invalid(path + " is neither an OCI archive nor a `docker save` archive");
}

Result<OciLayout::Lock> OciLayout::Acquire(const OciProgress& progress, const std::atomic<bool>& cancel,
                                           std::chrono::milliseconds wait) const {
  BANGER_RETURN_IF_ERROR(MakeDirs(fs::path(dir_).parent_path().string()));
  const std::string path = dir_ + ".lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return Error::FromErrno("open " + path);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  bool told = false;
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return Error::FromErrno("lock " + path);
    if (wait.count() == 0) return Error::Unavailable("the layer cache is locked by another pull or delete");
    if (!told) {
      progress("waiting for another pull or delete to finish with the layer cache");
      told = true;
    }
    if (cancel.load()) return Error::Internal("interrupted");
    if (std::chrono::steady_clock::now() > deadline)
      return Error::Timeout("the layer cache stayed locked for " + std::to_string(wait.count() / 1000) +
                            " s");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Lock(std::move(fd));
}

Result<OciFetched> OciLayout::Fetch(const OciSource& src, const std::string& tag, const OciProgress& progress,
                                    const std::atomic<bool>& cancel) const {
  BANGER_ASSIGN_OR_RETURN(std::string skopeo, Tool("skopeo"));
  BANGER_RETURN_IF_ERROR(MakeDirs(dir_, 0700));
  OciFetched out;
  std::string src_transport;
  const std::string what = src.ref.empty() ? src.path : src.ref;
  std::optional<TempDir> auth_dir;
  std::string authfile;
  if (!src.ref.empty()) {
    src_transport = "docker://" + src.ref;
    if (!src.auth.empty()) {
      BANGER_ASSIGN_OR_RETURN(TempDir t,
                              TempDir::Create(fs::path(dir_).parent_path().string(), ".oci-auth-"));
      auth_dir.emplace(std::move(t));
      authfile = auth_dir->path() + "/auth.json";
      nlohmann::json j = {{"auths", {{src.registry, {{"auth", src.auth}}}}}};
      BANGER_RETURN_IF_ERROR(WriteFileAtomic(authfile, j.dump(), 0600));
    }
    if (size_t at = src.ref.find('@'); at != std::string::npos) {
      out.digest = src.ref.substr(at + 1);
    } else {
      progress("resolving " + src.ref);
      std::vector<std::string> argv = {
          skopeo, "inspect", "--override-os", "linux", "--override-arch", "amd64", "--retry-times", "2"};
      if (src.insecure) argv.push_back("--tls-verify=false");
      if (!authfile.empty()) argv.insert(argv.end(), {"--authfile", authfile});
      argv.insert(argv.end(), {"--format", "{{.Digest}}", src_transport});
      BANGER_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, ToolOptions(kInspectTimeout, cancel)));
      if (r.exit_code != 0) return SkopeoError(r.err, what);
      out.digest = Trim(r.out);
    }
  } else {
    BANGER_ASSIGN_OR_RETURN(std::string transport, OciPathTransport(src.path));
    src_transport = transport + ":" + src.path;
  }

  const std::set<std::string> before = BlobNames(dir_);
  std::vector<std::string> argv =
      SkopeoCopyArgv(src_transport, "oci:" + dir_ + ":" + tag, src.insecure, authfile);
  argv[0] = skopeo;
  CopyWatcher watcher(dir_, before, progress);
  RunOptions opts = ToolOptions(kCopyTimeout, cancel);
  opts.keep_going = [&cancel, &watcher](const CommandResult& so_far) {
    watcher.Tick(so_far.out);
    return !cancel.load();
  };
  auto copied = RunCommand(argv, opts);
  if (!copied.ok() || copied->exit_code != 0) {
    RemovePartialBlobs(dir_);
    (void)RemoveTag(tag);
    if (!copied.ok()) return std::move(copied).error();
    return SkopeoError(copied->err, what);
  }
  watcher.Tick(copied->out);

  auto parsed = [&]() -> Status {
    BANGER_ASSIGN_OR_RETURN(std::string index, ReadFile(dir_ + "/index.json"));
    BANGER_ASSIGN_OR_RETURN(OciDescriptor mdesc, FindTaggedManifest(index, tag));
    if (out.digest.empty()) out.digest = mdesc.digest;
    BANGER_ASSIGN_OR_RETURN(std::string mtext, ReadBlob(dir_, mdesc.digest, "manifest"));
    BANGER_ASSIGN_OR_RETURN(OciManifest manifest, ParseOciManifest(mtext));
    BANGER_ASSIGN_OR_RETURN(std::string ctext, ReadBlob(dir_, manifest.config.digest, "config"));
    BANGER_ASSIGN_OR_RETURN(out.config, ParseOciImageConfig(ctext));
    LayerPrescan scan;
    for (size_t i = 0; i < manifest.layers.size(); ++i) {
      const OciDescriptor& l = manifest.layers[i];
      if (cancel.load()) return Error::Internal("interrupted");
      BANGER_ASSIGN_OR_RETURN(std::string path, BlobPath(dir_, l.digest));
      BANGER_RETURN_IF_ERROR(
          scan.ScanLayer(path, "layer " + std::to_string(i + 1) + " (" + Short(l.digest) + ")"));
      out.layers.push_back(l.digest);
      if (before.count(l.digest) == 0) {
        ++out.layers_downloaded;
        out.bytes_downloaded += l.size;
      }
    }
    return OkStatus();
  }();
  if (!parsed.ok()) {
    (void)RemoveTag(tag);
    return parsed.error().Wrap(what);
  }
  progress("fetched " + std::to_string(out.layers.size()) +
           " layers: " + std::to_string(out.layers_downloaded) + " downloaded (" + Mib(out.bytes_downloaded) +
           "), " + std::to_string(out.layers.size() - static_cast<size_t>(out.layers_downloaded)) +
           " already present");
  return out;
}

Status OciLayout::Unpack(const std::string& tag, const std::string& dest,
                         const std::atomic<bool>& cancel) const {
  BANGER_ASSIGN_OR_RETURN(std::string umoci, Tool("umoci"));
  if (PathExists(dest)) return Error::Internal("unpack destination " + dest + " already exists");
  auto r = RunCommand({umoci, "raw", "unpack", "--image", dir_ + ":" + tag, dest},
                      ToolOptions(kUnpackTimeout, cancel));
  if (!r.ok()) return std::move(r).error();
  if (r->exit_code != 0) return Error::Internal("unpacking layers: " + ToolMessage(r->err));
  return OkStatus();
}

Result<std::vector<std::string>> OciLayout::Tags() const {
  if (!PathExists(dir_ + "/index.json")) return std::vector<std::string>{};
  BANGER_ASSIGN_OR_RETURN(std::string index, ReadFile(dir_ + "/index.json"));
  return ListTags(index);
}

Status OciLayout::RemoveTag(const std::string& tag) const {
  BANGER_ASSIGN_OR_RETURN(std::vector<std::string> tags, Tags());
  if (std::find(tags.begin(), tags.end(), tag) == tags.end()) return OkStatus();
  BANGER_ASSIGN_OR_RETURN(std::string umoci, Tool("umoci"));
  auto r = RunCommand({umoci, "rm", "--image", dir_ + ":" + tag}, kGcTimeout);
  if (!r.ok()) return std::move(r).error();
  if (r->exit_code != 0) return Error::Internal("removing tag " + tag + ": " + ToolMessage(r->err));
  return OkStatus();
}

Status OciLayout::DropLeftovers(const std::function<bool(const std::string& tag)>& keep) const {
  BANGER_ASSIGN_OR_RETURN(std::vector<std::string> tags, Tags());
  for (const std::string& t : tags) {
    if (!keep(t)) BANGER_RETURN_IF_ERROR(RemoveTag(t));
  }
  RemovePartialBlobs(dir_);
  return OkStatus();
}

Result<int64_t> OciLayout::Gc(const std::function<bool(const std::string& tag)>& keep) const {
  if (!PathExists(dir_ + "/index.json")) return int64_t{0};
  const int64_t before = TreeAllocatedBytes(dir_);
  BANGER_RETURN_IF_ERROR(DropLeftovers(keep));
  BANGER_ASSIGN_OR_RETURN(std::string umoci, Tool("umoci"));
  auto r = RunCommand({umoci, "gc", "--layout", dir_}, kGcTimeout);
  if (!r.ok()) return std::move(r).error();
  if (r->exit_code != 0) return Error::Internal("collecting unused layers: " + ToolMessage(r->err));
  return std::max<int64_t>(0, before - TreeAllocatedBytes(dir_));
}

}  // namespace banger
