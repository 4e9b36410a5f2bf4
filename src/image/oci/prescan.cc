#include "oci/prescan.h"

#include <archive.h>
#include <archive_entry.h>

#include <deque>
#include <memory>
#include <vector>

#include "base/strings.h"

namespace banger {
namespace {

constexpr int kMaxSymlinkHops = 40;
constexpr const char* kWhiteoutPrefix = ".wh.";
constexpr const char* kOpaqueMarker = ".wh..wh..opq";

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

// "./a//b/" -> "a/b"; "" for the root. Components are kept as they are
// (".." included: the caller refuses those).
std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> out;
  for (std::string& c : Split(path, '/')) {
    if (c.empty() || c == ".") continue;
    out.push_back(std::move(c));
  }
  return out;
}

std::string Join(const std::vector<std::string>& comps, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < comps.size(); ++i) {
    if (!out.empty()) out += '/';
    out += comps[i];
  }
  return out;
}

bool HasDotDot(const std::vector<std::string>& comps) {
  for (const std::string& c : comps) {
    if (c == "..") return true;
  }
  return false;
}

std::string Quoted(const std::string& s) {
  return "\"" + (s.size() > 200 ? s.substr(0, 200) + "..." : s) + "\"";
}

}  // namespace

Status LayerPrescan::CheckParents(const std::string& path) const {
  // Walk the parent directories, replacing each symlink met by its target
  // (relative to the link's directory), as the unpack would resolve it.
  std::vector<std::string> comps = Components(path);
  if (comps.empty()) return OkStatus();
  comps.pop_back();  // the entry itself is created/replaced, not followed
  std::deque<std::string> todo(comps.begin(), comps.end());
  std::vector<std::string> resolved;
  std::string via_link, via_target;
  int hops = 0;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == "..") {
      if (resolved.empty()) {
        if (via_link.empty()) return Error::Invalid("climbs out of the root");
        return Error::Invalid("goes through symlink " + Quoted("/" + via_link) + " whose target " +
                              Quoted(via_target) + " climbs out of the root");
      }
      resolved.pop_back();
      continue;
    }
    resolved.push_back(std::move(c));
    const std::string here = Join(resolved, resolved.size());
    auto it = tree_.find(here);
    if (it == tree_.end() || it->second.type != 'l') continue;
    const std::string& target = it->second.target;
    if (!target.empty() && target.front() == '/')
      return Error::Invalid("goes through symlink " + Quoted("/" + here) + " with absolute target " +
                            Quoted(target));
    if (++hops > kMaxSymlinkHops) return Error::Invalid("goes through too many symlinks");
    via_link = here;
    via_target = target;
    resolved.pop_back();
    std::vector<std::string> next = Components(target);
    todo.insert(todo.begin(), next.begin(), next.end());
  }
  return OkStatus();
}

void LayerPrescan::RemoveTree(const std::string& path, bool keep_self, bool lower_only) {
  auto matches = [&](const Node& n) { return !lower_only || n.layer < layer_; };
  if (!keep_self) {
    auto it = tree_.find(path);
    if (it != tree_.end() && matches(it->second)) tree_.erase(it);
  }
  const std::string prefix = path.empty() ? "" : path + "/";
  for (auto it = tree_.lower_bound(prefix);
       it != tree_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    if (matches(it->second)) {
      it = tree_.erase(it);
    } else {
      ++it;
    }
  }
}

Status LayerPrescan::AddEntry(const std::string& name, char type, const std::string& link_target) {
  std::vector<std::string> comps = Components(name);
  if (HasDotDot(comps)) return Error::Invalid("has a \"..\" component");
  if (comps.empty()) return OkStatus();  // the root itself
  const std::string path = Join(comps, comps.size());
  BANGER_RETURN_IF_ERROR(CheckParents(path));
  if (type == 'h') {
    std::vector<std::string> target = Components(link_target);
    if (HasDotDot(target))
      return Error::Invalid("is a hard link to " + Quoted(link_target) + " (a \"..\" component)");
    if (target.empty()) return Error::Invalid("is a hard link to the root");
    if (auto st = CheckParents(Join(target, target.size())); !st.ok())
      return Error::Invalid("is a hard link whose target " + st.error().message());
  }
  const std::string& base = comps.back();
  const std::string parent = Join(comps, comps.size() - 1);
  if (base == kOpaqueMarker) {
    RemoveTree(parent, /*keep_self=*/true, /*lower_only=*/true);
    return OkStatus();
  }
  if (base.rfind(kWhiteoutPrefix, 0) == 0) {
    const std::string victim = (parent.empty() ? "" : parent + "/") + base.substr(4);
    RemoveTree(victim, /*keep_self=*/false, /*lower_only=*/true);
    return OkStatus();
  }
  // A non-directory replaces whatever was there, children included.
  if (type != 'd') RemoveTree(path, /*keep_self=*/true, /*lower_only=*/false);
  tree_[path] = Node{type == 'h' ? 'f' : type, type == 'l' ? link_target : "", layer_};
  return OkStatus();
}

Status LayerPrescan::ScanLayer(const std::string& path, const std::string& label) {
  std::unique_ptr<archive, ArchiveReadFree> a(archive_read_new());
  if (!a) return Error::Internal("archive_read_new failed");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_empty(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 256 * 1024) != ARCHIVE_OK) {
    return Error::Invalid(label + ": not a readable tar: " + archive_error_string(a.get()));
  }
  for (;;) {
    archive_entry* e = nullptr;
    const int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      const char* msg = archive_error_string(a.get());
      return Error::Invalid(label + ": broken tar: " + (msg != nullptr ? msg : "unknown error"));
    }
    const char* name_c = archive_entry_pathname(e);
    const std::string name = name_c != nullptr ? name_c : "";
    char type = 'o';
    std::string target;
    if (const char* hl = archive_entry_hardlink(e); hl != nullptr) {
      type = 'h';
      target = hl;
    } else {
      switch (archive_entry_filetype(e)) {
        case AE_IFREG:
          type = 'f';
          break;
        case AE_IFDIR:
          type = 'd';
          break;
        case AE_IFLNK: {
          type = 'l';
          const char* sl = archive_entry_symlink(e);
          target = sl != nullptr ? sl : "";
          break;
        }
        default:
          break;
      }
    }
    if (auto st = AddEntry(name, type, target); !st.ok())
      return Error::Invalid(label + ": entry " + Quoted(name) + " " + st.error().message());
    if (archive_read_data_skip(a.get()) != ARCHIVE_OK) {
      const char* msg = archive_error_string(a.get());
      return Error::Invalid(label + ": broken tar: " + (msg != nullptr ? msg : "truncated"));
    }
  }
  NextLayer();
  return OkStatus();
}

}  // namespace banger
