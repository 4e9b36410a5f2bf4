// banger image template create|list|delete: template snapshots for warm start.
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "http/http.h"

namespace banger {
namespace {

int64_t IntAt(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<int64_t>() : 0;
}

std::string RenderTemplates(const Json& list) {
  std::vector<std::vector<std::string>> rows;
  const Timestamp now = Now();
  for (const auto& t : list) {
    auto created = ParseRfc3339(JsonText(t, "/created_at"));
    rows.push_back({JsonText(t, "/id").substr(0, 12), JsonText(t, "/image_name"), JsonText(t, "/backend"),
                    std::to_string(IntAt(t, "vcpu_count")), std::to_string(IntAt(t, "memory_mib")) + " MiB",
                    FormatSizeBytes(IntAt(t, "work_disk_size_bytes")), t.value("nic", false) ? "yes" : "no",
                    FormatSizeBytes(IntAt(t, "bytes_on_disk")), std::to_string(IntAt(t, "uses")),
                    created.ok() ? FormatAge(*created, now) : "-"});
  }
  return RenderTable(
      {"ID", "IMAGE", "BACKEND", "VCPUS", "MEMORY", "WORK DISK", "NIC", "SIZE ON DISK", "USES", "CREATED"},
      rows);
}

int TemplateCreate(CliContext& ctx, const TemplateFlags& f) {
  auto req = BuildTemplateRequest(f);
  if (!req.ok()) return Report(req.error());
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  ctx.Progress("booting and saving a template of image " + (f.image.empty() ? "(default)" : f.image) + "...");
  Json body = ToJson(*req);
  auto t = (*api)->Call("POST", "/v1/templates", &body, kLongTimeout);
  if (!t.ok()) return Report(t.error());
  if (ctx.json()) {
    ctx.OutJson(*t);
  } else {
    ctx.Out(JsonText(*t, "/id").substr(0, 12) + "\n");
  }
  return kExitOk;
}

int TemplateDelete(CliContext& ctx, const std::string& id) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  auto r = (*api)->Call("DELETE", "/v1/templates/" + UrlEncode(id), nullptr, kLongTimeout);
  if (!r.ok()) return Report(r.error());
  if (ctx.json()) {
    ctx.OutJson(*r);
  } else {
    ctx.Out(id + "\n");
  }
  return kExitOk;
}

struct ListFlags {
  std::string image;
  ListFormatFlags format;
};

}  // namespace

void AddTemplateCommands(CLI::App& image, Command* selected) {
  auto* tmpl = AddGroup(image, "template",
                        "Template snapshots: `vm create`/`vm run` of the same image and spec continue one "
                        "instead of booting");
  {
    auto [c, f] = AddLeaf<TemplateFlags>(
        *tmpl, selected, "create",
        "Boot a VM of the image, save it once its agent is up, and keep that as the template for this "
        "spec (replaces an older one)",
        TemplateCreate);
    c->add_option("image", f->image, "Image name or id (default: the config's default_image_name)");
    c->add_option("--vcpus,--cpus", f->vcpus, "Number of vCPUs of the VMs it serves")->type_name("N");
    c->add_option("--memory", f->memory, "Memory of the VMs it serves (2G, 512M; a bare number is MiB)")
        ->type_name("SIZE");
    c->add_option("--system-overlay-size", f->system_overlay_size, "Root filesystem overlay size")
        ->type_name("SIZE");
    c->add_option("--work-disk-size", f->work_disk_size, "Work disk size")->type_name("SIZE");
    c->add_option("--backend", f->backend, "VMM backend (default: the daemon's)")->type_name("BACKEND");
  }
  {
    auto [c, f] = AddLeaf<ListFlags>(
        *tmpl, selected, "list", "List template snapshots", [](CliContext& ctx, const ListFlags& lf) {
          std::string target = "/v1/templates";
          if (!lf.image.empty()) target += "?image=" + UrlEncode(lf.image);
          return GetAndShowList(ctx, lf.format, target, "templates", RenderTemplates);
        });
    c->add_option("image", f->image, "Only the templates of this image");
    c->alias("ls");
    AddListFlags(*c, f->format, "template ids");
  }
  AddRefLeaf(*tmpl, selected, "delete", "Delete a template snapshot (VMs boot cold again)", "id",
             "Template id (or a unique prefix of it)", TemplateDelete);
  tmpl->get_subcommand("delete")->alias("rm");
}

}  // namespace banger
