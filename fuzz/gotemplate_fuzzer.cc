// The --format Go-template subset (cli/gotemplate.h): a template, then after
// the first NUL byte a JSON item it runs on (an empty object when that is not
// JSON). Invariants: nothing crashes; a refusal is one line; a template with
// no action prints the same text for every item; a parsed template runs on
// any JSON value (even a non-object) and has a header.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cli/gotemplate.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string_view text = in.substr(0, nul);
  Json item = Json::object();
  if (nul != std::string_view::npos) {
    Json parsed = Json::parse(in.substr(nul + 1), nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) item = std::move(parsed);
  }
  auto t = GoTemplate::Parse(text);
  if (!t.ok()) {
    const std::string& m = t.error().message();
    BANGER_FUZZ_CHECK(!m.empty());
    BANGER_FUZZ_CHECK(m.find('\n') == std::string::npos);
    return 0;
  }
  std::string out = t->Execute(item);
  (void)t->Header();
  (void)t->Execute(Json("a string"));
  (void)t->Execute(Json::array({item, nullptr}));
  if (text.find("{{") == std::string_view::npos) {
    BANGER_FUZZ_CHECK(out == t->Execute(Json::object()));
    BANGER_FUZZ_CHECK(out.size() <= text.size());
  }
  return 0;
}
