// The SSH key banger seeds into images (root's authorized_keys on the work
// seed) and that `vm ssh` uses: config ssh_key_path, else a key banger
// generates once at <home>/ssh/id_ed25519 (ssh-keygen, argv only).
#pragma once

#include <string>

#include "base/result.h"

namespace banger {

struct SshKey {
  std::string private_key_path;
  std::string public_key;   // the .pub line
  std::string fingerprint;  // "SHA256:..."
};

// Loads the configured key, or creates the home's key when none exists.
Result<SshKey> EnsureSshKey(const std::string& configured_path, const std::string& home_root);

}  // namespace banger
