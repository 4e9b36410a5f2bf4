// One process of a containerd task: the container's main process or an exec.
// It runs in the task's banger VM through bangerd:
//   - a main process without a terminal is a banger session (docs/sessions.md),
//     so it outlives a bangerd restart: its output is followed through
//     `sessions/{id}/logs?follow=1` and, when that stream breaks, followed
//     again from the start with the bytes already delivered skipped; stdin
//     goes through `sessions/{id}/attach`;
//   - an exec, or a main process with a terminal, is an exec stream
//     (`vms/{vm}/exec`), which carries stdin, signals and resizes, and ends
//     with the daemon (a bangerd restart ends it with exit status 255).
// Its stdio are the FIFOs (or file:// paths) containerd gave; writes block
// while containerd does not read, which holds the guest back (no buffer grows).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "http/ws.h"
#include "runtime/bangerd.h"
#include "runtime/spec.h"

namespace banger::shim {

enum class ProcState { kCreated, kRunning, kStopped };

struct Stdio {
  std::string in, out, err;  // FIFO paths, file:// URIs, or "" (none)
  bool terminal = false;
};

// Refuses stdio containerd may give that the shim cannot serve (binary://).
Status CheckStdio(const Stdio& io);

struct ExitInfo {
  uint32_t status = 0;
  std::chrono::system_clock::time_point at;
};

class Process : public std::enable_shared_from_this<Process> {
 public:
  using ExitFn = std::function<void(const Process&)>;

  Process(std::string exec_id, ProcessSpec spec, Stdio io, uint32_t pid)
      : exec_id_(std::move(exec_id)), spec_(std::move(spec)), io_(std::move(io)), pid_(pid) {}
  ~Process();

  const std::string& exec_id() const { return exec_id_; }
  const Stdio& io() const { return io_; }
  uint32_t pid() const { return pid_; }
  ProcState state() const;
  std::optional<ExitInfo> exit() const;

  // Starts the process in VM `vm` as a session named `session_name` (main
  // process without a terminal) or as an exec stream. `on_exit` runs once,
  // on a thread of the process, when it has ended.
  Status Start(Bangerd& api, const std::string& vm, const std::string& session_name, ExitFn on_exit);
  Status Kill(Bangerd& api, int signal);
  void CloseStdin();
  Status Resize(uint16_t rows, uint16_t cols);
  // Blocks until the process ended (its exit) or `give_up` says to stop (nullopt).
  std::optional<ExitInfo> Wait(const std::function<bool()>& give_up);
  // Ends the process's threads' work (the task is being deleted): output
  // stops being followed, stdin stops being read.
  void Detach();
  // Marks a process that never started (or whose VM is gone) as ended.
  void MarkExited(uint32_t status);

 private:
  Status StartSession(Bangerd& api, const std::string& vm, const std::string& session_name);
  Status StartExec(Bangerd& api, const std::string& vm);
  void FollowSession(Bangerd api, const std::string& vm);
  void PumpExecOutput(const std::shared_ptr<WsConn>& ws);
  void PumpStdin(const std::function<Status(std::string_view)>& send, const std::function<void()>& eof);

  const std::string exec_id_;
  const ProcessSpec spec_;
  const Stdio io_;
  const uint32_t pid_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  ProcState state_ = ProcState::kCreated;
  std::optional<ExitInfo> exit_;
  ExitFn on_exit_;
  std::string session_id_;        // main process as a session
  std::shared_ptr<WsConn> exec_;  // exec stream
  std::atomic<bool> detached_{false};
  std::atomic<bool> stdin_closed_{false};
  UniqueFd stdin_wake_;  // eventfd: CloseStdin/Detach wake the stdin pump
};

}  // namespace banger::shim
