#include "daemon/ssh_key.h"

#include <sstream>

#include "base/fs.h"
#include "base/process.h"

namespace banger {

Result<SshKey> EnsureSshKey(const std::string& configured_path, const std::string& home_root) {
  SshKey k;
  if (!configured_path.empty()) {
    k.private_key_path = configured_path;
  } else {
    std::string dir = home_root + "/ssh";
    BANGER_RETURN_IF_ERROR(MakeDirs(dir, 0700));
    k.private_key_path = dir + "/id_ed25519";
    if (!PathExists(k.private_key_path)) {
      BANGER_RETURN_IF_ERROR(Annotate(ToStatus(RunChecked({"ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                                                           "-C", "banger", "-f", k.private_key_path})),
                                      "generating ssh key " + k.private_key_path));
    }
  }
  std::string pub = k.private_key_path + ".pub";
  auto text = ReadFile(pub);
  if (!text.ok()) return std::move(text).error().Wrap("ssh_key_path needs its public key beside it");
  k.public_key = *text;
  while (!k.public_key.empty() && (k.public_key.back() == '\n' || k.public_key.back() == '\r'))
    k.public_key.pop_back();
  BANGER_ASSIGN_OR_RETURN(CommandResult fp, RunChecked({"ssh-keygen", "-l", "-E", "sha256", "-f", pub}));
  // "256 SHA256:abc... banger (ED25519)"
  std::istringstream ss(fp.out);
  std::string bits;
  ss >> bits >> k.fingerprint;
  if (k.fingerprint.rfind("SHA256:", 0) != 0)
    return Error::Internal("unexpected ssh-keygen output: " + fp.out);
  return k;
}

}  // namespace banger
