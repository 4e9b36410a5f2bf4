// JSON forms of the model, with the seed's JSON tags as field names. Used by
// the store (spec/runtime/stats columns, handles.json) and the API. Decoding
// is strict: unknown fields and wrong types are errors naming the field.
//
// Each type names its fields once, in a JsonFields<T> specialization
// (model/json_fields.h) whose Visit walks them with either a JsonWriter
// (encoding) or a JsonReader (decoding); ToJson/Decode below drive it, for
// the model's types and the API's requests (model/requests.h) alike.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>

#include "model/types.h"

namespace banger {

using Json = nlohmann::json;

Result<Image> ImageFromJson(const Json& j);
Result<VmSpec> VmSpecFromJson(const Json& j);
Result<VmRuntime> VmRuntimeFromJson(const Json& j);
Result<VmStats> VmStatsFromJson(const Json& j);
Result<VmRecord> VmRecordFromJson(const Json& j);
Result<VmHandles> VmHandlesFromJson(const Json& j);
Result<GuestSession> GuestSessionFromJson(const Json& j);
Result<WorkspacePrepareResult> WorkspacePrepareResultFromJson(const Json& j);
Result<Event> EventFromJson(const Json& j);
Result<VmSnapshot> VmSnapshotFromJson(const Json& j);
Result<VmTemplate> VmTemplateFromJson(const Json& j);

// Parses text as JSON, with the error saying where it broke.
Result<Json> ParseJson(const std::string& text);

// j as text (indented when indent >= 0). Never throws: invalid UTF-8 in a
// string (guest output, a branch or file name) becomes U+FFFD. Every JSON
// the daemon and CLI emit goes through here, not Json::dump().
inline std::string SafeDump(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// Whether a writer leaves out a field holding its empty value ("", 0, false,
// the zero time, an empty list or map, a null or empty JSON value).
enum class Omit { kNever, kEmpty };

// Specialized for each type with a JSON form (model/json_fields.h): kWhat,
// template <class Io, class V> static void Visit(Io&, V&), optionally Check.
template <typename T>
struct JsonFields;

template <typename T>
concept HasJsonForm = requires {
  JsonFields<T>::kWhat;
};

// Strict field reader used by the decoders above and the API layer. The
// Omit arguments mirror JsonWriter's so one field list serves both.
class JsonReader {
 public:
  JsonReader(const Json& j, std::string what);
  // Each getter records the first error; absent (or null) fields keep the default.
  void Str(const char* key, std::string& out, Omit = Omit::kNever);
  void Bool(const char* key, bool& out, Omit = Omit::kNever);
  void Int(const char* key, int& out, Omit = Omit::kNever);
  void Int64(const char* key, int64_t& out, Omit = Omit::kNever);
  void UInt32(const char* key, uint32_t& out, Omit = Omit::kNever);
  void Double(const char* key, double& out, Omit = Omit::kNever);
  void Time(const char* key, Timestamp& out, Omit = Omit::kNever);
  void StrMap(const char* key, std::map<std::string, std::string>& out, Omit = Omit::kNever);
  void StrList(const char* key, std::vector<std::string>& out, Omit = Omit::kNever);
  void Raw(const char* key, Json& out, Omit = Omit::kNever);
  // An integer count of milliseconds.
  void Millis(const char* key, std::chrono::milliseconds& out, Omit = Omit::kNever);
  // Set only when the key is present and not null.
  template <typename T>
  void Opt(const char* key, std::optional<T>& out);
  // A string naming an enumerator: `parse` decides which.
  template <typename E>
  void Enum(const char* key, E& out, const char* (*name)(E), Result<E> (*parse)(const std::string&));
  // A nested object with its own JsonFields.
  template <typename T>
  void Object(const char* key, T& out);
  template <typename T>
  void OptObject(const char* key, std::optional<T>& out);
  // An array of such objects.
  template <typename T>
  void ObjectList(const char* key, std::vector<T>& out, Omit = Omit::kNever);
  bool Has(const char* key) const;
  // Fails on keys never asked for, then returns the first error seen.
  Status Finish();
  void Fail(const std::string& msg);

 private:
  const Json* Get(const char* key);
  void Record(const Error& e);
  const Json& j_;
  std::string what_;
  std::vector<std::string> seen_;
  std::optional<Error> err_;
};

// The encoding twin of JsonReader: same calls, writing into an object.
class JsonWriter {
 public:
  explicit JsonWriter(Json& j) : j_(j) {}
  void Str(const char* key, const std::string& v, Omit omit = Omit::kNever);
  void Bool(const char* key, bool v, Omit omit = Omit::kNever);
  void Int(const char* key, int v, Omit omit = Omit::kNever) { Int64(key, v, omit); }
  void Int64(const char* key, int64_t v, Omit omit = Omit::kNever);
  void UInt32(const char* key, uint32_t v, Omit omit = Omit::kNever) { Int64(key, v, omit); }
  void Double(const char* key, double v, Omit omit = Omit::kNever);
  void Time(const char* key, Timestamp v, Omit omit = Omit::kNever);
  void StrMap(const char* key, const std::map<std::string, std::string>& v, Omit omit = Omit::kNever);
  void StrList(const char* key, const std::vector<std::string>& v, Omit omit = Omit::kNever);
  void Raw(const char* key, const Json& v, Omit omit = Omit::kNever);
  void Millis(const char* key, std::chrono::milliseconds v, Omit omit = Omit::kNever) {
    Int64(key, v.count(), omit);
  }
  template <typename T>
  void Opt(const char* key, const std::optional<T>& v) {
    if (v) j_[key] = Json(*v);
  }
  void Opt(const char* key, const std::optional<std::chrono::milliseconds>& v) {
    if (v) j_[key] = v->count();
  }
  template <typename E>
  void Enum(const char* key, E v, const char* (*name)(E), Result<E> (*)(const std::string&)) {
    j_[key] = name(v);
  }
  template <typename T>
  void Object(const char* key, const T& v);
  template <typename T>
  void OptObject(const char* key, const std::optional<T>& v) {
    if (v) Object(key, *v);
  }
  template <typename T>
  void ObjectList(const char* key, const std::vector<T>& v, Omit omit = Omit::kNever);

 private:
  Json& j_;
};

// The JSON object of `v`, from its JsonFields.
template <HasJsonForm T>
Json ToJson(const T& v) {
  Json j = Json::object();
  JsonWriter w(j);
  JsonFields<T>::Visit(w, v);
  return j;
}

// `v` from a JSON object: strict, then the type's own Check when it has one
// (a request's ranges and required fields). `what` overrides the name that
// starts error messages.
template <typename T>
Result<T> Decode(const Json& j, const char* what = nullptr) {
  T v{};
  JsonReader r(j, what ? what : JsonFields<T>::kWhat);
  JsonFields<T>::Visit(r, v);
  BANGER_RETURN_IF_ERROR(r.Finish());
  if constexpr (requires { JsonFields<T>::Check(v); }) {
    BANGER_RETURN_IF_ERROR(JsonFields<T>::Check(v));
  }
  return v;
}

template <typename T>
void JsonReader::Opt(const char* key, std::optional<T>& out) {
  bool present = Has(key);
  T v{};
  if constexpr (std::is_same_v<T, int>) {
    Int(key, v);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    Int64(key, v);
  } else if constexpr (std::is_same_v<T, bool>) {
    Bool(key, v);
  } else if constexpr (std::is_same_v<T, std::chrono::milliseconds>) {
    Millis(key, v);
  } else {
    Str(key, v);
  }
  if (present) out = v;
}

template <typename E>
void JsonReader::Enum(const char* key, E& out, const char* (*name)(E),
                      Result<E> (*parse)(const std::string&)) {
  std::string s = name(out);
  Str(key, s);
  auto v = parse(s);
  if (!v.ok()) return Fail(std::string("field \"") + key + "\": " + v.error().message());
  out = *v;
}

template <typename T>
void JsonReader::Object(const char* key, T& out) {
  if (const Json* v = Get(key)) {
    auto r = Decode<T>(*v);
    if (!r.ok()) return Record(r.error());
    out = std::move(*r);
  }
}

template <typename T>
void JsonReader::OptObject(const char* key, std::optional<T>& out) {
  if (const Json* v = Get(key)) {
    auto r = Decode<T>(*v);
    if (!r.ok()) return Record(r.error());
    out = std::move(*r);
  }
}

template <typename T>
void JsonReader::ObjectList(const char* key, std::vector<T>& out, Omit) {
  if (const Json* v = Get(key)) {
    if (!v->is_array()) return Fail(std::string("field \"") + key + "\" must be an array of objects");
    for (const auto& e : *v) {
      auto r = Decode<T>(e);
      if (!r.ok()) return Record(r.error());
      out.push_back(std::move(*r));
    }
  }
}

template <typename T>
void JsonWriter::Object(const char* key, const T& v) {
  j_[key] = ToJson(v);
}

template <typename T>
void JsonWriter::ObjectList(const char* key, const std::vector<T>& v, Omit omit) {
  if (omit == Omit::kEmpty && v.empty()) return;
  Json arr = Json::array();
  for (const auto& e : v) arr.push_back(ToJson(e));
  j_[key] = std::move(arr);
}

}  // namespace banger

#include "model/json_fields.h"  // IWYU pragma: export
