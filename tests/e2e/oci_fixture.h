// OCI test fixtures shared by oci_e2e_test and bench_oci: Debian's
// docker-registry on 127.0.0.1 (a free port, a private storage dir, stopped
// by the destructor), OCI images made with umoci, pushed with skopeo, and
// crafted layers written with libarchive. Root needed (umoci unpack).
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "base/sha256.h"
#include "base/strings.h"

namespace banger::oci_test {

inline int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  socklen_t len = sizeof a;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

inline bool PortAnswers(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// docker-registry serving `dir`/data on 127.0.0.1:<free port>.
class LocalRegistry {
 public:
  Status Start(const std::string& dir) {
    port_ = FreeLoopbackPort();
    if (port_ <= 0) return Error::Internal("no free port");
    BANGER_RETURN_IF_ERROR(MakeDirs(dir + "/data"));
    const std::string cfg = dir + "/registry.yml";
    BANGER_RETURN_IF_ERROR(WriteFileAtomic(cfg,
                                           "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n"
                                           "    rootdirectory: " +
                                               dir +
                                               "/data\n  delete:\n    enabled: true\n"
                                               "http:\n  addr: 127.0.0.1:" +
                                               std::to_string(port_) + "\n",
                                           0644));
    log_ = dir + "/registry.log";
    SpawnOptions o;
    o.argv = {"docker-registry", "serve", cfg};
    o.stdout_path = log_;
    BANGER_ASSIGN_OR_RETURN(pid_, SpawnDetached(o));
    for (int i = 0; i < 100; ++i) {
      if (PortAnswers(port_)) return OkStatus();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return Error::Timeout("docker-registry did not listen on 127.0.0.1:" + std::to_string(port_));
  }
  ~LocalRegistry() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& log() const { return log_; }

 private:
  int port_ = -1;
  pid_t pid_ = -1;
  std::string log_;
};

inline Status Tool(const std::vector<std::string>& argv) {
  auto r = RunChecked(argv, std::chrono::minutes(5));
  if (!r.ok()) return std::move(r).error();
  return OkStatus();
}

// An OCI layout made with umoci: each AddLayer unpacks `from`, lets `edit`
// change the rootfs and repacks it as `to` (one new layer).
class OciImageMaker {
 public:
  explicit OciImageMaker(std::string dir) : dir_(std::move(dir)), layout_(dir_ + "/layout") {}
  const std::string& layout() const { return layout_; }

  Status Init(const std::string& tag) {
    BANGER_RETURN_IF_ERROR(Tool({"umoci", "init", "--layout", layout_}));
    return Tool({"umoci", "new", "--image", layout_ + ":" + tag});
  }
  Status AddLayer(const std::string& from, const std::string& to,
                  const std::function<Status(const std::string& rootfs)>& edit) {
    const std::string bundle = dir_ + "/bundle";
    BANGER_RETURN_IF_ERROR(RemoveAll(bundle));
    BANGER_RETURN_IF_ERROR(Tool({"umoci", "unpack", "--image", layout_ + ":" + from, bundle}));
    BANGER_RETURN_IF_ERROR(edit(bundle + "/rootfs"));
    BANGER_RETURN_IF_ERROR(Tool({"umoci", "repack", "--image", layout_ + ":" + to, bundle}));
    return RemoveAll(bundle);
  }
  Status Config(const std::string& tag, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"umoci", "config", "--image", layout_ + ":" + tag};
    argv.insert(argv.end(), args.begin(), args.end());
    return Tool(argv);
  }
  Status Untag(const std::string& tag) { return Tool({"umoci", "rm", "--image", layout_ + ":" + tag}); }
  Status Push(const std::string& tag, const std::string& dest) {
    return Tool({"skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
                 "oci:" + layout_ + ":" + tag, "docker://" + dest});
  }

 private:
  std::string dir_, layout_;
};

// busybox (static, from the host) as /bin/busybox with an applet symlink per
// applet under /bin.
inline Status StageBusybox(const std::string& rootfs) {
  BANGER_RETURN_IF_ERROR(MakeDirs(rootfs + "/bin"));
  std::error_code ec;
  std::filesystem::copy_file("/bin/busybox", rootfs + "/bin/busybox",
                             std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) return Error::Internal("copy busybox: " + ec.message());
  BANGER_ASSIGN_OR_RETURN(CommandResult list, RunChecked({"/bin/busybox", "--list"}));
  for (const std::string& a : Split(list.out, '\n')) {
    if (a.empty() || a == "busybox" || a.find('/') != std::string::npos) continue;
    std::filesystem::create_symlink("busybox", rootfs + "/bin/" + a, ec);
  }
  return OkStatus();
}

// A crafted layer (gzip tar) of headers the test chooses.
struct CraftedEntry {
  std::string name;
  char type;  // f d l
  std::string target;
};

// An OCI layout holding one image of one crafted layer, tagged `tag`.
inline Status WriteCraftedLayout(const std::string& dir, const std::string& tag,
                                 const std::vector<CraftedEntry>& entries) {
  BANGER_RETURN_IF_ERROR(MakeDirs(dir + "/blobs/sha256"));
  const std::string tmp = dir + "/layer.tmp";
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_gzip(a);
  if (archive_write_open_filename(a, tmp.c_str()) != ARCHIVE_OK) return Error::Internal("archive open");
  for (const CraftedEntry& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.name.c_str());
    archive_entry_set_perm(e, 0644);
    if (t.type == 'd') {
      archive_entry_set_filetype(e, AE_IFDIR);
      archive_entry_set_perm(e, 0755);
    } else if (t.type == 'l') {
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_symlink(e, t.target.c_str());
    } else {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_size(e, 6);
    }
    archive_write_header(a, e);
    if (t.type == 'f') archive_write_data(a, "owned\n", 6);
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  BANGER_ASSIGN_OR_RETURN(std::string layer, ReadFile(tmp));
  BANGER_RETURN_IF_ERROR(RemoveFile(tmp));
  auto put = [&dir](const std::string& data) -> Result<std::string> {
    const std::string hex = Sha256::Hex(data);
    BANGER_RETURN_IF_ERROR(WriteFileAtomic(dir + "/blobs/sha256/" + hex, data, 0644));
    return "sha256:" + hex;
  };
  BANGER_ASSIGN_OR_RETURN(std::string layer_digest, put(layer));
  // diff_ids are the uncompressed digests: umoci checks them on unpack, but
  // the pre-scan refuses the layer before that.
  const std::string config = R"({"architecture":"amd64","os":"linux","config":{"Cmd":["/x"]},)"
                             R"("rootfs":{"type":"layers","diff_ids":[")" +
                             layer_digest + R"("]}})";
  BANGER_ASSIGN_OR_RETURN(std::string config_digest, put(config));
  const std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":)"
      R"("application/vnd.oci.image.config.v1+json","digest":")" +
      config_digest + R"(","size":)" + std::to_string(config.size()) +
      R"(},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",)"
      R"("digest":")" +
      layer_digest + R"(","size":)" + std::to_string(layer.size()) + "}]}";
  BANGER_ASSIGN_OR_RETURN(std::string manifest_digest, put(manifest));
  BANGER_RETURN_IF_ERROR(WriteFileAtomic(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})", 0644));
  return WriteFileAtomic(
      dir + "/index.json",
      R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
      R"("digest":")" +
          manifest_digest + R"(","size":)" + std::to_string(manifest.size()) +
          R"(,"annotations":{"org.opencontainers.image.ref.name":")" + tag + R"("}}]})",
      0644);
}

// Files in a layout's blob store.
inline int BlobCount(const std::string& layout) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(layout + "/blobs/sha256", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

}  // namespace banger::oci_test
