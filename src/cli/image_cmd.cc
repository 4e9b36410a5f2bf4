// banger image import|list|show|delete
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "http/http.h"

namespace banger {
namespace {

std::string ImagePath(const std::string& ref) { return "/v1/images/" + UrlEncode(ref); }

int ImageImport(CliContext& ctx, const ImportFlags& f) {
  auto body = BuildImportRequest(f);
  if (!body.ok()) return Report(body.error());
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  ctx.Progress("importing image " + f.name + "...");
  auto image = (*api)->Call("POST", "/v1/images", &*body, kLongTimeout);
  if (!image.ok()) return Report(image.error());
  if (ctx.json()) {
    ctx.OutJson(*image);
  } else {
    ctx.Out(JsonText(*image, "/name") + "\n");
  }
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

void AddImageCommands(CLI::App& app, Command* selected) {
  auto* image = app.add_subcommand("image", "Manage guest images (kernel + root filesystem)");
  image->require_subcommand(1);
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
