// `banger-agent ctr-root create|mount|exec|remove ROOT ...`: the root
// filesystems of a pod's containers inside the pod's VM (the containerd
// shim, docs/containerd.md). The shim uploads a container's root into ROOT
// (archive upload, chown=keep) and runs its processes chrooted there:
//   ctr-root create ROOT     mkdir -p ROOT (0755)
//   ctr-root mount ROOT      proc, sysfs and the guest's /dev (bind) inside it
//   ctr-root exec ROOT --user UID:GID --cwd DIR -- ARGV...
//                            chroot, chdir, drop to UID:GID (no supplementary
//                            groups), exec ARGV (looked up in the new root's PATH)
//   ctr-root remove ROOT     unmounts what mount made and deletes ROOT
// ROOT must be a directory under /var/lib/banger/containers/. Runs as root.
#pragma once

namespace banger::agent {

int RunCtrRootCommand(int argc, char** argv);

}  // namespace banger::agent
