// The shared OCI image layout under <home>/oci: every pulled or imported
// image's blobs, content-addressed (a blob already present is never
// downloaded again), each banger image holding one tag named by its id.
// skopeo copies into it (registry v2 protocol, token auth, platform choice,
// digest verification, TLS); umoci unpacks a tag's layers into a directory
// and collects blobs no tag reaches. ADR 0025.
//
// Operations that write the layout or rely on its blobs staying put
// (Fetch, Unpack, RemoveTag, Gc) must run under Lock(); tools run from argv
// only, each with a deadline, and are killed on cancellation.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "model/types.h"

namespace banger {

struct OciSource {
  // Exactly one: a registry reference (normalized, e.g.
  // "docker.io/library/busybox:1.36") or a host path (an OCI layout
  // directory, an OCI archive tar or a `docker save` tar).
  std::string ref;
  std::string path;
  bool insecure = false;  // plain HTTP / unverified TLS (ref only)
  std::string registry;   // the ref's registry, the key of the auth file
  std::string auth;       // base64 "user:password"; "" = none
};

struct OciFetched {
  std::string digest;               // the registry's manifest (or index) digest / the layout's
  std::vector<std::string> layers;  // compressed layer digests, lowest first
  OciImageConfig config;
  int layers_downloaded = 0;     // layers that were not in the layout before
  int64_t bytes_downloaded = 0;  // their compressed size
};

using OciProgress = std::function<void(const std::string& line)>;

class OciLayout {
 public:
  explicit OciLayout(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }

  class Lock {
   public:
    explicit Lock(UniqueFd fd) : fd_(std::move(fd)) {}

   private:
    UniqueFd fd_;
  };
  // Waits (up to `wait`, cancellable) for the layout's lock <dir>.lock;
  // a zero wait tries once (kUnavailable when another holder has it).
  Result<Lock> Acquire(const OciProgress& progress, const std::atomic<bool>& cancel,
                       std::chrono::milliseconds wait = std::chrono::minutes(30)) const;

  // Copies `src` into the layout under `tag` (skopeo), then reads its
  // manifest and config and pre-scans every layer (oci/prescan.h). On any
  // error the tag is removed again; blobs already fetched stay (a retry
  // does not download them again; `image prune` collects them).
  Result<OciFetched> Fetch(const OciSource& src, const std::string& tag, const OciProgress& progress,
                           const std::atomic<bool>& cancel) const;

  // `umoci raw unpack` of `tag` into `dest` (which must not exist).
  Status Unpack(const std::string& tag, const std::string& dest, const std::atomic<bool>& cancel) const;

  Status RemoveTag(const std::string& tag) const;  // missing tag: ok
  // Drops tags `keep` rejects, leftover partial downloads, then every blob
  // no tag reaches (umoci gc). Returns the bytes freed.
  Result<int64_t> Gc(const std::function<bool(const std::string& tag)>& keep) const;
  // What an interrupted pull leaves: tags `keep` rejects and partial
  // downloads. Blobs stay for the next pull to reuse (Gc collects them).
  Status DropLeftovers(const std::function<bool(const std::string& tag)>& keep) const;

  Result<std::vector<std::string>> Tags() const;

 private:
  std::string dir_;
};

// The skopeo argv for a copy of `src_transport` (docker://..., oci:...,
// oci-archive:..., docker-archive:...) to `dest_transport` (exposed for tests).
std::vector<std::string> SkopeoCopyArgv(const std::string& src_transport, const std::string& dest_transport,
                                        bool insecure, const std::string& authfile);

// "docker-archive" or "oci-archive" for a tar, "oci" for a layout directory,
// judged from the top-level names (manifest.json / oci-layout).
Result<std::string> OciPathTransport(const std::string& path);

}  // namespace banger
