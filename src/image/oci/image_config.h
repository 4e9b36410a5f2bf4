// The JSON documents of an OCI image layout (image-spec v1): index.json, an
// image manifest and the image config blob. Pure parsing; the strings come
// from registries and archives, so every field is checked for type and size.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "model/types.h"

namespace banger {

struct OciDescriptor {
  std::string media_type;
  std::string digest;  // "sha256:<64 hex>"
  int64_t size = 0;
};

struct OciManifest {
  OciDescriptor config;
  std::vector<OciDescriptor> layers;  // lowest first
};

// The manifest descriptor index.json tags `tag` with
// (annotation org.opencontainers.image.ref.name). NotFound when none.
Result<OciDescriptor> FindTaggedManifest(const std::string& index_json, const std::string& tag);

// Every tag of index.json (annotation org.opencontainers.image.ref.name).
Result<std::vector<std::string>> ListTags(const std::string& index_json);

// An image manifest (OCI or Docker schema 2). An index/manifest list here is
// an error: skopeo has already chosen the platform.
Result<OciManifest> ParseOciManifest(const std::string& manifest_json);

// The image config blob: Env, WorkingDir, User, Entrypoint, Cmd and
// ExposedPorts (sorted) of its "config". Refuses an image whose os/arch is
// not linux/amd64 (when given).
Result<OciImageConfig> ParseOciImageConfig(const std::string& config_json);

// The blob file of `digest` inside an OCI layout: LAYOUT/blobs/sha256/HEX.
// Invalid for a malformed digest (never a path outside the layout).
Result<std::string> BlobPath(const std::string& layout, const std::string& digest);

}  // namespace banger
