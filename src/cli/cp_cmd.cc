// banger vm cp SRC DST: files in and out of a VM with docker cp's rules
// (docs/cli.md). The host side is read and written here, as the calling
// user (cli/cp_local.h); the tar travels over an upgraded API connection
// (GET/PUT /v1/vms/{ref}/archive, docs/adr/0023), whose digest is checked
// before anything lands under the target name.
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/stream.h"
#include "base/sha256.h"
#include "cli/commands.h"
#include "cli/cp_local.h"
#include "http/http.h"
#include "model/requests.h"

namespace banger {
namespace {

struct CpFlags {
  std::string src, dst;
  bool follow = false;
  std::string chown;
};

constexpr std::chrono::minutes kStreamOpenTimeout{3};

Result<UpgradeResult> OpenArchive(CliContext& ctx, const std::string& method, const std::string& target) {
  BANGER_ASSIGN_OR_RETURN(auto api, ctx.Connect());
  HttpRequest req;
  req.method = method;
  req.target = target;
  BANGER_ASSIGN_OR_RETURN(auto up,
                          UnixHttpUpgrade(api->home().Socket(), req, kStreamProtocol, kStreamOpenTimeout));
  if (up.status != 101) return ErrorFromResponse(up.response);
  return up;
}

Status WriteAllFd(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::FromErrno("writing stdout");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

// The guest's stat of `path`; nullopt when it does not exist.
Result<std::optional<Json>> GuestStat(CliContext& ctx, const std::string& vm, const std::string& path) {
  BANGER_ASSIGN_OR_RETURN(auto api, ctx.Connect());
  // The VM first: after that, a 404 is about the path.
  if (auto v = api->Call("GET", "/v1/vms/" + UrlEncode(vm)); !v.ok()) return std::move(v).error();
  auto st = api->Call("GET", "/v1/vms/" + UrlEncode(vm) + "/files?stat=1&path=" + UrlEncode(path), nullptr,
                      kStreamOpenTimeout);
  if (!st.ok()) {
    if (st.error().kind() == ErrorKind::kNotFound) return std::optional<Json>();
    return std::move(st).error();
  }
  return std::optional<Json>(*st);
}

// The frames after the archive: a result (checked against what passed) or an error.
Result<Json> FinishFrames(StreamReader& reader, const std::string& sha,
                          const std::function<Status(std::string_view)>& more) {
  for (;;) {
    auto f = reader.Next();
    if (!f.ok() || !f->has_value()) return Error::Unavailable("connection to bangerd lost during the copy");
    StreamFrame& fr = **f;
    if (fr.type == StreamType::kError) return DecodeErrorFrame(fr.payload);
    if (fr.type == StreamType::kStdout && more) {
      BANGER_RETURN_IF_ERROR(more(fr.payload));
      continue;
    }
    if (fr.type != StreamType::kResult) continue;
    auto j = ParseJson(fr.payload);
    if (!j.ok() || !j->is_object()) return Error::Internal("bad result frame from bangerd");
    if (!sha.empty() && j->value("sha256", "") != sha) {
      return Error::Internal("the archive's digest does not match what passed (corrupted in transit)");
    }
    return *j;
  }
}

int CopyToVm(CliContext& ctx, const CpEndpoint& src, const CpEndpoint& dst, const CpFlags& f) {
  std::string guest_dir, top;
  bool src_is_dir = false;
  auto dst_stat = GuestStat(ctx, dst.vm_ref, TrimCpPath(dst.path));
  if (!dst_stat.ok()) return Report(dst_stat.error());
  std::optional<std::string> dst_type;
  if (dst_stat->has_value()) dst_type = (**dst_stat).value("type", "other");
  if (src.stdio) {
    if (dst_type != "dir") {
      return Report(
          Error::NotFound("destination " + dst.path + " must be an existing directory in the guest"));
    }
    guest_dir = TrimCpPath(dst.path);
  } else {
    struct stat st {};
    std::string p = TrimCpPath(src.path);
    if ((f.follow ? ::stat(p.c_str(), &st) : ::lstat(p.c_str(), &st)) != 0) {
      return Report(Error::FromErrno("reading " + src.path));
    }
    src_is_dir = S_ISDIR(st.st_mode);
    if (IsContentsPath(src.path) && !src_is_dir)
      return Report(Error::Invalid(src.path + ": not a directory"));
    auto plan = PlanCopyIn(src.path, src_is_dir, dst.path, dst_type);
    if (!plan.ok()) return Report(plan.error());
    guest_dir = plan->guest_dir;
    top = plan->top_name;
  }
  std::string target = "/v1/vms/" + UrlEncode(dst.vm_ref) + "/archive?path=" + UrlEncode(guest_dir);
  if (!f.chown.empty()) target += "&chown=" + UrlEncode(f.chown);
  auto up = OpenArchive(ctx, "PUT", target);
  if (!up.ok()) return Report(up.error());
  int fd = up->fd.get();
  Sha256 sha;
  auto send = [&](std::string_view chunk) -> Status {
    // The daemon answers early only with an error: stop sending and read it.
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) return Error::Unavailable("bangerd ended the copy early");
    sha.Update(chunk);
    return WriteStreamFrame(fd, StreamType::kStdin, chunk);
  };
  Status sent;
  if (src.stdio) {
    std::string buf(256 * 1024, '\0');
    for (;;) {
      ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        sent = Error::FromErrno("reading stdin");
        break;
      }
      if (n == 0) break;
      sent = send(std::string_view(buf.data(), static_cast<size_t>(n)));
      if (!sent.ok()) break;
    }
  } else {
    int skipped = 0;
    sent = WriteHostTar(src.path, f.follow, top, send, &skipped);
    if (skipped > 0) ctx.Progress("skipped " + std::to_string(skipped) + " sockets, fifos or devices");
  }
  StreamReader reader(fd, std::move(up->leftover));
  if (!sent.ok()) {
    // The daemon may have ended the stream with its own error: that one is the cause.
    auto f2 = reader.Next();
    if (f2.ok() && f2->has_value() && (**f2).type == StreamType::kError) {
      return Report(DecodeErrorFrame((**f2).payload));
    }
    return Report(sent.error());
  }
  WriteStreamFrame(fd, StreamType::kStdinEof, "").ok();
  auto done = FinishFrames(reader, sha.HexFinish(), nullptr);
  if (!done.ok()) return Report(done.error());
  if (ctx.json()) ctx.OutJson(*done);
  return kExitOk;
}

int CopyFromVm(CliContext& ctx, const CpEndpoint& src, const CpEndpoint& dst, const CpFlags& f) {
  std::string target =
      "/v1/vms/" + UrlEncode(src.vm_ref) + "/archive?path=" + UrlEncode(TrimCpPath(src.path));
  if (f.follow) target += "&follow_links=1";
  std::unique_ptr<StagedExtract> stage;
  if (!dst.stdio) {
    auto b = StagedExtract::Begin(dst.path, CpBaseName(src.path), IsContentsPath(src.path));
    if (!b.ok()) return Report(b.error());
    stage = std::move(*b);
  }
  auto up = OpenArchive(ctx, "GET", target);
  if (!up.ok()) return Report(up.error());
  StreamReader reader(up->fd.get(), std::move(up->leftover));
  Sha256 sha;
  if (dst.stdio) {
    auto out = [&](std::string_view d) {
      sha.Update(d);
      return WriteAllFd(STDOUT_FILENO, d);
    };
    auto done = FinishFrames(reader, "", out);
    if (!done.ok()) return Report(done.error());
    if (done->value("sha256", "") != sha.HexFinish()) {
      return Report(
          Error::Internal("the archive's digest does not match what passed (corrupted in transit)"));
    }
    return kExitOk;
  }
  bool ended = false;
  std::optional<Error> end_error;
  std::string end_sha;
  auto read = [&]() -> Result<std::string> {
    if (ended) return std::string();
    for (;;) {
      auto fr = reader.Next();
      if (!fr.ok() || !fr->has_value())
        return Error::Unavailable("connection to bangerd lost during the copy");
      StreamFrame& x = **fr;
      if (x.type == StreamType::kStdout) {
        if (x.payload.empty()) continue;
        sha.Update(x.payload);
        return std::move(x.payload);
      }
      if (x.type == StreamType::kError) {
        ended = true;
        end_error = DecodeErrorFrame(x.payload);
        return *end_error;
      }
      if (x.type == StreamType::kResult) {
        ended = true;
        auto j = ParseJson(x.payload);
        if (!j.ok() || !j->is_object()) {
          end_error = Error::Internal("bad result frame from bangerd");
          return *end_error;
        }
        end_sha = j->value("sha256", "");
        return std::string();
      }
    }
  };
  Status st = stage->Extract(read);
  if (end_error) return Report(*end_error);  // the guest's or daemon's own error first
  if (!st.ok()) return Report(st.error());
  // libarchive stops at the archive's end marker: the rest (padding, the result) is read here.
  while (!ended) {
    auto more = read();
    if (!more.ok()) return Report(more.error());
  }
  if (end_error) return Report(*end_error);
  if (end_sha != sha.HexFinish()) {
    return Report(Error::Internal("the archive's digest does not match what passed (corrupted in transit)"));
  }
  if (Status c = stage->Commit(); !c.ok()) return Report(c.error());
  return kExitOk;
}

int VmCp(CliContext& ctx, const CpFlags& f) {
  auto src = ParseCpEndpoint(f.src);
  if (!src.ok()) return Report(src.error(), kExitUsage);
  auto dst = ParseCpEndpoint(f.dst);
  if (!dst.ok()) return Report(dst.error(), kExitUsage);
  if (auto st = CheckCpPair(*src, *dst); !st.ok()) return Report(st.error(), kExitUsage);
  if (!f.chown.empty()) {
    if (!dst->vm) return Report(Error::Invalid("--chown applies to copies into a VM"), kExitUsage);
    if (auto st = ValidateChown(f.chown); !st.ok()) return Report(st.error(), kExitUsage);
  }
  ::signal(SIGPIPE, SIG_IGN);
  return dst->vm ? CopyToVm(ctx, *src, *dst, f) : CopyFromVm(ctx, *src, *dst, f);
}

}  // namespace

void AddCpCommand(CLI::App& vm, Command* selected) {
  auto [c, f] = AddLeaf<CpFlags>(vm, selected, "cp",
                                 "Copy files between the host and a VM: banger vm cp SRC VM:DST | VM:SRC DST "
                                 "(\"-\" = a tar stream on stdin/stdout)",
                                 VmCp);
  c->add_option("src", f->src, "Source: a host path, VM:PATH, or - (a tar on stdin)")->required();
  c->add_option("dst", f->dst, "Destination: a host path, VM:PATH, or - (a tar on stdout)")->required();
  c->add_flag("-L,--follow-links", f->follow, "Copy what SRC points to when it is a symlink");
  c->add_option("--chown", f->chown, "Owner of everything copied into the VM (numeric)")
      ->type_name("UID:GID");
}

}  // namespace banger
