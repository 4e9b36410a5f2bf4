// Internals shared by the agent's event loop and connections (agent.cc), its
// handlers for frames from the host (agent_frames.cc) and its commands' I/O
// and lifecycle (agent_exec.cc): the limits that bound its memory, and logging.
#pragma once

#include <chrono>
#include <cstddef>

namespace banger::agent {

// Output is read from commands only while the connection's unsent backlog is
// below this, so a slow transport bounds what the agent holds.
inline constexpr size_t kBacklogLimit = 256 * 1024;
// The wire buffer is refilled up to this much at a time, so control frames
// queued meanwhile wait behind at most this many bytes.
inline constexpr size_t kWireBatch = 64 * 1024;
// Host input is not read while this many control frames (answers to the
// host) wait, so a host that sends without reading cannot grow the queue.
inline constexpr size_t kMaxControlQueue = 1024;
// Per-connection channel cap (memory and fds), answered with OPEN_FAIL.
inline constexpr size_t kMaxChannels = 256;
// How long output is still forwarded after a command exits, for pipes that
// a background child keeps open.
inline constexpr auto kDrainAfterExit = std::chrono::milliseconds(500);
// Re-check interval for a serial port with no host attached.
inline constexpr int kSerialProbeMs = 100;

// One line on stderr, prefixed "banger-agent: " (the console or a log file).
void Log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace banger::agent
