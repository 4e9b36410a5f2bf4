// A pseudo-terminal pair for a tty exec or session, from the devpts instance
// mounted on /dev/pts (the one whose /dev/pts/N names the programs in the
// guest see), so ttyname() of the command's stdin finds its name.
//
// Why not openpty(): it opens /dev/ptmx, and a guest may have more than one
// devpts stacked on /dev/pts (images built before banger mounted it once:
// the initramfs mounted one and the minimal profile's rcS another on top).
// A pty of a hidden instance has no name under /dev/pts, so `tty` answers
// "not a tty" and sudo, script or ssh prompts misbehave. /dev/pts/ptmx is
// the visible (top) instance's own multiplexer.
#pragma once

#include <sys/ioctl.h>

#include <string>

#include "base/unique_fd.h"

namespace banger::agent {

// Opens a master (close-on-exec) and its slave (close-on-exec, not the
// caller's controlling terminal) of size `ws` from `pts_dir`'s ptmx, or
// /dev/ptmx when `pts_dir` has none. False with errno set on failure.
bool OpenPty(const std::string& pts_dir, const winsize& ws, UniqueFd* master, UniqueFd* slave);

}  // namespace banger::agent
