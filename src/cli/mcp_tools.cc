// The MCP tools (docs/mcp.md): VM lifecycle, commands and files, each a few
// API calls through the McpBackend. Failures the model should see (unknown
// VM, guest errors, the API refusing a value) are is_error results carrying
// the API's one-line message; the arguments' shape was checked before.
#include "cli/mcp_tools.h"

#include <signal.h>

#include "http/http.h"
#include "oci/reference.h"

namespace banger {
namespace {

using std::chrono::seconds;

constexpr int kDefaultExecTimeoutS = 120;
// File bytes a file_read shows at most.
constexpr size_t kMaxReadShown = 256 * 1024;

McpToolResult Fail(const Error& e) { return {e.message(), Json(), true}; }

std::string Str(const Json& args, const char* key) {
  auto it = args.find(key);
  return it != args.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string VmPath(const std::string& ref) { return "/v1/vms/" + UrlEncode(ref); }

// A field of an API answer, or null when missing (answers are read, not trusted).
Json At(const Json& j, const char* pointer) {
  const Json::json_pointer p(pointer);
  return j.contains(p) ? j.at(p) : Json();
}

std::string AtText(const Json& j, const char* pointer) {
  Json v = At(j, pointer);
  if (v.is_string()) return v.get<std::string>();
  return v.is_null() ? "" : SafeDump(v);
}

Json VmSummary(const Json& vm) {
  Json s{{"name", At(vm, "/name")},
         {"id", At(vm, "/id")},
         {"state", At(vm, "/state")},
         {"image_id", At(vm, "/image_id")},
         {"vcpus", At(vm, "/spec/vcpu_count")},
         {"memory_mib", At(vm, "/spec/memory_mib")},
         {"labels", At(vm, "/labels").is_object() ? At(vm, "/labels") : Json::object()}};
  if (std::string ip = AtText(vm, "/runtime/guest_ip"); !ip.empty()) s["guest_ip"] = ip;
  if (std::string e = AtText(vm, "/runtime/last_error"); !e.empty()) s["last_error"] = e;
  return s;
}

std::string VmLine(const Json& s) {
  std::string line = "vm " + AtText(s, "/name") + ": " + AtText(s, "/state") + " (" + AtText(s, "/vcpus") +
                     " vCPU, " + AtText(s, "/memory_mib") + " MiB";
  if (s.contains("guest_ip")) line += ", ip " + AtText(s, "/guest_ip");
  if (!s["labels"].empty()) line += ", labels " + SafeDump(s["labels"]);
  line += ")";
  if (s.contains("last_error")) line += "; last error: " + AtText(s, "/last_error");
  return line;
}

McpToolResult OneVm(const Result<Json>& vm, const std::string& prefix) {
  if (!vm.ok()) return Fail(vm.error());
  Json s = VmSummary(*vm);
  return {prefix + VmLine(s), s};
}

// The VM a tool names, checked: the result is set when it is not a VM reference.
bool VmArg(const Json& args, std::string* ref, McpToolResult* bad) {
  *ref = Str(args, "vm");
  if (auto st = ValidateVmRef(*ref); !st.ok()) {
    *bad = Fail(st.error());
    return false;
  }
  return true;
}

McpToolResult VmCreate(McpBackend& api, const Json& args) {
  CreateVmRequest req;
  req.name = Str(args, "name");
  req.image = Str(args, "image");
  if (args.contains("vcpus")) req.vcpu_count = args["vcpus"].get<int>();
  if (args.contains("memory_mib")) req.memory_mib = args["memory_mib"].get<int>();
  if (args.contains("labels")) req.labels = args["labels"].get<Labels>();
  Json body = ToJson(req);
  return OneVm(api.Call("POST", "/v1/vms", &body, kLongTimeout), "created ");
}

McpToolResult VmList(McpBackend& api, const Json& args) {
  std::string target = "/v1/vms";
  if (args.contains("labels") && !args["labels"].empty()) {
    std::string sel;
    for (const auto& [k, v] : args["labels"].items())
      sel += (sel.empty() ? "" : ",") + k + "=" + v.get<std::string>();
    target += "?label=" + UrlEncode(sel);
  }
  auto got = api.Call("GET", target, nullptr, kReadTimeout);
  if (!got.ok()) return Fail(got.error());
  Json vms = Json::array();
  std::string text;
  Json all = At(*got, "/vms");
  for (const auto& vm : all.is_array() ? all : Json::array()) {
    vms.push_back(VmSummary(vm));
    text += VmLine(vms.back()) + "\n";
  }
  if (vms.empty()) text = "no vms\n";
  return {text, Json{{"vms", vms}}};
}

McpToolResult VmDelete(McpBackend& api, const Json& args) {
  std::string ref;
  McpToolResult bad;
  if (!VmArg(args, &ref, &bad)) return bad;
  auto r = api.Call("DELETE", VmPath(ref), nullptr, kLongTimeout);
  if (!r.ok()) return Fail(r.error());
  return {"deleted vm " + ref, Json{{"deleted", true}, {"vm", ref}, {"id", At(*r, "/id")}}};
}

McpToolResult VmStart(McpBackend& api, const Json& args) {
  std::string ref;
  McpToolResult bad;
  if (!VmArg(args, &ref, &bad)) return bad;
  return OneVm(api.Call("POST", VmPath(ref) + "/start", nullptr, kLongTimeout), "started ");
}

McpToolResult VmStop(McpBackend& api, const Json& args) {
  std::string ref;
  McpToolResult bad;
  if (!VmArg(args, &ref, &bad)) return bad;
  Json body = Json::object();
  return OneVm(api.Call("POST", VmPath(ref) + "/stop", &body, kLongTimeout), "stopped ");
}

McpToolResult VmExec(McpBackend& api, const Json& args) {
  std::string ref;
  McpToolResult bad;
  if (!VmArg(args, &ref, &bad)) return bad;
  ExecVmRequest req;
  const Json& cmd = args["command"];
  if (cmd.is_string()) {
    req.argv = {"/bin/sh", "-c", cmd.get<std::string>()};
  } else {
    req.argv = cmd.get<std::vector<std::string>>();
  }
  if (args.contains("env")) req.env = args["env"].get<std::map<std::string, std::string>>();
  req.cwd = Str(args, "cwd");
  req.user = Str(args, "user");
  int timeout_s = args.contains("timeout_s") ? args["timeout_s"].get<int>() : kDefaultExecTimeoutS;
  // One deadline for all of it: waiting for a booting VM's agent and the command.
  req.agent_timeout = seconds(timeout_s);
  auto r = api.Exec(ref, req, Str(args, "stdin"), seconds(timeout_s));
  if (!r.ok()) return Fail(r.error());
  const ExecOutcome& o = *r;
  Json s{{"exit_code", o.exit_code},
         {"timed_out", o.timed_out},
         {"stdout", o.out},
         {"stderr", o.err},
         {"stdout_bytes", o.out_bytes},
         {"stderr_bytes", o.err_bytes},
         {"stdout_truncated", o.out_truncated},
         {"stderr_truncated", o.err_truncated}};
  if (o.signaled) s["signal"] = o.signo;
  std::string text;
  if (o.timed_out) {
    text = "timed out after " + std::to_string(timeout_s) + " s: the command was killed\n";
  } else {
    text = "exit code " + std::to_string(o.exit_code);
    if (o.signaled) text += " (killed by signal " + std::to_string(o.signo) + ")";
    text += "\n";
  }
  if (!o.out.empty()) text += "stdout:\n" + o.out + (o.out.back() == '\n' ? "" : "\n");
  if (!o.err.empty()) text += "stderr:\n" + o.err + (o.err.back() == '\n' ? "" : "\n");
  if (o.out_truncated || o.err_truncated) {
    text += "(output longer than " + std::to_string((kExecHeadBytes + kExecTailBytes) / 1024) +
            " KiB per stream was cut in the middle; redirect it to a file and use file_read)\n";
  }
  return {text, s, o.timed_out};
}

// Whether `s` is text: UTF-8 without NUL bytes (a binary file goes as base64).
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    size_t n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 4;
    if (n == 4 || i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

Result<std::string> Base64Decode(const std::string& in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : in) {
    if (c == '\n' || c == '\r') continue;
    if (c == '=') {
      ++pad;
      continue;
    }
    int v = val(c);
    if (v < 0 || pad > 0) return Error::Invalid("content is not valid base64");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (pad > 2) return Error::Invalid("content is not valid base64");
  return out;
}

std::string FilesTarget(const std::string& ref, const std::string& path) {
  return VmPath(ref) + "/files?path=" + UrlEncode(path);
}

McpToolResult FileRead(McpBackend& api, const Json& args) {
  std::string ref;
  McpToolResult bad;
  if (!VmArg(args, &ref, &bad)) return bad;
  const std::string path = Str(args, "path");
  auto r = api.Raw("GET", FilesTarget(ref, path), "", kLongTimeout);
  if (!r.ok()) return Fail(r.error());
  if (r->content_type.rfind("application/json", 0) == 0) {
    return Fail(Error::Invalid(path + " is a directory: use file_list"));
  }
  const std::string& data = r->body;
  bool truncated = data.size() > kMaxReadShown;
  std::string shown = data.substr(0, kMaxReadShown);
  Json s{{"path", path}, {"bytes", data.size()}, {"truncated", truncated}};
  std::string note = truncated ? "\n[file is " + std::to_string(data.size()) + " bytes; the first " +
                                     std::to_string(kMaxReadShown) + " are shown]\n"
                               : "";
  // Cutting may split a UTF-8 sequence: a text file stays text.
  std::string check = shown;
  while (truncated && !check.empty() && (static_cast<unsigned char>(check.back()) & 0xC0) == 0x80)
    check.pop_back();
  if (truncated && !check.empty() && static_cast<unsigned char>(check.back()) >= 0xC0) check.pop_back();
  if (ValidUtf8(check)) {
    s["encoding"] = "utf-8";
    s["content"] = check;
    return {check + note, s};
  }
  s["encoding"] = "base64";
  s["content"] = Base64Encode(shown);
  return {"binary file (" + std::to_string(data.size()) + " bytes), base64:\n" + Base64Encode(shown) + note,
          s};
}

McpToolResult FileWrite(McpBackend& api, const Json& args) {
  std::string ref;
  McpToolResult bad;
  if (!VmArg(args, &ref, &bad)) return bad;
  const std::string path = Str(args, "path");
  std::string content = Str(args, "content");
  std::string encoding = args.contains("encoding") ? Str(args, "encoding") : "utf-8";
  if (encoding == "base64") {
    auto decoded = Base64Decode(content);
    if (!decoded.ok()) return Fail(decoded.error());
    content = std::move(*decoded);
  } else if (encoding != "utf-8") {
    return Fail(Error::Invalid("encoding must be \"utf-8\" or \"base64\", not \"" + encoding + "\""));
  }
  std::string target = FilesTarget(ref, path);
  if (std::string mode = Str(args, "mode"); !mode.empty()) target += "&mode=" + UrlEncode(mode);
  auto r = api.Raw("PUT", target, content, kLongTimeout);
  if (!r.ok()) return Fail(r.error());
  return {"wrote " + std::to_string(content.size()) + " bytes to " + path,
          Json{{"path", path}, {"bytes", content.size()}}};
}

std::string EntryLine(const Json& e) {
  std::string type = AtText(e, "/type");
  char t = type == "dir" ? 'd' : type == "file" ? '-' : type == "symlink" ? 'l' : '?';
  Json mode = At(e, "/mode");
  char m[8] = "?";
  if (mode.is_number_integer())
    std::snprintf(m, sizeof m, "%04o", static_cast<unsigned>(mode.get<int64_t>() & 07777));
  std::string line = std::string(1, t) + " " + m + " " + AtText(e, "/size") + " " + AtText(e, "/name");
  if (std::string target = AtText(e, "/link_target"); !target.empty()) line += " -> " + target;
  return line;
}

McpToolResult FileList(McpBackend& api, const Json& args) {
  std::string ref;
  McpToolResult bad;
  if (!VmArg(args, &ref, &bad)) return bad;
  const std::string path = Str(args, "path");
  auto st = api.Call("GET", FilesTarget(ref, path) + "&stat=1", nullptr, kLongTimeout);
  if (!st.ok()) return Fail(st.error());
  if (AtText(*st, "/type") != "dir") {
    return {path + " is not a directory: " + EntryLine(*st),
            Json{{"path", path}, {"entries", Json::array({*st})}}};
  }
  auto ls = api.Call("GET", FilesTarget(ref, path), nullptr, kLongTimeout);
  if (!ls.ok()) return Fail(ls.error());
  Json entries = At(*ls, "/entries");
  if (!entries.is_array()) entries = Json::array();
  std::string text = path + ": " + std::to_string(entries.size()) + " entries\n";
  for (const auto& e : entries) text += EntryLine(e) + "\n";
  if (At(*ls, "/truncated") == Json(true)) text += "(listing truncated)\n";
  return {text,
          Json{{"path", path}, {"entries", entries}, {"truncated", At(*ls, "/truncated") == Json(true)}}};
}

McpToolResult VmSnapshot(McpBackend& api, const Json& args) {
  std::string ref;
  McpToolResult bad;
  if (!VmArg(args, &ref, &bad)) return bad;
  Json body = Json::object();
  if (std::string name = Str(args, "name"); !name.empty()) body["name"] = name;
  auto r = api.Call("POST", VmPath(ref) + "/snapshots", &body, kLongTimeout);
  if (!r.ok()) return Fail(r.error());
  return {"snapshot " + AtText(*r, "/name") + " of vm " + ref + " saved (" + AtText(*r, "/bytes_on_disk") +
              " bytes on disk); the vm keeps running",
          Json{{"vm", ref}, {"name", At(*r, "/name")}, {"bytes_on_disk", At(*r, "/bytes_on_disk")}}};
}

McpToolResult VmFork(McpBackend& api, const Json& args) {
  std::string ref;
  McpToolResult bad;
  if (!VmArg(args, &ref, &bad)) return bad;
  Json body{{"name", Str(args, "name")}};
  if (args.contains("count")) body["count"] = args["count"];
  auto r = api.Call("POST", VmPath(ref) + "/fork", &body, kLongTimeout);
  if (!r.ok()) return Fail(r.error());
  Json vms = Json::array();
  std::string text = "forked vm " + ref + ":\n";
  Json all = At(*r, "/vms");
  for (const auto& vm : all.is_array() ? all : Json::array()) {
    vms.push_back(VmSummary(vm));
    text += VmLine(vms.back()) + "\n";
  }
  return {text, Json{{"vms", vms}}};
}

McpParam VmParam(const char* what) { return {"vm", McpParamType::kString, true, what}; }

std::vector<McpTool> MakeTools() {
  using T = McpParamType;
  return {
      {"vm_create",
       "Create a VM",
       "Create and boot a new microVM (a Linux guest with its own kernel). Returns once it runs; "
       "commands may take a few more seconds to be accepted while it boots (vm_exec waits for that). "
       "Every argument is optional: without a name one is generated, without an image the "
       "daemon's default image is used.",
       {{"name", T::kString, false,
         "The VM's name: a DNS label (lowercase letters, digits, '-', 1-63 characters)"},
        {"image", T::kString, false, "Image name (default: the daemon's default image)"},
        {"vcpus", T::kInteger, false, "Number of virtual CPUs", 1, 64},
        {"memory_mib", T::kInteger, false, "Memory in MiB", 64, 1 << 20},
        {"labels", T::kStringMap, false, "Labels to attach, e.g. {\"task\": \"build\"}"}},
       false,
       false,
       false,
       VmCreate},
      {"vm_list",
       "List VMs",
       "List the VMs with their state, size, address and labels.",
       {{"labels", T::kStringMap, false, "Only VMs carrying all these labels"}},
       true,
       false,
       true,
       VmList},
      {"vm_delete",
       "Delete a VM",
       "Delete a VM: stops it if it runs and removes its disks and snapshots. Irreversible.",
       {VmParam("The VM's name or id")},
       false,
       true,
       true,
       VmDelete},
      {"vm_start",
       "Start a VM",
       "Start a stopped VM (a running one is left as it is).",
       {VmParam("The VM's name or id")},
       false,
       false,
       true,
       VmStart},
      {"vm_stop",
       "Stop a VM",
       "Shut a running VM down (its disks are kept; vm_start boots it again).",
       {VmParam("The VM's name or id")},
       false,
       false,
       true,
       VmStop},
      {"vm_exec",
       "Run a command in a VM",
       "Run a command inside a VM (in the guest, never on the host) and wait for it to end. `command` is "
       "either a string, run by /bin/sh -c in the guest (pipes, redirections and && work), or an array "
       "of program and arguments, run as is. Returns the exit code, stdout and stderr; output longer "
       "than 32 KiB per stream is cut in the middle (first 24 KiB, last 8 KiB). Non-UTF-8 output "
       "bytes show as U+FFFD. A non-zero exit code is a normal result, not a tool error. Runs as "
       "root in /root unless user/cwd say otherwise.",
       {VmParam("The VM's name or id"),
        {"command", T::kCommand, true, "A shell command string, or an array [program, arg, ...]"},
        {"stdin", T::kString, false, "Text given to the command's standard input (default: none)"},
        {"timeout_s", T::kInteger, false,
         "Seconds before the command is killed (default 120), including waiting for a booting VM", 1, 3600},
        {"cwd", T::kString, false, "Working directory in the guest (default /root)"},
        {"env", T::kStringMap, false, "Environment variables to set"},
        {"user", T::kString, false, "Guest user to run as: name, uid or uid:gid (default root)"}},
       false,
       false,
       false,
       VmExec},
      {"file_read",
       "Read a file from a VM",
       "Read a file of a VM's filesystem. Text (UTF-8) comes back as is, other files as base64; at "
       "most 256 KiB is shown (files up to 8 MiB can be read).",
       {VmParam("The VM's name or id"), {"path", T::kString, true, "Absolute path in the guest"}},
       true,
       false,
       true,
       FileRead},
      {"file_write",
       "Write a file in a VM",
       "Write (create or replace, atomically) a file in a VM. Its directory must exist. At most 8 MiB.",
       {VmParam("The VM's name or id"),
        {"path", T::kString, true, "Absolute path in the guest"},
        {"content", T::kString, true, "The file's content"},
        {"encoding", T::kString, false,
         "\"utf-8\" (default): content is the text; \"base64\": content is base64"},
        {"mode", T::kString, false, "Permissions in octal, e.g. \"0755\" (default \"0644\")"}},
       false,
       false,
       true,
       FileWrite},
      {"file_list",
       "List a directory in a VM",
       "List a directory of a VM's filesystem: one line per entry with its type (d directory, - file, "
       "l symlink), permissions, size in bytes and name.",
       {VmParam("The VM's name or id"),
        {"path", T::kString, true, "Absolute path of a directory in the guest"}},
       true,
       false,
       true,
       FileList},
      {"vm_snapshot",
       "Snapshot a VM",
       "Save a running VM's full state (memory and disks) as a named snapshot; the VM keeps running.",
       {VmParam("The VM's name or id"),
        {"name", T::kString, false, "Snapshot name (default snap-<UTC time>)"}},
       false,
       false,
       false,
       VmSnapshot},
      {"vm_fork",
       "Fork a VM",
       "Make running copies of a running VM, continuing from its current state (processes, memory, "
       "files), each with its own name and address. count > 1 names them <name>-1 .. <name>-<count>.",
       {VmParam("The source VM's name or id"),
        {"name", T::kString, true, "The new VM's name (with count > 1, the prefix of the names)"},
        {"count", T::kInteger, false, "How many copies (default 1)", 1, 64}},
       false,
       false,
       false,
       VmFork},
  };
}

}  // namespace

const std::vector<McpTool>& McpTools() {
  static const std::vector<McpTool> tools = MakeTools();
  return tools;
}

const McpTool* FindMcpTool(const std::string& name) {
  for (const auto& t : McpTools()) {
    if (name == t.name) return &t;
  }
  return nullptr;
}

}  // namespace banger
