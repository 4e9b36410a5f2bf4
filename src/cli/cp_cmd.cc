// banger vm cp SRC DST: files in and out of a VM with docker cp's rules
// (docs/cli.md). The host side is read and written here, as the calling
// user (cli/cp_local.h); the tar travels over a WebSocket stream
// (/v1/vms/{ref}/archive[/upload], docs/adr/0023, 0026), whose digest is checked
// before anything lands under the target name.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

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

Result<std::unique_ptr<WsConn>> OpenArchive(CliContext& ctx, const std::string& target) {
  return OpenStream(ctx, target, nullptr, kStreamOpenTimeout);
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

// The messages after the archive: a result (checked against what passed) or an error.
Result<Json> FinishFrames(WsConn& ws, const std::string& sha,
                          const std::function<Status(std::string_view)>& more) {
  for (;;) {
    auto m = ws.Recv();
    if (!m.ok() || !m->has_value()) return Error::Unavailable("connection to bangerd lost during the copy");
    const WsMessage& msg = **m;
    if (msg.text) continue;
    std::string payload(msg.payload());
    if (msg.type() == Msg(StreamType::kError)) return DecodeErrorFrame(payload);
    if (msg.type() == Msg(StreamType::kStdout) && more) {
      BANGER_RETURN_IF_ERROR(more(payload));
      continue;
    }
    if (msg.type() != Msg(StreamType::kResult)) continue;
    auto j = ParseJson(payload);
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
  std::string target = "/v1/vms/" + UrlEncode(dst.vm_ref) + "/archive/upload?path=" + UrlEncode(guest_dir);
  if (!f.chown.empty()) target += "&chown=" + UrlEncode(f.chown);
  auto opened = OpenArchive(ctx, target);
  if (!opened.ok()) return Report(opened.error());
  std::shared_ptr<WsConn> ws(std::move(*opened));
  // The daemon answers early only with an error: a reader sees it while the
  // archive goes out, and stops the sending.
  std::atomic<bool> ended{false};
  Result<Json> outcome = Error::Unavailable("connection to bangerd lost during the copy");
  std::thread reader([&] {
    outcome = FinishFrames(*ws, "", nullptr);
    ended = true;
  });
  Sha256 sha;
  auto send = [&](std::string_view chunk) -> Status {
    while (!chunk.empty()) {
      if (ended) return Error::Unavailable("bangerd ended the copy early");
      std::string_view part = chunk.substr(0, kWsMaxPayload);
      sha.Update(part);
      BANGER_RETURN_IF_ERROR(ws->Send(Msg(StreamType::kStdin), part));
      chunk.remove_prefix(part.size());
    }
    return OkStatus();
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
  bool daemon_ended = ended;
  if (sent.ok()) {
    ws->Send(Msg(StreamType::kStdinEof), "").ok();
  } else if (!daemon_ended) {
    ws->Abort();  // a failure on this side: the daemon sees the client go
  }
  reader.join();
  // The daemon's own error, when it ended the stream, is the cause.
  if (!outcome.ok()) return Report(sent.ok() || daemon_ended ? outcome.error() : sent.error());
  if (!sent.ok()) return Report(sent.error());
  if (outcome->value("sha256", "") != sha.HexFinish()) {
    return Report(Error::Internal("the archive's digest does not match what passed (corrupted in transit)"));
  }
  if (ctx.json()) ctx.OutJson(*outcome);
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
  auto opened = OpenArchive(ctx, target);
  if (!opened.ok()) return Report(opened.error());
  WsConn& ws = **opened;
  Sha256 sha;
  if (dst.stdio) {
    auto out = [&](std::string_view d) {
      sha.Update(d);
      return WriteAllFd(STDOUT_FILENO, d);
    };
    auto done = FinishFrames(ws, "", out);
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
      auto m = ws.Recv();
      if (!m.ok() || !m->has_value()) return Error::Unavailable("connection to bangerd lost during the copy");
      const WsMessage& x = **m;
      if (x.text) continue;
      std::string payload(x.payload());
      if (x.type() == Msg(StreamType::kStdout)) {
        if (payload.empty()) continue;
        sha.Update(payload);
        return payload;
      }
      if (x.type() == Msg(StreamType::kError)) {
        ended = true;
        end_error = DecodeErrorFrame(payload);
        return *end_error;
      }
      if (x.type() == Msg(StreamType::kResult)) {
        ended = true;
        auto j = ParseJson(payload);
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
