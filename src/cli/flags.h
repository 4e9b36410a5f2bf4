// Command-line values as parsed by CLI11, checked at the edge (before the
// daemon sees them) and turned into API request bodies. A check that fails
// is a usage error whose message is printed as is.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/json.h"
#include "model/requests.h"
#include "model/types.h"

namespace banger {

// --disk-bw RATE --disk-iops N --net-bw RATE (RATE: bytes/s, K/M/G
// suffixes; 0 = unlimited).
struct RateFlags {
  std::optional<std::string> disk_bw;
  std::optional<std::string> disk_iops;
  std::optional<std::string> net_bw;
  bool any() const { return disk_bw || disk_iops || net_bw; }
};

// --idle-suspend DURATION --ttl DURATION --ttl-action stop|delete
// (DURATION: 30s, 10m, 1h30m; 0 or "off" = never).
struct LifetimeFlags {
  std::optional<std::string> idle_suspend;
  std::optional<std::string> ttl;
  std::optional<std::string> ttl_action;
  std::optional<std::string> idle_suspend_to;
  bool any() const { return idle_suspend || ttl || ttl_action || idle_suspend_to; }
};

inline constexpr const char* kMemoryHelp = "Memory: 2G, 512M, ... (binary units; a bare number is MiB)";

struct CreateFlags {
  std::string name;
  std::string image;
  std::optional<int> vcpus;           // --vcpus, --cpus
  std::optional<std::string> memory;  // --memory: 2G, 512M, a bare number of MiB
  std::optional<std::string> system_overlay_size;
  std::optional<std::string> work_disk_size;
  bool nat = false;
  bool no_start = false;
  std::string backend;
  std::vector<std::string> labels;
  std::string request_id;
  RateFlags rates;
  LifetimeFlags lifetime;
  bool cold = false;
  std::vector<std::string> ports;   // -p [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp]
  std::vector<std::string> mounts;  // --mount HOST:GUEST[:ro|rw], repeatable
};

// `image template create`: the image and the spec of the VMs it serves.
struct TemplateFlags {
  std::string image;
  std::optional<int> vcpus;
  std::optional<std::string> memory;
  std::optional<std::string> system_overlay_size;
  std::optional<std::string> work_disk_size;
  std::string backend;
};

struct SetFlags {
  std::optional<int> vcpus;
  std::optional<std::string> memory;
  std::optional<std::string> work_disk_size;
  bool nat = false;
  bool no_nat = false;
  RateFlags rates;
  LifetimeFlags lifetime;
};

struct ImportFlags {
  std::string name;
  std::string kernel;
  std::string rootfs;
  std::string initrd;
  std::string modules;
  std::string work_seed;
};

Result<CreateTemplateRequest> BuildTemplateRequest(const TemplateFlags& f);

// --memory's value in MiB: a whole number with an optional K, M, G or T
// suffix (case-insensitive, optionally followed by B or iB; binary units),
// a bare number meaning MiB; it must come to a whole, positive number of MiB.
Result<int> ParseMemoryFlag(const std::string& raw);

// "--vcpus must be a positive integer, got 0".
Status CheckPositive(const std::string& flag, int value);
// "k=v" flags into labels; the first bad one is the error.
Result<Labels> ParseLabelFlags(const std::vector<std::string>& raw);
// The query string filtering a VM list by labels: "" or "?label=k%3Dv%2C...".
std::string LabelQuery(const Labels& labels);

// "KEY=VALUE" --env words into an environment (KEY: letters, digits, _,
// not starting with a digit); the first bad one is the error.
Result<std::map<std::string, std::string>> ParseEnvFlags(const std::vector<std::string>& raw);

// What vm exec, vm run and session start say about their guest command:
// -u/--user, -w/--workdir (--cwd), -e/--env, --no-image-env, and the
// command after -- (empty: the image's Entrypoint + Cmd, vm run and session
// start only).
struct GuestCommandFlags {
  std::vector<std::string> argv;
  std::string user;
  std::string cwd;
  std::vector<std::string> env;
  std::vector<std::string> env_files;  // --env-file, read in order, under -e
  bool no_image_env = false;
};

// The variables of an --env-file's text, docker's format: KEY=VALUE lines
// (the value as written, to the end of the line), leading white space
// ignored, blank lines and lines starting with # skipped; a bare KEY takes
// its value from `lookup` (the CLI's environment) and is skipped when that
// has none. A bad line is "FILE:LINE: why".
Result<std::map<std::string, std::string>> ParseEnvFile(
    const std::string& file, const std::string& text,
    const std::function<std::optional<std::string>(const std::string&)>& lookup);

// The request's argv, env, cwd, user and no_image_env from the flags, each
// checked with a message naming its flag.
Status PutGuestCommand(ExecVmRequest& r, const GuestCommandFlags& f);
Status PutGuestCommand(StartSessionRequest& r, const GuestCommandFlags& f);

// The request of POST /v1/vms: only the fields the user gave, sizes in bytes.
Result<CreateVmRequest> BuildCreateRequest(const CreateFlags& f);
// The request of PATCH /v1/vms/{ref}; asking for no change is an error.
Result<SetVmRequest> BuildSetRequest(const SetFlags& f);
// The request of POST /v1/images, with paths made absolute against the cwd
// (the daemon does not share it).
Result<ImportImageRequest> BuildImportRequest(const ImportFlags& f);
// The request of stop/restart: a timeout only when --timeout was given.
Result<StopVmRequest> BuildStopRequest(std::optional<int> timeout_seconds);

}  // namespace banger
