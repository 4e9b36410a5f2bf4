// Internals of `banger-agent session-*` (see session.h for the layout of a
// session directory): reading and writing the directory's small files and
// flat JSON, telling whether the supervisor and the command still live, and
// the session's state as session-status reports it (session_state.cc).
// session-start and its supervisor live in session_start.cc; the other
// subcommands in session.cc.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>

namespace banger::agent::session {

// Read size for logs and the cap for small files.
inline constexpr size_t kChunk = 64 * 1024;

// --- small helpers ---

std::string JsonQuote(const std::string& s);
// {"state":"failed","message":...}
std::string FailedJson(const std::string& message);
bool WriteAll(int fd, const char* data, size_t n);
bool WriteAll(int fd, const std::string& s);
// Small files only (status, pid files): at most 64 KiB.
bool ReadSmallFile(const std::string& path, std::string* out);
// Temp file + fsync + rename: readers see the old content or the new one.
bool WriteFileAtomic(const std::string& path, const std::string& content);
void SleepMs(int ms);
// Without trailing newlines, spaces and carriage returns.
std::string Trim(std::string s);
// A string or integer field of a flat JSON object (the supervisor's own
// status.json); nullopt when absent or not of that type.
std::optional<std::string> JsonString(const std::string& j, const std::string& key);
std::optional<long long> JsonInt(const std::string& j, const std::string& key);
// One line "banger-agent: CMD: MESSAGE" on stderr; returns code.
int Fail(const std::string& cmd, const std::string& message, int code = 1);
bool IsDir(const std::string& path);
// mkdir -p: missing parents 0755, DIR itself 0700.
bool MkdirP(const std::string& dir);

// --- process identity ---

// What supervisor.pid records: "PID\nBOOT_Id START_TIME\n".
std::string SupervisorFileContent(pid_t pid);

// --- a session's state ---

struct SessionState {
  enum Kind { kMissingDir, kRunning, kEnded } kind = kEnded;
  std::string json;  // what session-status prints
  pid_t pid = 0;     // the command's, when known
};

SessionState ReadState(const std::string& dir);

}  // namespace banger::agent::session
