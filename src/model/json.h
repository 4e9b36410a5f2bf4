// JSON forms of the model, with the seed's JSON tags as field names. Used by
// the store (spec/runtime/stats columns, handles.json) and the API. Decoding
// is strict: unknown fields and wrong types are errors naming the field.
#pragma once

#include <nlohmann/json.hpp>

#include "model/types.h"

namespace banger {

using Json = nlohmann::json;

Json ToJson(const Image& v);
Json ToJson(const VMSpec& v);
Json ToJson(const VMRuntime& v);
Json ToJson(const VMStats& v);
Json ToJson(const VMRecord& v);
Json ToJson(const VMHandles& v);
Json ToJson(const GuestSession& v);
Json ToJson(const WorkspacePrepareResult& v);
Json ToJson(const Event& v);

Result<Image> ImageFromJson(const Json& j);
Result<VMSpec> VMSpecFromJson(const Json& j);
Result<VMRuntime> VMRuntimeFromJson(const Json& j);
Result<VMStats> VMStatsFromJson(const Json& j);
Result<VMRecord> VMRecordFromJson(const Json& j);
Result<VMHandles> VMHandlesFromJson(const Json& j);
Result<GuestSession> GuestSessionFromJson(const Json& j);
Result<WorkspacePrepareResult> WorkspacePrepareResultFromJson(const Json& j);
Result<Event> EventFromJson(const Json& j);

// Parses text as JSON, with the error saying where it broke.
Result<Json> ParseJson(const std::string& text);

// Strict field reader used by the decoders above and the API layer.
class JsonReader {
 public:
  JsonReader(const Json& j, std::string what);
  // Each getter records the first error; absent fields keep the default.
  void Str(const char* key, std::string& out);
  void Bool(const char* key, bool& out);
  void Int(const char* key, int& out);
  void Int64(const char* key, int64_t& out);
  void UInt32(const char* key, uint32_t& out);
  void Double(const char* key, double& out);
  void Time(const char* key, Timestamp& out);
  void StrMap(const char* key, std::map<std::string, std::string>& out);
  void StrList(const char* key, std::vector<std::string>& out);
  void Raw(const char* key, Json& out);
  bool Has(const char* key) const;
  // Fails on keys never asked for, then returns the first error seen.
  Status Finish();
  void Fail(const std::string& msg);

 private:
  const Json* Get(const char* key);
  const Json& j_;
  std::string what_;
  std::vector<std::string> seen_;
  std::optional<Error> err_;
};

}  // namespace banger
