#include "daemon/cp_service.h"

#include <signal.h>

#include <charconv>

#include "base/log.h"
#include "base/strings.h"
#include "daemon/cp_tar.h"

namespace banger {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxGuestErr = 16 * 1024;
constexpr size_t kMaxGuestOut = 4 * 1024 * 1024;  // ls: 10000 entries of JSON

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty()) out.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

bool ParseI64(std::string_view s, int64_t& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && v >= 0;
}

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Appends to a bounded capture (keeps the first `cap` bytes).
void Capture(std::string& dst, const std::string& data, size_t cap) {
  if (dst.size() < cap) dst.append(data, 0, cap - dst.size());
}

// The error of an agent run that exited with `exit_code`: the guest's own
// line when it sent one, else a description.
Error GuestFailure(const std::string& what, int exit_code, const std::string& err, std::string* code) {
  if (auto e = ParseCpErrorLine(err)) {
    if (code) *code = e->code;
    return {CpErrorKind(e->code), e->message};
  }
  if (code) *code = "io";
  std::string last = LastLine(err);
  if (exit_code == 127 || last.find("cp-out") != std::string::npos ||
      last.find("unknown") != std::string::npos) {
    return Error::Unavailable(what + " failed in the guest (exit " + std::to_string(exit_code) +
                              "); is its banger-agent older than this daemon? " + last);
  }
  return Error::Internal(what + " failed in the guest (exit " + std::to_string(exit_code) + ")" +
                         (last.empty() ? "" : ": " + last));
}

}  // namespace

std::optional<CpGuestError> ParseCpErrorLine(std::string_view text) {
  std::optional<CpGuestError> found;
  static constexpr std::string_view kPrefix = "banger-cp error=";
  for (std::string_view line : Lines(text)) {
    if (line.substr(0, kPrefix.size()) != kPrefix) continue;
    line.remove_prefix(kPrefix.size());
    size_t sp = line.find(' ');
    std::string c(line.substr(0, sp));
    static const char* kCodes[] = {"not_found", "permission", "no_space",  "read_only", "not_dir",
                                   "exists",    "invalid",    "too_large", "io"};
    bool known = false;
    for (const char* k : kCodes) known = known || c == k;
    CpGuestError e{known ? c : "io", sp == std::string_view::npos ? c : std::string(line.substr(sp + 1))};
    if (e.message.size() > 1024) e.message.resize(1024);
    for (char& ch : e.message) {
      if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
    }
    found = std::move(e);
  }
  return found;
}

std::optional<CpOkLine> ParseCpOkLine(std::string_view text) {
  std::optional<CpOkLine> found;
  static constexpr std::string_view kPrefix = "banger-cp ok ";
  for (std::string_view line : Lines(text)) {
    if (line.substr(0, kPrefix.size()) != kPrefix) continue;
    line.remove_prefix(kPrefix.size());
    CpOkLine ok;
    bool have_sha = false, have_bytes = false, bad = false;
    for (const auto& field : Split(std::string(line), ' ')) {
      size_t eq = field.find('=');
      if (eq == std::string::npos) continue;
      std::string k = field.substr(0, eq), v = field.substr(eq + 1);
      if (k == "sha256") {
        have_sha = IsHex64(v);
        ok.sha256 = v;
      } else if (k == "bytes") {
        have_bytes = ParseI64(v, ok.bytes);
      } else if (k == "entries") {
        bad = bad || !ParseI64(v, ok.entries);
      }
    }
    if (have_sha && have_bytes && !bad) found = ok;
  }
  return found;
}

int CpHttpStatus(const std::string& code) {
  if (code == "not_found") return 404;
  if (code == "permission") return 403;
  if (code == "no_space") return 507;
  if (code == "read_only" || code == "not_dir" || code == "exists") return 409;
  if (code == "invalid") return 400;
  if (code == "too_large") return 413;
  return 500;
}

ErrorKind CpErrorKind(const std::string& code) {
  if (code == "not_found") return ErrorKind::kNotFound;
  if (code == "permission" || code == "invalid" || code == "too_large") return ErrorKind::kInvalidArgument;
  if (code == "no_space" || code == "read_only" || code == "not_dir" || code == "exists")
    return ErrorKind::kConflict;
  return ErrorKind::kInternal;
}

Status ValidateGuestCpPath(const std::string& path) {
  if (path.empty() || path.front() != '/')
    return Error::Invalid("guest path \"" + path + "\" must be absolute");
  if (path.find('\0') != std::string::npos) return Error::Invalid("guest path contains a NUL byte");
  if (path.size() > 4096) return Error::Invalid("guest path longer than 4096 bytes");
  return OkStatus();
}

Status CpFrameWriter::Write(std::string_view data) {
  while (!data.empty()) {
    size_t n = std::min(data.size(), kMaxFrame);
    std::string frame(4, '\0');
    frame[0] = static_cast<char>((n >> 24) & 0xff);
    frame[1] = static_cast<char>((n >> 16) & 0xff);
    frame[2] = static_cast<char>((n >> 8) & 0xff);
    frame[3] = static_cast<char>(n & 0xff);
    frame.append(data.substr(0, n));
    sha_.Update(data.substr(0, n));
    bytes_ += static_cast<int64_t>(n);
    BANGER_RETURN_IF_ERROR(out_(frame));
    data.remove_prefix(n);
  }
  return OkStatus();
}

Result<std::string> CpFrameWriter::Finish() {
  auto digest = sha_.Finish();
  std::string end(4, '\0');
  end.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  BANGER_RETURN_IF_ERROR(out_(end));
  return HexOf(digest.data(), digest.size());
}

Result<CpOutResult> CpService::CopyOut(const std::string& ref, const std::string& path, bool follow_links,
                                       const CpSink& sink, std::string* code) {
  BANGER_RETURN_IF_ERROR(ValidateGuestCpPath(path));
  ExecRequest er;
  er.argv = {agent_, "cp-out"};
  if (follow_links) er.argv.emplace_back("--follow-links");
  er.argv.push_back(path);
  er.cwd = "/";
  BANGER_ASSIGN_OR_RETURN(auto cmd, exec_.Open(ref, er, opts_.agent_timeout));
  (void)cmd->channel().CloseStdin();
  const std::string what = "copying " + path + " out of vm " + ref;
  Sha256 sha;
  CpOutResult out;
  std::string err;
  for (;;) {
    auto ev = cmd->channel().NextUntil(Clock::now() + opts_.idle_timeout);
    if (!ev.ok()) {
      (void)cmd->channel().Signal(SIGKILL);
      if (ev.error().kind() == ErrorKind::kTimeout) {
        return Error::Timeout(what + ": the guest sent nothing for " +
                              std::to_string(opts_.idle_timeout.count() / 1000) + " s");
      }
      return std::move(ev).error().Wrap(what + ": guest agent connection lost");
    }
    if (ev->kind == ExecEvent::kStderr) {
      Capture(err, ev->data, kMaxGuestErr);
      continue;
    }
    if (ev->kind == ExecEvent::kStdoutEof) continue;  // the ok line and EXIT follow
    if (ev->kind == ExecEvent::kExit) {
      if (ev->exit.ShellCode() != 0) return GuestFailure(what, ev->exit.ShellCode(), err, code);
      auto ok = ParseCpOkLine(err);
      out.sha256 = sha.HexFinish();
      if (!ok) return Error::Internal(what + ": the guest agent sent no digest");
      if (ok->sha256 != out.sha256 || ok->bytes != out.bytes) {
        spdlog::error("vm {}: cp-out {}: digest mismatch (guest {} {} bytes, host {} {} bytes)", ref, path,
                      ok->sha256, ok->bytes, out.sha256, out.bytes);
        return Error::Internal(what + ": the archive's digest does not match (corrupted in transit)");
      }
      return out;
    }
    sha.Update(ev->data);
    out.bytes += static_cast<int64_t>(ev->data.size());
    if (Status st = sink(ev->data); !st.ok()) {
      (void)cmd->channel().Signal(SIGKILL);
      return st.error().Wrap(what);
    }
  }
}

Result<CpInResult> CpService::CopyIn(const std::string& ref, const std::string& dir, const std::string& chown,
                                     const CpSource& source, std::string* code) {
  BANGER_RETURN_IF_ERROR(ValidateGuestCpPath(dir));
  if (!chown.empty() && chown != kChownKeep) BANGER_RETURN_IF_ERROR(ValidateChown(chown));
  ExecRequest er;
  er.argv = {agent_, "cp-in"};
  if (!chown.empty()) {
    er.argv.emplace_back("--chown");
    er.argv.push_back(chown);
  }
  er.argv.push_back(dir);
  er.cwd = "/";
  BANGER_ASSIGN_OR_RETURN(auto cmd, exec_.Open(ref, er, opts_.agent_timeout));
  const std::string what = "copying into " + dir + " of vm " + ref;
  ExecChannel& ch = cmd->channel();
  CpFrameWriter writer([&ch](std::string_view frame) { return ch.WriteStdin(frame); });
  std::string sent_sha;
  bool guest_stopped = false;  // the agent stopped taking input (it failed or exited)
  for (;;) {
    auto chunk = source();
    if (!chunk.ok()) {
      // Never committed: the terminator was not sent. The end of stdin makes
      // the agent remove its staging directory (a SIGKILL would leave it);
      // one that does not exit in time is killed.
      (void)ch.CloseStdin();
      auto until = Clock::now() + opts_.idle_timeout;
      for (;;) {
        auto ev = ch.NextUntil(until);
        if (!ev.ok()) {
          (void)ch.Signal(SIGKILL);
          break;
        }
        if (ev->kind == ExecEvent::kExit) break;
      }
      return std::move(chunk).error().Wrap(what);
    }
    if (!chunk->has_value()) {
      auto fin = writer.Finish();
      if (!fin.ok()) {
        guest_stopped = true;
        break;
      }
      sent_sha = *fin;
      (void)ch.CloseStdin();
      break;
    }
    if (Status st = writer.Write(**chunk); !st.ok()) {
      if (st.error().kind() == ErrorKind::kTimeout) {
        (void)ch.Signal(SIGKILL);
        return Error::Timeout(what + ": the guest stopped taking data (" + st.error().message() + ")");
      }
      guest_stopped = true;
      break;
    }
  }
  std::string out, err;
  auto deadline = Clock::now() + (guest_stopped ? opts_.idle_timeout : opts_.commit_timeout);
  for (;;) {
    auto ev = ch.NextUntil(deadline);
    if (!ev.ok()) {
      (void)ch.Signal(SIGKILL);
      if (ev.error().kind() == ErrorKind::kTimeout)
        return Error::Timeout(what + ": the guest did not finish");
      return std::move(ev).error().Wrap(what + ": guest agent connection lost");
    }
    if (ev->kind == ExecEvent::kStdout) Capture(out, ev->data, kMaxGuestErr);
    if (ev->kind == ExecEvent::kStderr) Capture(err, ev->data, kMaxGuestErr);
    if (ev->kind != ExecEvent::kExit) continue;
    if (ev->exit.ShellCode() != 0) return GuestFailure(what, ev->exit.ShellCode(), err, code);
    if (guest_stopped)
      return Error::Internal(what + ": the guest agent stopped reading but reported success");
    auto ok = ParseCpOkLine(out);
    if (!ok || ok->sha256 != sent_sha || ok->bytes != writer.bytes()) {
      return Error::Internal(what + ": the guest agent did not confirm the archive's digest");
    }
    return CpInResult{ok->bytes, std::max<int64_t>(ok->entries, 0), ok->sha256};
  }
}

Result<Json> CpService::RunJson(const std::string& ref, const std::string& verb, const std::string& path,
                                std::string* code) {
  BANGER_RETURN_IF_ERROR(ValidateGuestCpPath(path));
  ExecRequest er;
  er.argv = {agent_, verb, path};
  er.cwd = "/";
  GuestRunOptions ro;
  ro.agent_timeout = opts_.agent_timeout;
  ro.max_output = kMaxGuestOut;
  BANGER_ASSIGN_OR_RETURN(GuestRunResult run, exec_.Run(ref, er, ro));
  const std::string what = verb + " " + path + " in vm " + ref;
  if (run.code() != 0) return GuestFailure(what, run.code(), run.err, code);
  if (run.truncated) return Error::Internal(what + ": the guest's answer is too large");
  auto j = ParseJson(run.out);
  if (!j.ok() || !j->is_object())
    return Error::Internal(what + ": the guest agent's answer is not a JSON object");
  return *j;
}

Result<Json> CpService::Stat(const std::string& ref, const std::string& path, std::string* code) {
  return RunJson(ref, "stat", path, code);
}

Result<Json> CpService::List(const std::string& ref, const std::string& path, std::string* code) {
  return RunJson(ref, "ls", path, code);
}

Result<std::string> CpService::ReadFile(const std::string& ref, const std::string& path, int64_t max_bytes,
                                        std::string* code) {
  BANGER_ASSIGN_OR_RETURN(Json st, Stat(ref, path, code));
  if (st.value("type", "") != "file") {
    if (code) *code = "invalid";
    return Error::Invalid(path + " in the guest is not a regular file");
  }
  if (st.value("size", int64_t{0}) > max_bytes) {
    if (code) *code = "too_large";
    return Error::Invalid(path + " is larger than " + std::to_string(max_bytes) +
                          " bytes; copy it with GET /v1/vms/{ref}/archive (banger vm cp)");
  }
  std::string tar;
  const auto cap = static_cast<size_t>(max_bytes) + 64 * 1024;
  auto sink = [&](std::string_view d) -> Status {
    if (tar.size() + d.size() > cap) return Error::Invalid(path + " grew past the size limit while read");
    tar.append(d);
    return OkStatus();
  };
  auto copied = CopyOut(ref, path, false, sink, code);
  if (!copied.ok()) return std::move(copied).error();
  return SingleFileFromTar(tar, max_bytes);
}

Result<CpInResult> CpService::WriteFile(const std::string& ref, const std::string& path,
                                        const std::string& data, unsigned mode, const std::string& chown,
                                        std::string* code) {
  BANGER_RETURN_IF_ERROR(ValidateGuestCpPath(path));
  size_t slash = path.rfind('/');
  std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  std::string name = path.substr(slash + 1);
  if (name.empty() || name == "." || name == "..")
    return Error::Invalid("guest path \"" + path + "\" names no file");
  BANGER_ASSIGN_OR_RETURN(std::string tar, SingleFileTar(name, data, mode));
  bool sent = false;
  CpSource source = [&]() -> Result<std::optional<std::string>> {
    if (sent) return std::optional<std::string>();
    sent = true;
    return std::optional<std::string>(std::move(tar));
  };
  return CopyIn(ref, dir, chown, source, code);
}

}  // namespace banger
