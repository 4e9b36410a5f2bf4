// Child processes. Two shapes:
//  - RunCommand: run a helper tool to completion and capture its output.
//  - SpawnDetached: start a long-lived process (a VMM) in its own session,
//    double-forked so it is never our child: it outlives the daemon and is
//    reaped by init, never left as our zombie.
// ProcessOps is the thin inspectable wrapper over /proc and kill(2) that the
// daemon uses for liveness; tests substitute a fake.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
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

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is an absolute path or looked up in PATH
  std::string stdout_path;        // appended to; empty = /dev/null
  std::string stderr_path;        // appended to; empty = same as stdout_path
  std::string cwd;                // empty = inherit
  std::map<std::string, std::string> extra_env;
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
};

// The real /proc-based implementation (class RealProcessOps).
ProcessOps& RealProcessOps();

// The one liveness rule for our VMMs: pid is alive (not a zombie) and its
// argv still mentions `control_sock` (as CmdlineMentions). The second half
// guards against a recycled pid: a pid recorded long ago must never lead us
// to signal an unrelated process.
bool AliveAndNames(ProcessOps& ops, pid_t pid, const std::string& control_sock);

// True if any argv element of `cmdline` mentions `arg` as described for
// FindByArg. Exposed for tests.
bool CmdlineMentions(const std::vector<std::string>& cmdline, const std::string& arg);

}  // namespace banger
