// banger image import|list|show|delete
#include <memory>
#include <string>

#include "api/stream.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "http/http.h"

namespace banger {
namespace {

std::string ImagePath(const std::string& ref) { return "/v1/images/" + UrlEncode(ref); }

struct BuildFlags {
  std::string name;
  std::string profile = "minimal";
  bool docker = false;
  std::string size;
  std::string kernel_flavour = "cloud";
};

// Streams the daemon's build progress (shown on a terminal only) until the
// image or the error arrives. Ctrl-C ends the connection, which cancels the
// build in the daemon and leaves nothing behind.
int ImageBuild(CliContext& ctx, const BuildFlags& f) {
  BuildImageRequest req{f.name, f.profile, f.docker, 0, f.kernel_flavour};
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
  BANGER_ASSIGN_OR_RETURN(auto up, OpenStream(ctx, target, body));
  StreamReader reader(up.fd.get(), std::move(up.leftover));
  for (;;) {
    auto frame = reader.Next();
    if (!frame.ok() || !frame->has_value()) {
      return Error::Unavailable("connection to bangerd lost during " + what);
    }
    StreamFrame& fr = **frame;
    if (fr.type == StreamType::kProgress) {
      ctx.Progress(fr.payload);
    } else if (fr.type == StreamType::kResult) {
      return ParseJson(fr.payload);
    } else if (fr.type == StreamType::kError) {
      return DecodeErrorFrame(fr.payload);
    }
  }
}

void AddImageCommands(CLI::App& app, Command* selected) {
  auto* image = AddGroup(app, "image", "Manage guest images (kernel + root filesystem)");
  {
    auto [c, f] =
        AddLeaf<BuildFlags>(*image, selected, "build",
                            "Build an image from Debian packages (kernel, initramfs, rootfs)", ImageBuild);
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
  image->add_subcommand("list", "List images")->callback([=] {
    *selected = [](CliContext& ctx) {
      return GetAndShow(ctx, "/v1/images", "images",
                        [](const Json& l) { return RenderImageTable(l, Now()); });
    };
  });
  AddRefLeaf(*image, selected, "show", "Show an image", "name", "Image name or id",
             [](CliContext& ctx, const std::string& ref) {
               return GetAndShow(ctx, ImagePath(ref), nullptr,
                                 [](const Json& i) { return RenderKeyValues(ImageDetails(i)); });
             });
  AddRefLeaf(*image, selected, "delete", "Delete an image (refused while a VM uses it)", "name",
             "Image name or id", ImageDelete);
  AddTemplateCommands(*image, selected);
}

}  // namespace banger
