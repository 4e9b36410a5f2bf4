// ImageService: the image use cases (import, build, list, get, delete). An
// image row names its kernel, rootfs, initrd, modules and work seed; a built
// (managed) image owns its artifact directory <home>/images/<id[:16]>.
// Thread-safety: the Store is internally synchronized; builds run on their
// caller's thread and may run concurrently.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "daemon/events.h"
#include "daemon/vm_service.h"
#include "model/requests.h"
#include "model/types.h"
#include "store/store.h"

namespace banger {

struct ImageBuildRequest;
struct SshKey;

struct ImageServiceDeps {
  HomeLayout home;
  DaemonConfig config;
  Store* store = nullptr;
  EventLog* events = nullptr;
  std::string agent_binary;  // the static banger-agent put into built images
};

class ImageService {
 public:
  explicit ImageService(ImageServiceDeps deps) : d_(std::move(deps)) {}

  Result<Image> ImportImage(const ImportImageRequest& req);
  // Builds an image from Debian packages into <home>/images/<id>; on any
  // failure or cancellation nothing is left (no files, no row).
  Result<Image> BuildImage(const BuildImageRequest& req,
                           const std::function<void(const std::string&)>& progress,
                           const std::atomic<bool>& cancel);
  // Pulls an OCI image from a registry into the shared layer cache and
  // builds a bootable image of it (image_oci.cc); like BuildImage, nothing
  // is left on failure or cancellation. Pulls that touch the cache take
  // turns (its lock).
  Result<Image> PullImage(const PullImageRequest& req,
                          const std::function<void(const std::string&)>& progress,
                          const std::atomic<bool>& cancel);
  // Drops cache tags no image owns, partial downloads and unreferenced blobs.
  Result<PruneImagesResponse> PruneImages();
  Result<std::vector<Image>> ListImages();
  Result<Image> GetImage(const std::string& ref);
  Result<std::string> DeleteImage(const std::string& ref);  // returns the id
  // Set once at wiring (TemplateService): called after an image's row is deleted.
  void SetOnDeleted(std::function<void(const std::string& image_id)> fn) { on_deleted_ = std::move(fn); }

 private:
  void EmitImage(const std::string& type, Json data);
  // The checks every build makes first (the name is free, the agent binary
  // is there) and the SSH key the image will authorize.
  Result<SshKey> PrepareBuild(const std::string& name);
  // A new managed image record named `name`, its artifact directory made.
  Result<Image> NewManagedImage(const std::string& name);
  // Runs the image builder into img.artifact_dir and records what it made
  // (kernel, initrd, rootfs, modules, work seed, build size, the seeded key's
  // fingerprint) in img. Errors say "building image NAME: ...".
  Status RunBuilder(const ImageBuildRequest& br, const SshKey& key, Image& img,
                    const std::function<void(const std::string&)>& progress, const std::atomic<bool>& cancel);
  struct OciJob;
  Result<Image> BuildImageFromOci(const BuildImageRequest& req,
                                  const std::function<void(const std::string&)>& progress,
                                  const std::atomic<bool>& cancel);
  Result<Image> BuildImageFromRootfs(const BuildImageRequest& req,
                                     const std::function<void(const std::string&)>& progress,
                                     const std::atomic<bool>& cancel);
  Result<Image> BuildOciImage(const OciJob& job, const std::function<void(const std::string&)>& progress,
                              const std::atomic<bool>& cancel);
  // Removes `tag` from the layer cache and collects what no image uses.
  void ReleaseOciTag(const std::string& tag);

  ImageServiceDeps d_;
  std::function<void(const std::string& image_id)> on_deleted_;
  std::mutex building_mu_;
  std::set<std::string> building_;  // ids of OCI images being made (their cache tag is live)
};

}  // namespace banger
