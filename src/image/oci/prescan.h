// The pre-scan of an image's layers before anything is unpacked: reads only
// the tar headers (libarchive; gzip, zstd or plain) and refuses, with one
// line naming the layer and the entry,
//   - an entry or a hard link target with a ".." component,
//   - an entry (or hard link target) whose path goes through a symlink, of
//     this or a lower layer, whose target is absolute or climbs out of the
//     root (followed through chains of relative symlinks).
// OCI whiteouts (.wh.NAME, .wh..wh..opq) remove lower layers' entries as
// the unpack will. Symlinks themselves may point anywhere: only paths
// through them are checked. umoci's unpack is itself confined to the root;
// this turns an escape attempt into a clear refusal instead of a quietly
// different tree.
#pragma once

#include <map>
#include <string>

#include "base/result.h"

namespace banger {

class LayerPrescan {
 public:
  // Scans one layer blob at `path` (layers in order, lowest first);
  // `label` names it in errors ("layer 2 (sha256:0123456789ab)").
  Status ScanLayer(const std::string& path, const std::string& label);

  // One entry (exposed for tests; ScanLayer calls it per header). `type` is
  // 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'o' other.
  Status AddEntry(const std::string& name, char type, const std::string& link_target);
  void NextLayer() { ++layer_; }

 private:
  struct Node {
    char type = 'f';
    std::string target;  // symlinks
    int layer = 0;
  };
  // The path with its parent directories' symlinks followed; an error when
  // that leaves the root or meets an absolute target.
  Status CheckParents(const std::string& path) const;
  void RemoveTree(const std::string& path, bool keep_self, bool lower_only);

  std::map<std::string, Node> tree_;
  int layer_ = 0;
};

}  // namespace banger
