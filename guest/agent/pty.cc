#include "pty.h"

#include <errno.h>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

namespace banger::agent {

bool OpenPty(const std::string& pts_dir, const winsize& ws, UniqueFd* master, UniqueFd* slave) {
  const int flags = O_RDWR | O_NOCTTY | O_CLOEXEC;
  UniqueFd m(::open((pts_dir + "/ptmx").c_str(), flags));
  if (!m.valid()) m.Reset(::open("/dev/ptmx", flags));
  if (!m.valid()) return false;
  int unlock = 0;
  if (::ioctl(m.get(), TIOCSPTLCK, &unlock) != 0) return false;
  // The peer of this very master, whatever its name; by number in pts_dir
  // only on a kernel without TIOCGPTPEER (before 4.13).
  UniqueFd s(::ioctl(m.get(), TIOCGPTPEER, flags));
  if (!s.valid()) {
    if (errno != EINVAL && errno != ENOTTY) return false;
    unsigned int n = 0;
    if (::ioctl(m.get(), TIOCGPTN, &n) != 0) return false;
    s.Reset(::open((pts_dir + "/" + std::to_string(n)).c_str(), flags));
    if (!s.valid()) return false;
  }
  if (::ioctl(s.get(), TIOCSWINSZ, &ws) != 0) return false;
  *master = std::move(m);
  *slave = std::move(s);
  return true;
}

}  // namespace banger::agent
