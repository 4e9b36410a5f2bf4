// A user's command in a guest (vm exec, vm run, session start) with the
// defaults of the VM's image applied: an OCI image's config (Env,
// WorkingDir, User, Entrypoint + Cmd; ImageSource::config) fills what the
// request leaves out. Commands the daemon runs for itself (guest fixup, cp,
// workspaces, port relays, session status) never go through this: they run
// as root with no image env.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/requests.h"
#include "model/types.h"

namespace banger {

struct UserCommand {
  // Empty: the image's Entrypoint + Cmd.
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  // "": the image's WorkingDir, else the agent's default (/root, or / when
  // the user cannot enter /root).
  std::string cwd;
  // "": the image's User, else root.
  std::string user;
  // The image's Env is not applied.
  bool no_image_env = false;
};

UserCommand UserCommandOf(const ExecVmRequest& r);
UserCommand UserCommandOf(const StartSessionRequest& r);

// The command as the agent gets it, for a VM of `image`:
// - env: the image's Env ("K=V" entries in order, a later one wins; entries
//   without a name are skipped), then the request's env key by key; the
//   image's is skipped with no_image_env;
// - cwd: the request's, else the image's WorkingDir, else "" (the agent's
//   default);
// - user: the request's, else the image's User, else "" (root);
// - argv: the request's, else the image's Entrypoint followed by its Cmd; an
//   image with neither is an error, one line: "image NAME has no command
//   (Entrypoint/Cmd); give one after --".
// An image without a config (profile, import) changes nothing but still
// needs a command. The result's no_image_env is false.
Result<UserCommand> ApplyImageDefaults(const Image& image, UserCommand cmd);

}  // namespace banger
