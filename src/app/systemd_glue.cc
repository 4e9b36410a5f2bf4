#include "app/systemd_glue.h"

#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/log.h"

namespace banger {

namespace {

void Notify(const std::string& state) {
  int rc = sd_notify(0, state.c_str());
  if (rc < 0) spdlog::warn("sd_notify: {}", std::strerror(-rc));
}

}  // namespace

void NotifyReady(const std::string& status) { Notify("READY=1\nSTATUS=" + status); }

void NotifyStopping() { Notify("STOPPING=1\nSTATUS=stopping"); }

Result<std::optional<UniqueFd>> TakeActivatedSocket(const std::string& socket_path) {
  char** names = nullptr;
  int n = sd_listen_fds_with_names(1, &names);
  std::vector<std::string> fd_names;
  if (names != nullptr) {
    for (char** p = names; *p != nullptr; ++p) {
      fd_names.emplace_back(*p);
      std::free(*p);  // libsystemd's strv: malloc'd strings in a malloc'd array
    }
    std::free(static_cast<void*>(names));
  }
  if (n < 0) return Error::Invalid("socket activation: " + std::string(std::strerror(-n)));
  std::vector<UniqueFd> fds;
  fds.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) fds.emplace_back(SD_LISTEN_FDS_START + i);
  if (n == 0) return std::optional<UniqueFd>();
  std::optional<UniqueFd> api;
  for (int i = 0; i < n; ++i) {
    int fd = fds[static_cast<size_t>(i)].get();
    std::string name =
        static_cast<size_t>(i) < fd_names.size() ? fd_names[static_cast<size_t>(i)] : "unknown";
    if (!api && sd_is_socket_unix(fd, SOCK_STREAM, 1, socket_path.c_str(), 0) > 0) {
      api = std::move(fds[static_cast<size_t>(i)]);
      continue;
    }
    return Error::Invalid("socket activation: passed fd " + std::to_string(fd) + " (" + name +
                          ") is not a listening Unix stream socket at " + socket_path +
                          " (ListenStream= of bangerd.socket must be the home's bangerd.sock)");
  }
  return api;
}

}  // namespace banger
