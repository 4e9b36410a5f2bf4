#include "workspace/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <memory>
#include <vector>

#include "base/fs.h"
#include "base/strings.h"

namespace banger {

namespace {

constexpr auto kGitTimeout = std::chrono::minutes(30);

bool IsHexId(const std::string& s) {
  if (s.size() != 40 && s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// git as `who`, in `repo_root`, with argv only. `index` (if set) is the
// temporary index; the environment's GIT_DIR and friends never leak in.
Result<CommandResult> RunGit(const std::string& repo_root, const std::vector<std::string>& args,
                             const GitUser& who, const std::string& index = "") {
  std::vector<std::string> argv = {
      "env", "-u", "GIT_DIR", "-u", "GIT_WORK_TREE", "-u", "GIT_INDEX_FILE", "-u", "XDG_CONFIG_HOME"};
  if (!who.home.empty()) argv.push_back("HOME=" + who.home);
  if (!index.empty()) argv.push_back("GIT_INDEX_FILE=" + index);
  argv.insert(argv.end(), {"git", "-C", repo_root, "-c", "safe.directory=*", "-c", "core.fsmonitor=false",
                           "-c", "core.hooksPath=/dev/null"});
  argv.insert(argv.end(), args.begin(), args.end());
  RunOptions opts;
  opts.timeout = kGitTimeout;
  opts.run_as = who.run_as;
  auto r = RunCommand(argv, opts);
  if (!r.ok() && (r.error().kind() == ErrorKind::kNotFound || r.error().kind() == ErrorKind::kUnavailable)) {
    return Error::Unavailable("git is not installed on the host (apt-get install git)");
  }
  return r;
}

// RunGit whose non-zero exit is an error quoting git's last stderr line.
Result<std::string> Git(const std::string& repo_root, const std::vector<std::string>& args,
                        const GitUser& who, const std::string& what, const std::string& index = "") {
  auto r = RunGit(repo_root, args, who, index);
  if (!r.ok()) return r.error().Wrap(what);
  if (r->exit_code != 0) return Error::Invalid(what + ": " + LastLine(r->err.empty() ? r->out : r->err));
  return Trim(r->out);
}

struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};

// The entry's path relative to the tree, or "" to skip it: "." itself,
// anything under a .git directory. An error for "..", absolute paths.
Result<std::string> CleanPath(const char* raw) {
  if (raw == nullptr) return Error::Invalid("an entry without a name");
  std::string p = raw;
  if (!p.empty() && p[0] == '/') return Error::Invalid("an absolute path: " + p);
  std::string out;
  for (const std::string& part : Split(p, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") return Error::Invalid("a path with \"..\": " + p);
    if (part == ".git") return std::string();
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

}  // namespace

Result<ScratchDir> ScratchDir::Create(const std::string& parent, const std::string& prefix) {
  std::string tmpl = parent + "/" + prefix + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return Error::FromErrno("mkdtemp " + tmpl);
  return ScratchDir(std::string(buf.data()));
}

ScratchDir::~ScratchDir() {
  if (!path_.empty()) (void)RemoveAll(path_);
}

Result<GitUser> RepoOwner(const std::string& repo_root) {
  struct stat st {};
  if (::stat(repo_root.c_str(), &st) != 0) return Error::FromErrno("reading " + repo_root);
  GitUser who;
  if (::geteuid() != 0 || st.st_uid == 0) return who;
  Credentials c;
  c.uid = st.st_uid;
  c.gid = st.st_gid;
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (::getpwuid_r(st.st_uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    c.gid = found->pw_gid;
    who.home = found->pw_dir;
    int n = 64;
    std::vector<gid_t> groups(static_cast<size_t>(n));
    if (::getgrouplist(found->pw_name, found->pw_gid, groups.data(), &n) >= 0) {
      groups.resize(static_cast<size_t>(n));
      c.groups = std::move(groups);
    }
  } else {
    who.home = "/nonexistent";  // no passwd entry: no global git config either
  }
  who.run_as = std::move(c);
  return who;
}

Result<ExtractStats> ExtractGuestTree(const std::string& tar_path, const std::string& dest,
                                      int64_t max_bytes) {
  ExtractStats stats;
  struct stat st {};
  if (::stat(tar_path.c_str(), &st) != 0) return Error::FromErrno("reading " + tar_path);
  if (st.st_size == 0) return stats;  // the guest's tree is empty
  char real[PATH_MAX];
  if (::realpath(dest.c_str(), real) == nullptr) return Error::FromErrno("resolving " + dest);
  const std::string root = real;

  std::unique_ptr<archive, ReadDeleter> in(archive_read_new());
  std::unique_ptr<archive, WriteDeleter> out(archive_write_disk_new());
  if (!in || !out) return Error::Internal("libarchive allocation failed");
  archive_read_support_format_tar(in.get());
  archive_write_disk_set_options(
      out.get(), ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_PERM);
  auto bad = [&](const std::string& why) {
    return Error::Invalid("the guest's work tree tar is unusable: " + why);
  };
  if (archive_read_open_filename(in.get(), tar_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return bad(archive_error_string(in.get()) ? archive_error_string(in.get()) : "cannot open");
  }
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(in.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return bad(archive_error_string(in.get()) ? archive_error_string(in.get()) : "bad header");
    BANGER_ASSIGN_OR_RETURN(std::string rel, CleanPath(archive_entry_pathname(e)));
    auto type = archive_entry_filetype(e);
    bool keep = !rel.empty() && (type == AE_IFREG || type == AE_IFDIR || type == AE_IFLNK);
    if (archive_entry_sparse_count(e) > 0) return bad("sparse file " + rel);
    if (keep && archive_entry_hardlink(e) != nullptr) {
      BANGER_ASSIGN_OR_RETURN(std::string target, CleanPath(archive_entry_hardlink(e)));
      if (target.empty()) {
        keep = false;
      } else {
        archive_entry_set_hardlink(e, (root + "/" + target).c_str());
      }
    }
    if (!keep) {
      archive_read_data_skip(in.get());
      continue;
    }
    if (type == AE_IFREG) {
      stats.bytes += archive_entry_size(e);
      ++stats.files;
      if (stats.bytes > max_bytes) {
        return Error::Invalid("the guest's work tree holds more than " + std::to_string(max_bytes >> 20) +
                              " MiB (raise --max-size)");
      }
    }
    archive_entry_set_pathname(e, (root + "/" + rel).c_str());
    archive_entry_set_perm(e, type == AE_IFDIR || (archive_entry_perm(e) & 0100) != 0 ? 0755 : 0644);
    if (archive_write_header(out.get(), e) < ARCHIVE_WARN) {
      return bad(std::string("writing ") + rel + ": " +
                 (archive_error_string(out.get()) ? archive_error_string(out.get()) : "failed"));
    }
    if (type == AE_IFREG && archive_entry_size(e) > 0) {
      const void* buf = nullptr;
      size_t len = 0;
      la_int64_t off = 0;
      for (;;) {
        int rr = archive_read_data_block(in.get(), &buf, &len, &off);
        if (rr == ARCHIVE_EOF) break;
        if (rr < ARCHIVE_WARN)
          return bad(archive_error_string(in.get()) ? archive_error_string(in.get()) : "read");
        if (archive_write_data_block(out.get(), buf, len, off) < ARCHIVE_WARN) {
          return bad("writing " + rel + ": " +
                     (archive_error_string(out.get()) ? archive_error_string(out.get()) : "failed"));
        }
      }
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN) {
      return bad("finishing " + rel + ": " +
                 (archive_error_string(out.get()) ? archive_error_string(out.get()) : "failed"));
    }
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK) return bad("finishing the tree");
  return stats;
}

Result<std::string> FetchBundle(const std::string& repo_root, const std::string& bundle, const GitUser& who) {
  BANGER_ASSIGN_OR_RETURN(std::string heads, Git(repo_root, {"bundle", "list-heads", bundle}, who,
                                                 "reading the guest's commits"));
  std::string head;
  for (const std::string& line : Split(heads, '\n')) {
    auto sp = line.find(' ');
    if (sp != std::string::npos && line.substr(sp + 1) == "HEAD") head = line.substr(0, sp);
  }
  if (!IsHexId(head)) return Error::Invalid("the guest's commits name no HEAD commit");
  BANGER_RETURN_IF_ERROR(
      ToStatus(Git(repo_root,
                   {"-c", "fetch.fsckObjects=true", "fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                    "--no-auto-gc", "--no-recurse-submodules", bundle, "HEAD"},
                   who, "storing the guest's commits")));
  if (!HasCommit(repo_root, head, who)) return Error::Invalid("the guest's commits did not arrive");
  return head;
}

bool HasCommit(const std::string& repo_root, const std::string& commit, const GitUser& who) {
  if (!IsHexId(commit)) return false;
  auto r = RunGit(repo_root, {"cat-file", "-e", commit + "^{commit}"}, who);
  return r.ok() && r->exit_code == 0;
}

Result<std::string> CommitWorkTree(const std::string& repo_root, const std::string& parent,
                                   const std::string& tree_dir, const std::string& index_path,
                                   const std::string& message, const GitUser& who) {
  const std::string what = "building a commit of the guest's uncommitted changes";
  BANGER_ASSIGN_OR_RETURN(std::string git_dir,
                          Git(repo_root, {"rev-parse", "--absolute-git-dir"}, who, what));
  BANGER_RETURN_IF_ERROR(ToStatus(Git(repo_root, {"read-tree", parent}, who, what, index_path)));
  // --git-dir/--work-tree after -C: the work tree is the guest's copy, the
  // objects go to the repository; the repository's own index is not used.
  BANGER_RETURN_IF_ERROR(
      ToStatus(Git(repo_root, {"--git-dir=" + git_dir, "--work-tree=" + tree_dir, "add", "--all", "--", "."},
                   who, what, index_path)));
  BANGER_ASSIGN_OR_RETURN(std::string tree, Git(repo_root, {"write-tree"}, who, what, index_path));
  BANGER_ASSIGN_OR_RETURN(std::string parent_tree,
                          Git(repo_root, {"rev-parse", parent + "^{tree}"}, who, what));
  if (tree == parent_tree) return parent;
  std::vector<std::string> args;
  auto email = RunGit(repo_root, {"config", "user.email"}, who);
  if (!email.ok() || email->exit_code != 0 || Trim(email->out).empty()) {
    args = {"-c", "user.name=banger", "-c", "user.email=banger@localhost"};
  }
  args.insert(args.end(), {"commit-tree", tree, "-p", parent, "-m", message});
  BANGER_ASSIGN_OR_RETURN(std::string commit, Git(repo_root, args, who, what));
  if (!IsHexId(commit)) return Error::Internal(what + ": git commit-tree printed no commit id");
  return commit;
}

Result<int64_t> CountCommits(const std::string& repo_root, const std::string& base, const std::string& tip,
                             const GitUser& who) {
  BANGER_ASSIGN_OR_RETURN(std::string n, Git(repo_root, {"rev-list", "--count", base + ".." + tip}, who,
                                             "counting the exported commits"));
  try {
    return static_cast<int64_t>(std::stoll(n));
  } catch (const std::exception&) {
    return Error::Internal("git rev-list --count printed \"" + n + "\"");
  }
}

bool BranchExists(const std::string& repo_root, const std::string& branch, const GitUser& who) {
  auto r = RunGit(repo_root, {"rev-parse", "--verify", "-q", "refs/heads/" + branch}, who);
  return r.ok() && r->exit_code == 0;
}

Status CreateBranch(const std::string& repo_root, const std::string& branch, const std::string& commit,
                    bool force, const GitUser& who) {
  const std::string ref = "refs/heads/" + branch;
  auto head = RunGit(repo_root, {"symbolic-ref", "-q", "HEAD"}, who);
  if (head.ok() && head->exit_code == 0 && Trim(head->out) == ref) {
    return Error::Conflict("branch " + branch + " is checked out in " + repo_root +
                           "; export to another branch");
  }
  auto existing = RunGit(repo_root, {"rev-parse", "--verify", "-q", ref}, who);
  bool exists = existing.ok() && existing->exit_code == 0;
  if (exists && !force) {
    return Error::Conflict("branch " + branch + " already exists in " + repo_root + " (--force replaces it)");
  }
  // The old value makes the update atomic: it fails if the branch appeared
  // (or moved) meanwhile. 40 zeros = "must not exist".
  std::string old = exists ? Trim(existing->out) : std::string(40, '0');
  return ToStatus(Git(repo_root,
                      {"update-ref", "-m", "banger workspace export", "--no-deref", ref, commit, old}, who,
                      "creating branch " + branch));
}

}  // namespace banger
