#include "daemon/image_service.h"

#include <unistd.h>

#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/scope_guard.h"
#include "daemon/ssh_key.h"
#include "image/builder.h"
#include "image/kernel_info.h"

namespace banger {
namespace {

// The image as the API shows it: with what its kernel is and can do, read
// from its module tree (image/kernel_info.h); unknown when it has none.
Image WithKernelInfo(Image img) {
  if (auto info = InspectKernelModules(img.modules_dir); info.ok()) {
    img.kernel_flavour = info->flavour;
    img.kernel_9p = info->has_9p;
  }
  return img;
}

Status CheckInputFile(const char* what, const std::string& p, bool required) {
  if (p.empty()) {
    if (required) return Error::Invalid(std::string(what) + " path is required");
    return OkStatus();
  }
  if (p[0] != '/') return Error::Invalid(std::string(what) + " path must be absolute: " + p);
  if (!PathExists(p)) return Error::Invalid(std::string(what) + " " + p + " does not exist");
  if (!IsRegularFile(p)) return Error::Invalid(std::string(what) + " " + p + " is not a regular file");
  if (::access(p.c_str(), R_OK) != 0) return Error::Invalid(std::string(what) + " " + p + " is not readable");
  return OkStatus();
}

Status CheckBuildRequest(const BuildImageRequest& req) {
  BANGER_RETURN_IF_ERROR(ValidateImageName(req.name));
  BANGER_RETURN_IF_ERROR(ValidateKernelFlavour(req.kernel_flavour));
  if (req.profile != "minimal" && req.profile != "debian") {
    return Error::Invalid("unknown profile \"" + req.profile + "\" (use minimal or debian)");
  }
  if (req.docker && req.profile != "debian") return Error::Invalid("--docker needs --profile debian");
  if (req.size_bytes < 0 || req.size_bytes > kMaxDiskBytes) {
    return Error::Invalid("image size exceeds the maximum of 128G");
  }
  return OkStatus();
}

}  // namespace

void ImageService::EmitImage(const std::string& type, Json data) {
  Event ev;
  ev.type = type;
  ev.data = std::move(data);
  d_.events->Emit(std::move(ev));
}

Result<Image> ImageService::ImportImage(const ImportImageRequest& req) {
  BANGER_RETURN_IF_ERROR(ValidateImageName(req.name));
  BANGER_RETURN_IF_ERROR(CheckInputFile("kernel", req.kernel_path, true));
  BANGER_RETURN_IF_ERROR(CheckInputFile("rootfs", req.rootfs_path, true));
  BANGER_RETURN_IF_ERROR(CheckInputFile("initrd", req.initrd_path, false));
  BANGER_RETURN_IF_ERROR(CheckInputFile("work seed", req.work_seed_path, false));
  if (!req.modules_dir.empty()) {
    if (req.modules_dir[0] != '/') return Error::Invalid("modules path must be absolute: " + req.modules_dir);
    if (!IsDirectory(req.modules_dir))
      return Error::Invalid("modules dir " + req.modules_dir + " is not a directory");
  }
  Image img;
  img.id = NewId();
  img.name = req.name;
  img.managed = false;
  img.kernel_path = req.kernel_path;
  img.rootfs_path = req.rootfs_path;
  img.initrd_path = req.initrd_path;
  img.modules_dir = req.modules_dir;
  img.work_seed_path = req.work_seed_path;
  img.source.kind = "import";
  img.created_at = img.updated_at = Now();
  BANGER_RETURN_IF_ERROR(d_.store->InsertImage(img));
  EmitImage("image.created", Json{{"image_id", img.id}, {"name", img.name}});
  spdlog::info("imported image {} ({})", img.name, img.id);
  return img;
}

Result<Image> ImageService::NewManagedImage(const std::string& name) {
  Image img;
  img.id = NewId();
  img.name = name;
  img.managed = true;
  img.artifact_dir = d_.home.ImagesDir() + "/" + img.id.substr(0, 16);
  BANGER_RETURN_IF_ERROR(MakeDirs(img.artifact_dir, 0755));
  return img;
}

Result<Image> ImageService::BuildImage(const BuildImageRequest& req,
                                       const std::function<void(const std::string&)>& progress,
                                       const std::atomic<bool>& cancel) {
  if (!req.from_oci.empty()) return BuildImageFromOci(req, progress, cancel);
  if (!req.from_rootfs.empty()) return BuildImageFromRootfs(req, progress, cancel);
  BANGER_RETURN_IF_ERROR(CheckBuildRequest(req));
  BANGER_ASSIGN_OR_RETURN(SshKey key, PrepareBuild(req.name));

  BANGER_ASSIGN_OR_RETURN(Image img, NewManagedImage(req.name));
  ScopeGuard undo([&] { RemoveAll(img.artifact_dir).ok(); });
  BANGER_FAULT_POINT("image.build.dir_made");
  spdlog::info("building image {} (profile {}{}) in {}", img.name, req.profile, req.docker ? ", docker" : "",
               img.artifact_dir);

  ImageBuildRequest br;
  br.name = req.name;
  br.profile = req.profile;
  br.docker = req.docker;
  br.rootfs_size_bytes = req.size_bytes;
  br.kernel_flavour = req.kernel_flavour;
  BANGER_RETURN_IF_ERROR(RunBuilder(br, key, img, progress, cancel));
  img.docker = req.docker;
  img.source.kind = "profile";
  img.source.profile = req.profile;
  img.size_bytes = TreeAllocatedBytes(img.artifact_dir);
  img.created_at = img.updated_at = Now();
  BANGER_RETURN_IF_ERROR(d_.store->InsertImage(img));
  undo.Dismiss();
  BANGER_FAULT_POINT("image.build.row_written");
  EmitImage("image.created", Json{{"image_id", img.id}, {"name", img.name}, {"profile", req.profile}});
  spdlog::info("built image {} ({})", img.name, img.id);
  return WithKernelInfo(std::move(img));
}

Result<SshKey> ImageService::PrepareBuild(const std::string& name) {
  if (d_.store->GetImage(name).ok()) return Error::Conflict("image name \"" + name + "\" is already in use");
  if (d_.agent_binary.empty() || !IsRegularFile(d_.agent_binary)) {
    return Error::Unavailable(
        "the guest agent binary banger-agent was not found next to bangerd nor in ../lib/banger (" +
        d_.agent_binary + "); reinstall banger");
  }
  return EnsureSshKey(d_.config.ssh_key_path, d_.home.root);
}

Status ImageService::RunBuilder(const ImageBuildRequest& br, const SshKey& key, Image& img,
                                const std::function<void(const std::string&)>& progress,
                                const std::atomic<bool>& cancel) {
  ImageBuildEnv env;
  env.artifact_dir = img.artifact_dir;
  env.agent_binary = d_.agent_binary;
  env.ssh_public_key = key.public_key;
  env.kernel_cache_dir = d_.home.root + "/cache";
  auto built = banger::BuildImage(br, env, progress, cancel);
  if (!built.ok()) return std::move(built).error().Wrap("building image " + br.name);
  img.kernel_path = built->kernel_path;
  img.initrd_path = built->initrd_path;
  img.rootfs_path = built->rootfs_path;
  img.modules_dir = built->modules_dir;
  img.work_seed_path = built->work_seed_path;
  img.build_size = built->build_size;
  img.seeded_ssh_public_key_fingerprint = key.fingerprint;
  return OkStatus();
}

Result<std::vector<Image>> ImageService::ListImages() {
  BANGER_ASSIGN_OR_RETURN(std::vector<Image> images, d_.store->ListImages());
  for (Image& img : images) img = WithKernelInfo(std::move(img));
  return images;
}

Result<Image> ImageService::GetImage(const std::string& ref) {
  BANGER_ASSIGN_OR_RETURN(Image img, d_.store->GetImage(ref));
  return WithKernelInfo(std::move(img));
}

Result<std::string> ImageService::DeleteImage(const std::string& ref) {
  BANGER_ASSIGN_OR_RETURN(Image img, d_.store->GetImage(ref));
  BANGER_ASSIGN_OR_RETURN(int users, d_.store->CountVmsUsingImage(img.id));
  if (users > 0) {
    return Error::Conflict("image " + img.name + " is used by " + std::to_string(users) +
                           " vm(s); delete them first");
  }
  BANGER_RETURN_IF_ERROR(d_.store->DeleteImage(img.id));
  if (img.managed && !img.artifact_dir.empty()) RemoveAll(img.artifact_dir).ok();
  // Its layers go with it unless another image uses them.
  if (img.source.kind == "oci") ReleaseOciTag(img.id);
  // Its templates' rows went with it (foreign key); their files go now.
  if (on_deleted_) on_deleted_(img.id);
  EmitImage("image.deleted", Json{{"image_id", img.id}, {"name", img.name}});
  return img.id;
}

}  // namespace banger
