#include "workspace/workspace.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <set>

#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "base/unique_fd.h"

namespace banger {

namespace {

namespace fs = std::filesystem;

constexpr auto kGitTimeout = std::chrono::minutes(30);

// git with the daemon's safety settings; a non-zero exit is an error quoting
// git's last line of stderr.
Result<std::string> Git(const std::vector<std::string>& args, const std::string& what) {
  std::vector<std::string> argv = {"git", "-c", "safe.directory=*", "-c", "core.fsmonitor=false"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunCommand(argv, kGitTimeout);
  if (!r.ok()) {
    if (r.error().kind() == ErrorKind::kNotFound || r.error().kind() == ErrorKind::kUnavailable) {
      return Error::Unavailable("git is not installed on the host (apt-get install git)");
    }
    return r.error().Wrap(what);
  }
  if (r->exit_code != 0) return Error::Invalid(what + ": " + LastLine(r->err.empty() ? r->out : r->err));
  return r->out;
}

// git whose non-zero exit means "no answer" (symbolic-ref of a detached HEAD...).
std::string GitOptional(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"git", "-c", "safe.directory=*", "-c", "core.fsmonitor=false"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunCommand(argv, kGitTimeout);
  return r.ok() && r->exit_code == 0 ? Trim(r->out) : "";
}

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

struct SinkState {
  const std::function<Status(std::string_view)>* sink;
  Status status = OkStatus();
};

la_ssize_t WriteCallback(archive*, void* client, const void* buf, size_t len) {
  auto* st = static_cast<SinkState*>(client);
  Status s = (*st->sink)(std::string_view(static_cast<const char*>(buf), len));
  if (!s.ok()) {
    st->status = std::move(s);
    return -1;
  }
  return static_cast<la_ssize_t>(len);
}

class TarWriter {
 public:
  TarWriter(const std::function<Status(std::string_view)>& sink,
            const std::function<void(const PackStats&)>& progress)
      : progress_(progress) {
    state_.sink = &sink;
  }

  Status Open() {
    a_.reset(archive_write_new());
    if (!a_) return Error::Internal("archive_write_new failed");
    if (archive_write_set_format_pax_restricted(a_.get()) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a_.get(), 1) != ARCHIVE_OK ||
        archive_write_open(a_.get(), &state_, nullptr, WriteCallback, nullptr) != ARCHIVE_OK) {
      return Failed("opening the tar stream");
    }
    return OkStatus();
  }

  // Adds `host` (lstat'ed) as `name`. Regular files, directories and
  // symlinks; anything else (sockets, fifos, devices) is skipped.
  Status Add(const std::string& host, const std::string& name) {
    struct stat st {};
    if (::lstat(host.c_str(), &st) != 0) {
      if (errno == ENOENT) return OkStatus();  // gone since it was listed
      return Error::FromErrno("reading " + host);
    }
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_perm(e.get(), st.st_mode & 07777);
    archive_entry_set_mtime(e.get(), st.st_mtime, 0);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    UniqueFd fd;
    if (S_ISREG(st.st_mode)) {
      fd = UniqueFd(::open(host.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      if (!fd.valid()) return Error::FromErrno("opening " + host);
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_size(e.get(), st.st_size);
    } else if (S_ISDIR(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFDIR);
    } else if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      auto target = fs::read_symlink(host, ec);
      if (ec) return Error::Internal("reading link " + host + ": " + ec.message());
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_symlink(e.get(), target.c_str());
    } else {
      return OkStatus();
    }
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return Failed("writing " + name);
    if (fd.valid()) {
      char buf[65536];
      int64_t left = st.st_size;  // exactly the size in the header, even if the file changes
      while (left > 0) {
        ssize_t n = ::read(fd.get(), buf, static_cast<size_t>(std::min<int64_t>(left, sizeof buf)));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::FromErrno("reading " + host);
        if (n == 0) break;  // shrank while read: the archive pads the rest with zeros
        if (archive_write_data(a_.get(), buf, static_cast<size_t>(n)) < 0) return Failed("writing " + name);
        left -= n;
        stats_.bytes += n;
        if (stats_.bytes - reported_bytes_ >= (8 << 20)) Report();
      }
      ++stats_.files;
    }
    return OkStatus();
  }

  Result<PackStats> Close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return Failed("finishing the tar stream").error();
    Report();
    return stats_;
  }

 private:
  Status Failed(const std::string& what) {
    if (!state_.status.ok()) return state_.status;  // the sink's own error says more
    const char* msg = archive_error_string(a_.get());
    return Error::Internal(what + ": " + (msg ? msg : "libarchive error"));
  }
  void Report() {
    reported_bytes_ = stats_.bytes;
    if (progress_) progress_(stats_);
  }

  std::unique_ptr<archive, ArchiveDeleter> a_;
  SinkState state_;
  const std::function<void(const PackStats&)>& progress_;
  PackStats stats_;
  int64_t reported_bytes_ = 0;
};

}  // namespace

Result<RepoInfo> InspectRepo(const std::string& path) {
  if (path.empty() || path[0] != '/')
    return Error::Invalid("workspace path \"" + path + "\" must be absolute");
  if (!IsDirectory(path)) return Error::Invalid("workspace path " + path + " is not a directory");
  RepoInfo r;
  auto top = Git({"-C", path, "rev-parse", "--show-toplevel"}, path + " is not inside a git work tree");
  if (!top.ok()) return std::move(top).error();
  r.root = Trim(*top);
  if (r.root.empty()) return Error::Invalid(path + " is not inside a git work tree");
  r.name = fs::path(r.root).filename().string();
  auto head = Git({"-C", r.root, "rev-parse", "--verify", "HEAD^{commit}"},
                  "the repository " + r.root + " has no commit yet (commit once, then prepare)");
  if (!head.ok()) return std::move(head).error();
  r.head_commit = Trim(*head);
  r.current_branch = GitOptional({"-C", r.root, "symbolic-ref", "-q", "--short", "HEAD"});
  r.origin_url = GitOptional({"-C", r.root, "remote", "get-url", "origin"});
  return r;
}

Status ValidateBranchName(const std::string& branch) {
  if (branch.empty() || branch.size() > 255 || branch[0] == '-') {
    return Error::Invalid("invalid branch name \"" + branch + "\"");
  }
  auto r = Git({"check-ref-format", "--branch", branch}, "invalid branch name \"" + branch + "\"");
  return r.ok() ? OkStatus() : Status(std::move(r).error());
}

Status ValidateGuestPath(const std::string& p) {
  auto bad = [&](const std::string& why) {
    return Error::Invalid("invalid guest path \"" + p + "\": " + why);
  };
  if (p.empty() || p[0] != '/') return bad("must be absolute");
  if (p.size() > 1024) return bad("longer than 1024 characters");
  for (char c : p) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return bad("holds a control character");
  }
  if (p.back() == '/') return bad("must not end with '/'");
  int depth = 0;
  size_t i = 1;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    std::string part = p.substr(i, j - i);
    if (part.empty() || part == "." || part == "..") return bad("must be normalised (no '//', '.' or '..')");
    ++depth;
    i = j + 1;
  }
  if (depth < 2) return bad("must be at least two levels deep (like /root/repo)");
  for (const char* sys : {"/proc/", "/sys/", "/dev/"}) {
    if (p.rfind(sys, 0) == 0) return bad(std::string("must not be under ") + sys);
  }
  return OkStatus();
}

Status StageGitDir(const RepoInfo& repo, WorkspacePrepareMode mode, const std::string& branch,
                   const std::string& staging) {
  std::vector<std::string> clone = {"clone", "--quiet", "--no-checkout"};
  if (mode != WorkspacePrepareMode::kFullCopy) {
    clone.insert(clone.end(), {"--depth", "1"});
  }
  clone.push_back("file://" + repo.root);
  clone.push_back(staging);
  BANGER_RETURN_IF_ERROR(ToStatus(Git(clone, "cloning " + repo.root)));
  auto in = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"-C", staging});
    return args;
  };
  std::string head = Trim(GitOptional(in({"rev-parse", "HEAD"})));
  if (head != repo.head_commit) {
    // The source's HEAD moved while we cloned, or is detached on a commit
    // the clone reached another way: pin the clone to the commit we report.
    BANGER_RETURN_IF_ERROR(ToStatus(Git(in({"fetch", "--quiet", "--depth", "1", "origin", repo.head_commit}),
                                        "fetching " + repo.head_commit)));
    BANGER_RETURN_IF_ERROR(
        ToStatus(Git(in({"update-ref", "--no-deref", "HEAD", repo.head_commit}), "pinning HEAD")));
  }
  if (!branch.empty() && branch != repo.current_branch) {
    BANGER_RETURN_IF_ERROR(
        ToStatus(Git(in({"branch", "--", branch, repo.head_commit}), "creating branch " + branch)));
    BANGER_RETURN_IF_ERROR(
        ToStatus(Git(in({"symbolic-ref", "HEAD", "refs/heads/" + branch}), "checking out branch " + branch)));
  }
  BANGER_RETURN_IF_ERROR(ToStatus(Git(in({"read-tree", "HEAD"}), "writing the index")));
  if (repo.origin_url.empty()) {
    BANGER_RETURN_IF_ERROR(
        ToStatus(Git(in({"remote", "remove", "origin"}), "dropping the host-only origin")));
  } else {
    BANGER_RETURN_IF_ERROR(
        ToStatus(Git(in({"remote", "set-url", "origin", repo.origin_url}), "setting origin")));
  }
  return OkStatus();
}

Result<std::vector<std::string>> WorkTreeFiles(const RepoInfo& repo, WorkspacePrepareMode mode) {
  std::vector<std::string> out;
  if (mode == WorkspacePrepareMode::kMetadataOnly) return out;
  BANGER_ASSIGN_OR_RETURN(
      std::string list, Git({"-C", repo.root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"},
                            "listing files of " + repo.root));
  std::set<std::string> seen;
  for (std::string& rel : Split(list, '\0')) {
    if (rel.empty() || !seen.insert(rel).second) continue;
    struct stat st {};
    if (::lstat((repo.root + "/" + rel).c_str(), &st) != 0) continue;  // deleted in the work tree
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) continue;        // submodules, sockets
    out.push_back(rel);
  }
  return out;
}

Result<PackStats> Pack(const RepoInfo& repo, const std::string& staging,
                       const std::vector<std::string>& files,
                       const std::function<Status(std::string_view)>& sink,
                       const std::function<void(const PackStats&)>& progress) {
  TarWriter w(sink, progress);
  BANGER_RETURN_IF_ERROR(w.Open());
  const fs::path git_dir = fs::path(staging) / ".git";
  BANGER_RETURN_IF_ERROR(w.Add(git_dir.string(), ".git"));
  std::error_code ec;
  for (fs::recursive_directory_iterator it(git_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string rel = fs::relative(it->path(), staging, ec).string();
    if (ec) break;
    BANGER_RETURN_IF_ERROR(w.Add(it->path().string(), rel));
  }
  if (ec) return Error::Internal("walking " + git_dir.string() + ": " + ec.message());
  for (const auto& rel : files) BANGER_RETURN_IF_ERROR(w.Add(repo.root + "/" + rel, rel));
  return w.Close();
}

std::vector<std::string> GuestUnpackArgv(const std::string& guest_path, bool readonly) {
  // $1 = the directory, $2 = 1 for read-only. User strings are arguments,
  // never part of the script.
  static const char* kScript =
      "set -e\n"
      "d=$1\n"
      "umount \"$d\" 2>/dev/null || true\n"
      "rm -rf \"$d.banger-partial\"\n"
      "mkdir -p \"$d.banger-partial\"\n"
      "tar -x -p -f - -C \"$d.banger-partial\"\n"
      "rm -rf \"$d\"\n"
      "mv \"$d.banger-partial\" \"$d\"\n"
      "if [ \"$2\" = 1 ]; then\n"
      "  chmod -R a-w \"$d\"\n"
      "  mount -o bind \"$d\" \"$d\"\n"
      "  mount -o remount,ro,bind \"$d\"\n"
      "fi\n";
  return {"sh", "-c", kScript, "banger-workspace", guest_path, readonly ? "1" : "0"};
}

}  // namespace banger
