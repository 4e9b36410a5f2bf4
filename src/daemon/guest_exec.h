// GuestExec: the one way the daemon runs a command in a guest. Used by the
// API's exec stream (api/exec_stream.cc, which only relays frames),
// SessionService and WorkspaceService.
//
// - WaitForAgent: waits (with a deadline) until the VM's agent answers; a
//   timeout or a VM that stopped meanwhile quotes the console's last lines.
// - Open: a command as a GuestCommand (RAII). Every wait on it can be given
//   a deadline (KillAt, Hangup): the guest is not trusted to ever exit.
// - Run: run to completion with a deadline and bounded captured output.
// - UserRequest: a user's command with the defaults of the VM's image.
//
// `vm run --rm` (spec.auto_remove, docs/api.md): the first command opened
// through the exec stream on an auto-remove VM is its run command. When the
// run command ends (exits, is killed after its client hung up, or could not
// be started) the VM is deleted. AutoRemoveSweeper deletes auto-remove VMs
// that stopped (or whose VMM died) and running ones with no run command
// (e.g. the daemon restarted while it ran, which ended it).
//
// Thread-safety: GuestExec is stateless and safe to share. A GuestCommand is
// used by one reader thread (Next) and one writer thread (channel() writes,
// Hangup, KillAt) at a time, like ExecChannel.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/client.h"
#include "daemon/vm_service.h"
#include "model/image_defaults.h"

namespace banger {

// The console's last lines as one line (errors are one line).
std::string ConsoleTail(const std::string& path);

// One command running in a guest. Destroying it closes the channel (the
// agent kills a command still running) and, for the run command of an
// auto-remove VM, deletes the VM.
class GuestCommand {
 public:
  ~GuestCommand();
  GuestCommand(const GuestCommand&) = delete;
  GuestCommand& operator=(const GuestCommand&) = delete;

  const std::string& vm_id() const { return vm_id_; }
  bool run_command() const { return run_command_; }
  // For stdin, signals and resizes (the writer side).
  ExecChannel& channel() { return *channel_; }

  // The next output or the exit. Once a kill time is set (KillAt, Hangup)
  // the command gets SIGKILL then, and Next gives up with kTimeout `grace`
  // later if the guest still reports no exit.
  Result<ExecEvent> Next();
  void KillAt(std::chrono::steady_clock::time_point when, std::chrono::milliseconds grace);
  // The client went away: SIGHUP now (as over ssh), SIGKILL after `grace`.
  void Hangup(std::chrono::milliseconds grace);
  // Whether Next sent the deadline's SIGKILL (reader thread).
  bool killed_at_deadline() const { return killed_; }

  // The run command of an auto-remove VM ended: deletes the VM (once; the
  // destructor does it too). Safe while the reader or writer still runs:
  // their calls then fail.
  void EndRun();

 private:
  friend class GuestExec;
  GuestCommand(VmService& vms, std::string vm_id, bool run_command);

  VmService& vms_;
  std::string vm_id_;
  bool run_command_ = false;
  bool in_use_ = false;  // counted in VmService::BeginUse
  std::atomic<bool> run_ended_{false};
  std::shared_ptr<AgentConn> conn_;
  std::unique_ptr<ExecChannel> channel_;
  std::mutex kill_mu_;
  std::optional<std::chrono::steady_clock::time_point> kill_at_;  // Guarded by kill_mu_.
  std::chrono::milliseconds grace_{0};                            // Guarded by kill_mu_.
  bool killed_ = false;                                           // reader thread only
};

struct GuestRunOptions {
  std::chrono::milliseconds agent_timeout{std::chrono::seconds(120)};
  // The command's own deadline: SIGKILL then, an error shortly after.
  std::chrono::milliseconds run_timeout{std::chrono::seconds(60)};
  size_t max_output = 1 << 20;  // per stream; the rest is dropped
  // How long the agent gets to answer the OPEN, and to report the exit
  // after the deadline's SIGKILL.
  std::chrono::milliseconds open_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds kill_grace{std::chrono::seconds(5)};
};

struct GuestRunResult {
  ExitStatus exit;
  std::string out, err;
  bool truncated = false;  // some output was dropped (max_output)
  int code() const { return exit.ShellCode(); }
};

class GuestExec {
 public:
  explicit GuestExec(VmService& vms) : vms_(vms) {}

  // Waits until the VM's guest agent answers (the guest may still be
  // booting) and returns the shared connection; touches last_touched_at.
  // A paused VM is resumed first (VmService::ResumeIfPaused).
  // A VM that is not running is a kConflict saying how to start it; a
  // timeout quotes the last console lines.
  Result<std::shared_ptr<AgentConn>> WaitForAgent(const std::string& ref, std::chrono::milliseconds timeout);

  // Starts a command. `may_be_run_command`: the caller is the exec stream,
  // whose first command on an auto-remove VM is that VM's run command.
  Result<std::unique_ptr<GuestCommand>> Open(const std::string& ref, const ExecRequest& req,
                                             std::chrono::milliseconds agent_timeout,
                                             bool may_be_run_command = false);

  // A user's command (vm exec, vm run, a session) as the agent gets it: the
  // defaults of the VM's image applied (model/image_defaults.h: an OCI
  // image's Env, WorkingDir, User, Entrypoint + Cmd). Commands the daemon
  // runs for itself do not come here: they run as root with no image env.
  // When it fails (no command) and `may_be_run_command` is set, the run
  // command of an auto-remove VM has ended before it started: the VM is
  // deleted, as when Open fails.
  Result<ExecRequest> UserRequest(const VmRecord& vm, UserCommand cmd, bool may_be_run_command = false);

  // Runs a command with stdin closed until it exits or opts.run_timeout.
  Result<GuestRunResult> Run(const std::string& ref, const ExecRequest& req, const GuestRunOptions& opts);

 private:
  VmService& vms_;
};

// Deletes auto-remove VMs that are stopped or in error, and running ones
// whose run command has not been opened within `unclaimed_grace` of being
// seen running (called by the sweeper thread).
class AutoRemoveSweeper {
 public:
  explicit AutoRemoveSweeper(VmService& vms,
                             std::chrono::milliseconds unclaimed_grace = std::chrono::seconds(60))
      : vms_(vms), grace_(unclaimed_grace) {}
  void Sweep();

 private:
  VmService& vms_;
  std::chrono::milliseconds grace_;
  std::map<std::string, std::chrono::steady_clock::time_point> unclaimed_since_;
};

}  // namespace banger
