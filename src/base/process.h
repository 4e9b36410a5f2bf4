// Child processes. Two shapes:
//  - RunCommand: run a helper tool to completion and capture its output.
//  - SpawnDetached: start a long-lived process (a VMM) in its own session,
//    double-forked so it is never our child: it outlives the daemon and is
//    reaped by init, never left as our zombie.
// ProcessOps is the thin inspectable wrapper over /proc, kill(2) and pidfds
// that the daemon uses for liveness; tests substitute a fake.
//
// A pid alone never identifies one of our VMMs (pids are recycled, and any
// local user can start a process whose argv names our sockets): the daemon
// records a ProcIdentity at spawn (pid, uid, start time, executable) and
// adopts or signals a process only while all of it still matches
// (IsSameProcess, ProcessOps::SignalIf).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace banger {

struct CommandResult {
  int exit_code = -1;  // -1 if killed by a signal
  int term_signal = 0;
  std::string out;
  std::string err;
};

// Runs argv (argv[0] looked up in PATH) with stdin from /dev/null, waiting at
// most `timeout`. Never goes through a shell. A non-zero exit is not an error
// here: callers inspect exit_code. A non-empty `cwd` is the child's working
// directory (for tools that write into the current directory).
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout = std::chrono::minutes(5),
                                 const std::string& cwd = "");

// RunCommand, but a non-zero exit becomes an error naming the tool and its
// stderr's last line.
Result<CommandResult> RunChecked(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout = std::chrono::minutes(5),
                                 const std::string& cwd = "");

// Who a child runs as: set in the child before exec (setgroups, setgid,
// setuid, in that order, all or nothing).
struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups; empty = none
};

// Runs probe(path, arg) in a forked child that has taken `who`'s groups,
// gid and uid, and returns the errno it answers (0 = allowed): whether that
// user may open/access `path`. probe runs between fork and _exit, so it may
// only make async-signal-safe calls (open, access, ...). Needs root.
using ErrnoProbe = int (*)(const char* path, int arg);
Result<int> ProbeErrnoAs(const Credentials& who, const std::string& path, ErrnoProbe probe, int arg);

// Extra knobs for RunCommand.
struct RunOptions {
  std::chrono::milliseconds timeout = std::chrono::minutes(5);
  std::string cwd;
  std::optional<Credentials> run_as;  // with no_new_privs: the tool can never regain privileges
  std::vector<int> keep_fds;          // descriptors the tool inherits (all others are closed)
  // Called about every 500 ms with the output so far; returning false kills
  // the tool (SIGKILL) and the run fails with kInternal "<tool> stopped".
  std::function<bool(const CommandResult& so_far)> keep_going;
};

// RunCommand / RunChecked with RunOptions.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv, const RunOptions& opts);
Result<CommandResult> RunChecked(const std::vector<std::string>& argv, const RunOptions& opts);

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is an absolute path or looked up in PATH
  std::string stdout_path;        // appended to; empty = /dev/null
  std::string stderr_path;        // appended to; empty = same as stdout_path
  std::string cwd;                // empty = inherit
  std::map<std::string, std::string> extra_env;
  // Runs the process as this user (needs root), with PR_SET_NO_NEW_PRIVS.
  std::optional<Credentials> run_as;
  // Sets PR_SET_NO_NEW_PRIVS even without run_as.
  bool no_new_privs = false;
  // Descriptors (besides stdin/stdout/stderr) the process keeps; they are
  // made inheritable. Every other descriptor is closed before exec, so a
  // VMM never holds the daemon's log, database or sockets.
  std::vector<int> keep_fds;
  // cgroup.procs files the child writes "0" into (joining those cgroups)
  // before exec, so the process never runs outside them; a failed write
  // fails the spawn.
  std::vector<std::string> cgroup_procs_files;
};

// Starts a process in a new session, detached from us. Returns its pid once
// exec succeeded; an exec failure (missing binary, no permission) is an error
// carrying errno's text.
Result<pid_t> SpawnDetached(const SpawnOptions& opts);

// Resolves a program name against PATH (or checks an absolute path is an
// executable file).
Result<std::string> FindExecutable(const std::string& name);

// What a process has used, from /proc/<pid>/stat.
struct ProcUsage {
  int64_t cpu_ns = 0;     // user + system time, all threads
  int64_t rss_bytes = 0;  // resident set
  int64_t vsz_bytes = 0;  // virtual size
};

// Parses the text of /proc/<pid>/stat (the command name may hold spaces and
// parentheses). `tick_ns` is one clock tick, `page_bytes` one page.
Result<ProcUsage> ParseProcStat(const std::string& text, int64_t tick_ns, int64_t page_bytes);

// What identifies one process for its whole life: a pid is recycled, a pid
// with its start time (clock ticks after boot, /proc/PID/stat field 22) is
// not; uid and executable (device + inode of /proc/PID/exe) guard against a
// process someone else started. uid is the effective uid.
struct ProcIdentity {
  pid_t pid = 0;
  uid_t uid = 0;
  uint64_t start_time = 0;
  uint64_t exe_dev = 0;
  uint64_t exe_ino = 0;
  bool known() const { return pid > 0 && start_time > 0; }
  bool operator==(const ProcIdentity&) const = default;
};

// Field 22 (starttime) of the text of /proc/<pid>/stat.
Result<uint64_t> ParseStartTime(const std::string& stat_text);
// The effective uid from the text of /proc/<pid>/status ("Uid: r e s f").
Result<uid_t> ParseStatusUid(const std::string& status_text);

class ProcessOps {
 public:
  virtual ~ProcessOps() = default;
  // True if pid exists and is not a zombie.
  virtual bool Alive(pid_t pid) = 0;
  // argv of pid, empty if it is gone.
  virtual std::vector<std::string> Cmdline(pid_t pid) = 0;
  // Pids of live processes whose argv contains an element equal to `arg`
  // or ending in "=" + arg / containing "path=" + arg (QEMU style options).
  virtual std::vector<pid_t> FindByArg(const std::string& arg) = 0;
  virtual Status Signal(pid_t pid, int sig) = 0;
  // kNotFound when pid is gone.
  virtual Result<ProcUsage> Usage(pid_t pid) = 0;
  // The identity of live pid; kNotFound when it is gone or a zombie.
  virtual Result<ProcIdentity> Identify(pid_t pid) = 0;
  // Sends sig to who.pid only if that pid still is `who` (IdentityMatches).
  // Race-free where pidfds exist: the pidfd is opened first, the identity
  // checked while it pins the process, and the signal sent through it.
  // A process that is gone is success; one that is someone else now is
  // kConflict and is left alone.
  virtual Status SignalIf(const ProcIdentity& who, int sig) = 0;
};

// True if `seen` (a live process) is the process `recorded` names: same pid,
// start time and executable, and its uid is the recorded one or our own
// effective uid (a process running with our uid was started by us or by
// someone holding our privileges anyway; QEMU with -runas starts as us and
// drops to the VMM user, so a VMM is briefly ours).
bool IdentityMatches(const ProcIdentity& recorded, const ProcIdentity& seen);

// The liveness rule for our VMMs: the recorded process is alive and still
// itself (IdentityMatches). An unknown identity is never alive.
bool IsSameProcess(ProcessOps& ops, const ProcIdentity& recorded);

// The real /proc-based implementation (class RealProcessOps).
ProcessOps& RealProcessOps();

// pid is alive (not a zombie) and its argv still mentions `control_sock` (as
// CmdlineMentions). Only for tests and diagnostics: anyone can start a
// process with such an argv, so this never decides what the daemon signals
// (IsSameProcess does).
bool AliveAndNames(ProcessOps& ops, pid_t pid, const std::string& control_sock);

// True if any argv element of `cmdline` mentions `arg` as described for
// FindByArg. Exposed for tests.
bool CmdlineMentions(const std::vector<std::string>& cmdline, const std::string& arg);

}  // namespace banger
