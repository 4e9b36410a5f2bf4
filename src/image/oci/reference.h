// OCI image references as docker writes them, normalized the way docker
// does: no registry means Docker Hub (docker.io), a Hub name without a
// namespace is library/NAME, no tag and no digest means :latest.
//
//   busybox                         -> docker.io/library/busybox:latest
//   ghcr.io/o/app:1.2               -> ghcr.io/o/app:1.2
//   localhost:5000/t@sha256:<64hex> -> localhost:5000/t@sha256:<64hex>
//
// A registry on a loopback address (localhost, 127.0.0.0/8, [::1]) may speak
// plain HTTP, as docker allows (`insecure` implied). Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace banger {

struct OciReference {
  std::string registry;    // "docker.io", "ghcr.io", "localhost:5000", "[::1]:5000"
  std::string repository;  // "library/busybox"
  std::string tag;         // "" only when a digest is given without a tag
  std::string digest;      // "sha256:<64 hex>" or ""
  bool loopback = false;   // registry host is loopback: plain HTTP allowed

  // registry/repository[:tag][@digest]
  std::string Normalized() const;
  // What skopeo pulls: by digest when there is one, else by tag.
  std::string Pullable() const;
  // The image name `image pull` picks: last path component + "-" + tag (or
  // the digest's first 12 hex digits), lowercased, other characters as '-'.
  std::string DefaultImageName() const;
};

Result<OciReference> ParseOciReference(std::string_view ref);

// The credentials for `registry` in a docker config.json (`auths[KEY].auth`,
// base64 of "user:password"). Keys are matched as docker does: the host
// itself, with an http(s):// prefix or a /v1/ or /v2/ suffix, and Docker
// Hub's historical "https://index.docker.io/v1/". "" when none.
std::string DockerConfigAuth(const std::string& config_json, const std::string& registry);

}  // namespace banger

namespace banger {
// Standard base64 (with padding), for docker's "auth" = base64(user:password).
std::string Base64Encode(std::string_view data);
}  // namespace banger
