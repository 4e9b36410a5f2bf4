// ImageService: the image use cases (import, build, list, get, delete). An
// image row names its kernel, rootfs, initrd, modules and work seed; a built
// (managed) image owns its artifact directory <home>/images/<id[:16]>.
// Thread-safety: the Store is internally synchronized; builds run on their
// caller's thread and may run concurrently.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "daemon/events.h"
#include "daemon/vm_service.h"
#include "model/types.h"
#include "store/store.h"

namespace banger {

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
  Result<std::vector<Image>> ListImages();
  Result<Image> GetImage(const std::string& ref);
  Result<std::string> DeleteImage(const std::string& ref);  // returns the id
  // Set once at wiring (TemplateService): called after an image's row is deleted.
  void SetOnDeleted(std::function<void(const std::string& image_id)> fn) { on_deleted_ = std::move(fn); }

 private:
  void EmitImage(const std::string& type, Json data);

  ImageServiceDeps d_;
  std::function<void(const std::string& image_id)> on_deleted_;
};

}  // namespace banger
