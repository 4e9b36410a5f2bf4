#include "model/image_defaults.h"

namespace banger {

UserCommand UserCommandOf(const ExecVmRequest& r) { return {r.argv, r.env, r.cwd, r.user, r.no_image_env}; }

UserCommand UserCommandOf(const StartSessionRequest& r) {
  return {r.argv, r.env, r.cwd, r.user, r.no_image_env};
}

Result<UserCommand> ApplyImageDefaults(const Image& image, UserCommand cmd) {
  const std::optional<OciImageConfig>& config = image.source.config;
  if (config) {
    if (!cmd.no_image_env) {
      std::map<std::string, std::string> env;
      for (const std::string& kv : config->env) {
        size_t eq = kv.find('=');
        // "KEY" alone (no value) and "=x" name nothing to set.
        if (eq == 0 || eq == std::string::npos) continue;
        env[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      for (auto& [k, v] : cmd.env) env[k] = std::move(v);
      cmd.env = std::move(env);
    }
    if (cmd.cwd.empty()) cmd.cwd = config->working_dir;
    if (cmd.user.empty()) cmd.user = config->user;
    if (cmd.argv.empty()) {
      cmd.argv = config->entrypoint;
      cmd.argv.insert(cmd.argv.end(), config->cmd.begin(), config->cmd.end());
    }
  }
  cmd.no_image_env = false;
  if (cmd.argv.empty()) {
    return Error::Invalid("image " + image.name + " has no command (Entrypoint/Cmd); give one after --");
  }
  return cmd;
}

}  // namespace banger
