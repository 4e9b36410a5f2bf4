// banger image build|pull|import|list|show|delete|prune
#include <cstdlib>
#include <memory>
#include <string>

#include "api/stream.h"
#include "base/fs.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "http/http.h"
#include "oci/reference.h"

namespace banger {
namespace {

std::string ImagePath(const std::string& ref) { return "/v1/images/" + UrlEncode(ref); }

struct BuildFlags {
  std::string name;
  std::string profile = "minimal";
  bool docker = false;
  std::string size;
  std::string kernel_flavour = "cloud";
  std::string from_oci;
  std::string from_rootfs;
};

struct PullFlags {
  std::string ref;
  std::string name;
  bool insecure = false;
  std::string size;
  std::string kernel_flavour = "cloud";
};

// The calling user's docker credentials for `registry`
// ($DOCKER_CONFIG/config.json or ~/.docker/config.json), "" if none.
std::string DockerCredentials(const std::string& registry) {
  std::string path;
  if (const char* dc = std::getenv("DOCKER_CONFIG"); dc != nullptr && *dc != '\0') {
    path = std::string(dc) + "/config.json";
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    path = std::string(home) + "/.docker/config.json";
  }
  if (path.empty() || !IsRegularFile(path)) return "";
  auto text = ReadFile(path);
  return text.ok() ? DockerConfigAuth(*text, registry) : "";
}

// Streams the daemon's pull progress like a build; Ctrl-C cancels it.
int ImagePull(CliContext& ctx, const PullFlags& f) {
  auto ref = ParseOciReference(f.ref);
  if (!ref.ok()) return Report(ref.error());
  PullImageRequest req;
  req.ref = f.ref;
  req.name = f.name;
  req.insecure = f.insecure;
  req.kernel_flavour = f.kernel_flavour;
  if (!f.size.empty()) {
    auto sz = ParseSize(f.size);
    if (!sz.ok()) return Report(sz.error());
    req.size_bytes = *sz;
  }
  if (std::string auth = DockerCredentials(ref->registry); !auth.empty())
    req.auth = RegistryAuth{"", "", auth};
  auto image = ProgressCall(ctx, "/v1/images/pull", ToJson(req), "the pull");
  if (!image.ok()) return Report(image.error());
  ctx.OutNameOrJson(*image);
  return kExitOk;
}

int ImagePrune(CliContext& ctx) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  Json body = Json::object();
  auto r = (*api)->Call("POST", "/v1/images/prune", &body, kLongTimeout);
  if (!r.ok()) return Report(r.error());
  if (ctx.json()) {
    ctx.OutJson(*r);
  } else {
    ctx.Out("freed " + HumanBytes(r->value("bytes_freed", int64_t{0})) + "\n");
  }
  return kExitOk;
}

// Streams the daemon's build progress (shown on a terminal only) until the
// image or the error arrives. Ctrl-C ends the connection, which cancels the
// build in the daemon and leaves nothing behind.
int ImageBuild(CliContext& ctx, const BuildFlags& f) {
  BuildImageRequest req{f.name, f.profile, f.docker, 0, f.kernel_flavour, ""};
  if (!f.from_oci.empty()) req.from_oci = AbsolutePath(f.from_oci);
  if (!f.from_rootfs.empty()) req.from_rootfs = AbsolutePath(f.from_rootfs);
  if (!f.size.empty()) {
    auto sz = ParseSize(f.size);
    if (!sz.ok()) return Report(sz.error());
    req.size_bytes = *sz;
  }
  auto image = ProgressCall(ctx, "/v1/images/build", ToJson(req), "the build");
  if (!image.ok()) return Report(image.error());
  ctx.OutNameOrJson(*image);
  return kExitOk;
}

int ImageImport(CliContext& ctx, const ImportFlags& f) {
  auto req = BuildImportRequest(f);
  if (!req.ok()) return Report(req.error());
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  ctx.Progress("importing image " + f.name + "...");
  Json body = ToJson(*req);
  auto image = (*api)->Call("POST", "/v1/images", &body, kLongTimeout);
  if (!image.ok()) return Report(image.error());
  ctx.OutNameOrJson(*image);
  return kExitOk;
}

int ImageDelete(CliContext& ctx, const std::string& ref) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  auto r = (*api)->Call("DELETE", ImagePath(ref), nullptr, kLongTimeout);
  if (!r.ok()) return Report(r.error());
  if (ctx.json()) {
    ctx.OutJson(*r);
  } else {
    ctx.Out(ref + "\n");
  }
  return kExitOk;
}

}  // namespace

Result<Json> ProgressCall(CliContext& ctx, const std::string& target, const Json& body,
                          const std::string& what) {
  BANGER_ASSIGN_OR_RETURN(auto ws, OpenStream(ctx, target, &body));
  for (;;) {
    auto m = ws->Recv();
    if (!m.ok() || !m->has_value()) {
      return Error::Unavailable("connection to bangerd lost during " + what);
    }
    const WsMessage& msg = **m;
    if (msg.text) continue;
    std::string payload(msg.payload());
    if (msg.type() == Msg(StreamType::kProgress)) {
      ctx.Progress(payload);
    } else if (msg.type() == Msg(StreamType::kResult)) {
      return ParseJson(payload);
    } else if (msg.type() == Msg(StreamType::kError)) {
      return DecodeErrorFrame(payload);
    }
  }
}

void AddImageCommands(CLI::App& app, Command* selected) {
  auto* image = AddGroup(app, "image", "Manage guest images (kernel + root filesystem)");
  {
    auto [c, f] = AddLeaf<BuildFlags>(
        *image, selected, "build",
        "Build an image from Debian packages, or from an OCI image on this host (--from-oci)", ImageBuild);
    c->add_option("name", f->name, "Image name")->required();
    c->add_option("--profile", f->profile,
                  "minimal (busybox + agent + ssh) or debian (Debian 12 with systemd)")
        ->check(CLI::IsMember({"minimal", "debian"}));
    c->add_flag("--docker", f->docker, "Add Docker and the kernel modules it needs (debian profile)");
    c->add_option("--size", f->size, "Root filesystem size (default: 512M minimal, 4G debian)")
        ->type_name("SIZE");
    c->add_option("--kernel-flavour", f->kernel_flavour,
                  "Debian kernel: cloud (default: small, fast boot) or generic (has 9p, needed by `vm "
                  "create --mount`)")
        ->check(CLI::IsMember({"cloud", "generic"}))
        ->type_name("FLAVOUR");
    c->add_option("--from-oci", f->from_oci,
                  "Build from an OCI image layout directory, an OCI archive or a `docker save` tar (offline)")
        ->type_name("PATH");
    c->add_option("--from-rootfs", f->from_rootfs,
                  "Build from a root filesystem directory on this host (copied as it is; banger's init and "
                  "agent come from the initramfs)")
        ->type_name("DIR")
        ->excludes("--from-oci");
  }
  {
    auto [c, f] = AddLeaf<PullFlags>(
        *image, selected, "pull", "Pull an OCI/Docker image from a registry and make a bootable image of it",
        ImagePull);
    c->add_option("ref", f->ref,
                  "Image reference (busybox:1.36, ghcr.io/o/app@sha256:..., localhost:5000/t:1)")
        ->required();
    c->add_option("--name", f->name, "Image name (default: the repository's last component and the tag)");
    c->add_flag("--insecure", f->insecure,
                "Allow plain HTTP and unverified TLS (implied for registries on a loopback address)");
    c->add_option("--size", f->size, "Root filesystem size (default: fitted to the image)")
        ->type_name("SIZE");
    c->add_option("--kernel-flavour", f->kernel_flavour, "Debian kernel: cloud (default) or generic (has 9p)")
        ->check(CLI::IsMember({"cloud", "generic"}))
        ->type_name("FLAVOUR");
  }
  {
    auto [c, f] =
        AddLeaf<ImportFlags>(*image, selected, "import",
                             "Register existing kernel/rootfs files as an image (not copied)", ImageImport);
    c->add_option("name", f->name, "Image name")->required();
    c->add_option("--kernel", f->kernel, "Kernel image (vmlinux or bzImage)")->type_name("FILE")->required();
    c->add_option("--rootfs", f->rootfs, "Root filesystem image (ext4)")->type_name("FILE")->required();
    c->add_option("--initrd", f->initrd, "Initramfs")->type_name("FILE");
    c->add_option("--modules", f->modules, "Kernel modules directory")->type_name("DIR");
    c->add_option("--work-seed", f->work_seed, "Image the work disk starts from")->type_name("FILE");
  }
  {
    auto [c, f] = AddLeaf<ListFormatFlags>(
        *image, selected, "list", "List images", [](CliContext& ctx, const ListFormatFlags& lf) {
          return GetAndShowList(ctx, lf, "/v1/images", "images",
                                [](const Json& l) { return RenderImageTable(l, Now()); });
        });
    c->alias("ls");
    AddListFlags(*c, *f, "image ids");
  }
  AddRefLeaf(*image, selected, "show", "Show an image", "name", "Image name or id",
             [](CliContext& ctx, const std::string& ref) {
               return GetAndShow(ctx, ImagePath(ref), nullptr,
                                 [](const Json& i) { return RenderKeyValues(ImageDetails(i)); });
             });
  AddRefLeaf(*image, selected, "delete",
             "Delete an image (refused while a VM uses it); frees layers no other image uses", "name",
             "Image name or id", ImageDelete);
  image->get_subcommand("delete")->alias("rm");
  image->add_subcommand("prune", "Free cached OCI layers no image uses (and leftovers of interrupted pulls)")
      ->callback([=] { *selected = [](CliContext& ctx) { return ImagePrune(ctx); }; });
  AddTemplateCommands(*image, selected);
}

}  // namespace banger
