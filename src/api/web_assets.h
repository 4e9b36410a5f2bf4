// The web UI's files, built into bangerd: web/src/index.html and esbuild's
// bundle of web/src/main.js (xterm.js and the page's code) with its CSS. The
// definitions are generated at build time by web/build.mjs
// (src/api/CMakeLists.txt), so the page runs offline: nothing is fetched
// from anywhere but the web listener itself.
#pragma once

#include <span>
#include <string_view>

namespace banger {

struct WebAsset {
  std::string_view path;          // "/", "/assets/app.js", "/assets/app.css"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view body;
};

std::span<const WebAsset> WebAssets();

}  // namespace banger
