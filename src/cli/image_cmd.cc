// banger image import|list|show|delete
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "api/stream.h"
#include "http/http.h"

namespace banger {
namespace {

std::string ImagePath(const std::string& ref) { return "/v1/images/" + UrlEncode(ref); }

struct BuildFlags {
  std::string name;
  std::string profile = "minimal";
  bool docker = false;
  std::string size;
};

// Streams the daemon's build progress (shown on a terminal only) until the
// image or the error arrives. Ctrl-C ends the connection, which cancels the
// build in the daemon and leaves nothing behind.
int ImageBuild(CliContext& ctx, const BuildFlags& f) {
  Json body{{"name", f.name}, {"profile", f.profile}, {"docker", f.docker}};
  if (!f.size.empty()) {
    auto sz = ParseSize(f.size);
    if (!sz.ok()) return Report(sz.error());
    body["size_bytes"] = *sz;
  }
  auto image = ProgressCall(ctx, "/v1/images/build", body, "the build");
  if (!image.ok()) return Report(image.error());
  ctx.OutNameOrJson(*image);
  return kExitOk;
}

int ImageImport(CliContext& ctx, const ImportFlags& f) {
  auto body = BuildImportRequest(f);
  if (!body.ok()) return Report(body.error());
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  ctx.Progress("importing image " + f.name + "...");
  auto image = (*api)->Call("POST", "/v1/images", &*body, kLongTimeout);
  if (!image.ok()) return Report(image.error());
  ctx.OutNameOrJson(*image);
  return kExitOk;
}

int ImageList(CliContext& ctx) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  auto list = (*api)->Call("GET", "/v1/images");
  if (!list.ok()) return Report(list.error());
  Json images = list->value("images", Json::array());
  if (ctx.json()) {
    ctx.OutJson(images);
  } else {
    ctx.Out(RenderImageTable(images, Now()));
  }
  return kExitOk;
}

int ImageShow(CliContext& ctx, const std::string& ref) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  auto image = (*api)->Call("GET", ImagePath(ref));
  if (!image.ok()) return Report(image.error());
  if (ctx.json()) {
    ctx.OutJson(*image);
  } else {
    ctx.Out(RenderKeyValues(ImageDetails(*image)));
  }
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

Result<Json> ProgressCall(CliContext& ctx, const std::string& target, const Json& body, const std::string& what) {
  auto api = ctx.Connect();
  if (!api.ok()) return std::move(api).error();
  HttpRequest req;
  req.method = "POST";
  req.target = target;
  req.body = body.dump();
  auto up = UnixHttpUpgrade((*api)->home().Socket(), req, kStreamProtocol, std::chrono::seconds(30));
  if (!up.ok()) return std::move(up).error();
  if (up->status != 101) return ErrorFromResponse(up->response);
  StreamReader reader(up->fd.get(), std::move(up->leftover));
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
  auto* image = app.add_subcommand("image", "Manage guest images (kernel + root filesystem)");
  image->require_subcommand(1);
  {
    auto f = std::make_shared<BuildFlags>();
    auto* c = image->add_subcommand("build", "Build an image from Debian packages (kernel, initramfs, rootfs)");
    c->add_option("name", f->name, "Image name")->required();
    c->add_option("--profile", f->profile, "minimal (busybox + agent + ssh) or debian (Debian 12 with systemd)")
        ->check(CLI::IsMember({"minimal", "debian"}));
    c->add_flag("--docker", f->docker, "Add Docker and the kernel modules it needs (debian profile)");
    c->add_option("--size", f->size, "Root filesystem size (default: 512M minimal, 4G debian)")->type_name("SIZE");
    c->callback([=] { *selected = [=](CliContext& ctx) { return ImageBuild(ctx, *f); }; });
  }
  {
    auto f = std::make_shared<ImportFlags>();
    auto* c =
        image->add_subcommand("import", "Register existing kernel/rootfs files as an image (not copied)");
    c->add_option("name", f->name, "Image name")->required();
    c->add_option("--kernel", f->kernel, "Kernel image (vmlinux or bzImage)")->type_name("FILE")->required();
    c->add_option("--rootfs", f->rootfs, "Root filesystem image (ext4)")->type_name("FILE")->required();
    c->add_option("--initrd", f->initrd, "Initramfs")->type_name("FILE");
    c->add_option("--modules", f->modules, "Kernel modules directory")->type_name("DIR");
    c->add_option("--work-seed", f->work_seed, "Image the work disk starts from")->type_name("FILE");
    c->callback([=] { *selected = [=](CliContext& ctx) { return ImageImport(ctx, *f); }; });
  }
  {
    auto* c = image->add_subcommand("list", "List images");
    c->callback([=] { *selected = ImageList; });
  }
  {
    auto ref = std::make_shared<std::string>();
    auto* c = image->add_subcommand("show", "Show an image");
    c->add_option("name", *ref, "Image name or id")->required();
    c->callback([=] { *selected = [=](CliContext& ctx) { return ImageShow(ctx, *ref); }; });
  }
  {
    auto ref = std::make_shared<std::string>();
    auto* c = image->add_subcommand("delete", "Delete an image (refused while a VM uses it)");
    c->add_option("name", *ref, "Image name or id")->required();
    c->callback([=] { *selected = [=](CliContext& ctx) { return ImageDelete(ctx, *ref); }; });
  }
}

}  // namespace banger
