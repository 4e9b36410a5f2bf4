// `banger-agent --pid1 AGENT_ARGS...`: PID 1 of a guest booted from an OCI
// image, which has no init of its own (guest/init/init.sh switch_roots into
// it). It
//   - mounts what a container expects when missing: /dev/shm, /dev/mqueue,
//     /tmp (a tmpfs when the image's /tmp is empty), cgroup2 at
//     /sys/fs/cgroup, and the /dev/fd, /dev/std{in,out,err} links;
//   - runs the agent (`banger-agent AGENT_ARGS...`, its own session, stdin
//     /dev/null) and restarts it when it dies, after 0.1 s doubling to 5 s
//     for an agent that keeps dying within 10 s of its start;
//   - reaps every orphan;
//   - shuts the guest down on SIGTERM, SIGPWR, SIGINT (Ctrl-Alt-Del, which
//     reboot(RB_DISABLE_CAD) turns into a signal: Firecracker's
//     SendCtrlAltDel) or the ACPI power button (KEY_POWER on
//     /dev/input/event*: QEMU's system_powerdown): SIGTERM to every process,
//     up to 5 s for them to exit, SIGKILL, sync, unmount (or remount
//     read-only) every filesystem, then reboot(RB_POWER_OFF) (RB_AUTOBOOT
//     after Ctrl-Alt-Del: Firecracker cannot power off, but exits when its
//     guest reboots with reboot=k).
// It never returns as PID 1 (the kernel panics when PID 1 exits). Run as any
// other pid (the host tests), it is a child subreaper instead: it signals
// only its own descendants, mounts nothing, and returns 0 after a shutdown
// instead of powering off.
#pragma once

namespace banger::agent {

// argv[0] is "--pid1"; argv[1..] are the agent's arguments.
int RunPid1(int argc, char** argv);

}  // namespace banger::agent
