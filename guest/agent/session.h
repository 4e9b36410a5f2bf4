// `banger-agent session-* DIR ...`: detached guest sessions (docs/sessions.md).
//
// A session is a command run by a supervisor process that session-start
// double-forks into a session of its own, so it outlives the exec that
// started it, the agent connection and the agent itself. Everything about
// the session lives in its state directory DIR:
//
//   DIR/stdout, DIR/stderr   the command's output (appended)
//   DIR/stdin                a FIFO, for sessions started with --stdin
//   DIR/status.json          written atomically by the supervisor:
//                            {"state":"running","pid":N,"started_at":T}, then
//                            {"state":"exited","exit_code":N[,"signal":S],"ended_at":T}
//                            or {"state":"failed","message":"..."}
//   DIR/supervisor.pid       the supervisor's pid; a second line holds the boot
//                            id and the process start time, so a pid reused
//                            after a reboot is not taken for the supervisor
//
// The other subcommands only read those files (and signal the command's
// process group), so they work from any exec, after any agent restart.
//
// session_start.cc holds session-start and the supervisor, session_state.cc
// the directory's files and state (session_internal.h), session.cc the rest.
#pragma once

namespace banger::agent {

// argv[0] is the subcommand ("session-start", ...). Returns the process exit
// code: 0 on success, 1 on failure (one line on stderr), 2 on a usage error.
int RunSessionCommand(int argc, char** argv);

}  // namespace banger::agent
