// ImageService's OCI half: image pull, image build --from-oci, the layer
// cache's tags on delete, image prune. The cache is oci/layout.h's shared
// layout at <home>/oci; each image holds the tag named by its id.
#include <unistd.h>

#include <mutex>
#include <set>

#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/scope_guard.h"
#include "daemon/image_service.h"
#include "daemon/ssh_key.h"
#include "image/builder.h"
#include "image/kernel_info.h"
#include "oci/layout.h"
#include "oci/reference.h"

namespace banger {

struct ImageService::OciJob {
  std::string name;
  OciSource source;
  std::string recorded_ref;  // source.ref of the image row
  std::string kernel_flavour;
  int64_t size_bytes = 0;
};

namespace {

Status CheckOciJob(const std::string& name, const std::string& kernel_flavour, int64_t size_bytes) {
  BANGER_RETURN_IF_ERROR(ValidateImageName(name));
  BANGER_RETURN_IF_ERROR(ValidateKernelFlavour(kernel_flavour));
  if (size_bytes < 0 || size_bytes > kMaxDiskBytes)
    return Error::Invalid("image size exceeds the maximum of 128G");
  return OkStatus();
}

}  // namespace

Result<Image> ImageService::PullImage(const PullImageRequest& req,
                                      const std::function<void(const std::string&)>& progress,
                                      const std::atomic<bool>& cancel) {
  BANGER_ASSIGN_OR_RETURN(OciReference ref, ParseOciReference(req.ref));
  OciJob job;
  job.name = req.name.empty() ? ref.DefaultImageName() : req.name;
  job.kernel_flavour = req.kernel_flavour.empty() ? "cloud" : req.kernel_flavour;
  job.size_bytes = req.size_bytes;
  BANGER_RETURN_IF_ERROR(CheckOciJob(job.name, job.kernel_flavour, job.size_bytes));
  job.source.ref = ref.Pullable();
  job.source.registry = ref.registry;
  job.source.insecure = req.insecure || ref.loopback;
  if (req.auth) {
    const RegistryAuth& a = *req.auth;
    if (!a.auth.empty()) {
      job.source.auth = a.auth;
    } else if (!a.username.empty()) {
      job.source.auth = Base64Encode(a.username + ":" + a.password);
    }
  }
  job.recorded_ref = ref.Normalized();
  return BuildOciImage(job, progress, cancel);
}

Result<Image> ImageService::BuildImageFromOci(const BuildImageRequest& req,
                                              const std::function<void(const std::string&)>& progress,
                                              const std::atomic<bool>& cancel) {
  if (req.docker) return Error::Invalid("--docker does not go with --from-oci");
  OciJob job;
  job.name = req.name;
  job.kernel_flavour = req.kernel_flavour.empty() ? "cloud" : req.kernel_flavour;
  job.size_bytes = req.size_bytes;
  BANGER_RETURN_IF_ERROR(CheckOciJob(job.name, job.kernel_flavour, job.size_bytes));
  // Checked here for a clear line before any work; the engine checks again.
  if (auto t = OciPathTransport(req.from_oci); !t.ok()) return std::move(t).error();
  if (::access(req.from_oci.c_str(), R_OK) != 0) return Error::Invalid(req.from_oci + " is not readable");
  job.source.path = req.from_oci;
  job.recorded_ref = req.from_oci;
  return BuildOciImage(job, progress, cancel);
}

Result<Image> ImageService::BuildImageFromRootfs(const BuildImageRequest& req,
                                                 const std::function<void(const std::string&)>& progress,
                                                 const std::atomic<bool>& cancel) {
  if (req.docker) return Error::Invalid("--docker does not go with --from-rootfs");
  const std::string kernel_flavour = req.kernel_flavour.empty() ? "cloud" : req.kernel_flavour;
  BANGER_RETURN_IF_ERROR(CheckOciJob(req.name, kernel_flavour, req.size_bytes));
  const std::string& tree = req.from_rootfs;
  if (tree.empty() || tree[0] != '/')
    return Error::Invalid("--from-rootfs takes an absolute path, not " + tree);
  if (!IsDirectory(tree)) return Error::Invalid("root filesystem " + tree + " is not a directory");
  if (::access(tree.c_str(), R_OK | X_OK) != 0) return Error::Invalid(tree + " is not readable");
  BANGER_ASSIGN_OR_RETURN(SshKey key, PrepareBuild(req.name));

  BANGER_ASSIGN_OR_RETURN(Image img, NewManagedImage(req.name));
  ScopeGuard undo([&] { RemoveAll(img.artifact_dir).ok(); });
  spdlog::info("building image {} from the root filesystem {} in {}", img.name, tree, img.artifact_dir);
  auto report = [&progress](const std::string& line) {
    if (progress) progress(line);
  };
  ImageBuildRequest br;
  br.name = req.name;
  br.profile = "oci";
  br.oci_rootfs_dir = tree;
  br.keep_oci_rootfs_dir = true;
  br.rootfs_size_bytes = req.size_bytes;
  br.kernel_flavour = kernel_flavour;
  BANGER_RETURN_IF_ERROR(RunBuilder(br, key, img, report, cancel));
  img.source.kind = "rootfs";
  img.source.ref = tree;
  img.size_bytes = TreeAllocatedBytes(img.artifact_dir);
  img.created_at = img.updated_at = Now();
  BANGER_RETURN_IF_ERROR(d_.store->InsertImage(img));
  undo.Dismiss();
  EmitImage("image.created", Json{{"image_id", img.id}, {"name", img.name}, {"source", tree}});
  if (auto info = InspectKernelModules(img.modules_dir); info.ok()) {
    img.kernel_flavour = info->flavour;
    img.kernel_9p = info->has_9p;
  }
  return img;
}

Result<Image> ImageService::BuildOciImage(const OciJob& job,
                                          const std::function<void(const std::string&)>& progress,
                                          const std::atomic<bool>& cancel) {
  BANGER_ASSIGN_OR_RETURN(SshKey key, PrepareBuild(job.name));
  auto report = [&progress](const std::string& line) {
    if (progress) progress(line);
  };

  BANGER_ASSIGN_OR_RETURN(Image img, NewManagedImage(job.name));
  {
    std::lock_guard<std::mutex> g(building_mu_);
    building_.insert(img.id);
  }
  ScopeGuard not_building([&] {
    std::lock_guard<std::mutex> g(building_mu_);
    building_.erase(img.id);
  });
  bool tagged = false;
  ScopeGuard undo([&] {
    RemoveAll(img.artifact_dir).ok();
    if (tagged) ReleaseOciTag(img.id);
  });
  const std::string what = job.source.ref.empty() ? job.source.path : job.source.ref;
  spdlog::info("{} image {} from {} in {}", job.source.ref.empty() ? "importing" : "pulling", img.name, what,
               img.artifact_dir);

  OciLayout layout(d_.home.OciLayoutDir());
  const std::string unpacked = img.artifact_dir + "/.oci-rootfs";
  OciFetched fetched;
  {
    BANGER_ASSIGN_OR_RETURN(OciLayout::Lock lock, layout.Acquire(report, cancel));
    auto f = layout.Fetch(job.source, img.id, report, cancel);
    if (!f.ok()) {
      if (cancel.load()) return Error::Internal("interrupted");
      return std::move(f).error();
    }
    fetched = std::move(*f);
    tagged = true;
    BANGER_FAULT_POINT("image.pull.fetched");
    report("unpacking " + std::to_string(fetched.layers.size()) + " layers");
    auto st = layout.Unpack(img.id, unpacked, cancel);
    if (!st.ok()) {
      if (cancel.load()) return Error::Internal("interrupted");
      return st.error().Wrap(what);
    }
  }
  if (cancel.load()) return Error::Internal("interrupted");

  ImageBuildRequest br;
  br.name = job.name;
  br.profile = "oci";
  br.oci_rootfs_dir = unpacked;
  br.rootfs_size_bytes = job.size_bytes;
  br.kernel_flavour = job.kernel_flavour;
  BANGER_RETURN_IF_ERROR(RunBuilder(br, key, img, report, cancel));
  img.source.kind = "oci";
  img.source.ref = job.recorded_ref;
  img.source.digest = fetched.digest;
  img.source.layers = fetched.layers;
  img.source.config = fetched.config;
  img.size_bytes = TreeAllocatedBytes(img.artifact_dir);
  img.created_at = img.updated_at = Now();
  BANGER_FAULT_POINT("image.pull.built");
  BANGER_RETURN_IF_ERROR(d_.store->InsertImage(img));
  undo.Dismiss();
  EmitImage("image.created", Json{{"image_id", img.id}, {"name", img.name}, {"source", job.recorded_ref}});
  spdlog::info("made image {} ({}) from {}", img.name, img.id, what);
  if (auto info = InspectKernelModules(img.modules_dir); info.ok()) {
    img.kernel_flavour = info->flavour;
    img.kernel_9p = info->has_9p;
  }
  return img;
}

void ImageService::ReleaseOciTag(const std::string& tag) {
  const std::atomic<bool> no_cancel{false};
  OciLayout layout(d_.home.OciLayoutDir());
  auto lock = layout.Acquire([](const std::string&) {}, no_cancel);
  if (!lock.ok()) {
    spdlog::warn("layer cache: {} (tag {} stays until image prune)", lock.error().message(), tag);
    return;
  }
  if (auto st = layout.RemoveTag(tag); !st.ok()) spdlog::warn("layer cache: {}", st.error().message());
  auto freed = layout.Gc([](const std::string&) { return true; });
  if (!freed.ok()) {
    spdlog::warn("layer cache: {}", freed.error().message());
  } else if (*freed > 0) {
    spdlog::info("layer cache: freed {} bytes", *freed);
  }
}

Result<PruneImagesResponse> ImageService::PruneImages() {
  const std::atomic<bool> no_cancel{false};
  BANGER_ASSIGN_OR_RETURN(std::vector<Image> images, d_.store->ListImages());
  OciLayout layout(d_.home.OciLayoutDir());
  BANGER_ASSIGN_OR_RETURN(OciLayout::Lock lock, layout.Acquire([](const std::string&) {}, no_cancel));
  // Keep every tag an image row names, and those of pulls still building
  // (their tag is in the cache, their row not yet written).
  std::set<std::string> keep;
  for (const Image& img : images) keep.insert(img.id);
  {
    std::lock_guard<std::mutex> g(building_mu_);
    keep.insert(building_.begin(), building_.end());
  }
  BANGER_ASSIGN_OR_RETURN(int64_t freed,
                          layout.Gc([&keep](const std::string& tag) { return keep.count(tag) != 0; }));
  EmitImage("image.pruned", Json{{"bytes_freed", freed}});
  return PruneImagesResponse{freed};
}

}  // namespace banger
