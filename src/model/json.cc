#include "model/json.h"

#include <algorithm>

namespace banger {

JsonReader::JsonReader(const Json& j, std::string what) : j_(j), what_(std::move(what)) {
  if (!j_.is_object()) Fail("must be a JSON object");
}

void JsonReader::Fail(const std::string& msg) {
  if (!err_) err_ = Error::Invalid(what_ + ": " + msg);
}

bool JsonReader::Has(const char* key) const {
  return j_.is_object() && j_.contains(key) && !j_[key].is_null();
}

const Json* JsonReader::Get(const char* key) {
  seen_.emplace_back(key);
  if (!j_.is_object()) return nullptr;
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return nullptr;
  return &*it;
}

void JsonReader::Str(const char* key, std::string& out, Omit) {
  if (const Json* v = Get(key)) {
    if (!v->is_string()) return Fail(std::string("field \"") + key + "\" must be a string");
    out = v->get<std::string>();
  }
}
void JsonReader::Bool(const char* key, bool& out, Omit) {
  if (const Json* v = Get(key)) {
    if (!v->is_boolean()) return Fail(std::string("field \"") + key + "\" must be a boolean");
    out = v->get<bool>();
  }
}
void JsonReader::Int64(const char* key, int64_t& out, Omit) {
  if (const Json* v = Get(key)) {
    if (!v->is_number_integer()) return Fail(std::string("field \"") + key + "\" must be an integer");
    out = v->get<int64_t>();
  }
}
void JsonReader::Int(const char* key, int& out, Omit) {
  int64_t v = out;
  Int64(key, v);
  if (v < INT32_MIN || v > INT32_MAX) return Fail(std::string("field \"") + key + "\" is out of range");
  out = static_cast<int>(v);
}
void JsonReader::UInt32(const char* key, uint32_t& out, Omit) {
  int64_t v = out;
  Int64(key, v);
  if (v < 0 || v > UINT32_MAX) return Fail(std::string("field \"") + key + "\" is out of range");
  out = static_cast<uint32_t>(v);
}
void JsonReader::Double(const char* key, double& out, Omit) {
  if (const Json* v = Get(key)) {
    if (!v->is_number()) return Fail(std::string("field \"") + key + "\" must be a number");
    out = v->get<double>();
  }
}
void JsonReader::Time(const char* key, Timestamp& out, Omit) {
  std::string s;
  Str(key, s);
  if (s.empty()) return;
  auto t = ParseRfc3339(s);
  if (!t.ok()) return Fail(std::string("field \"") + key + "\": " + t.error().message());
  out = *t;
}
void JsonReader::StrMap(const char* key, std::map<std::string, std::string>& out, Omit) {
  if (const Json* v = Get(key)) {
    if (!v->is_object()) return Fail(std::string("field \"") + key + "\" must be an object of strings");
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it->is_string()) return Fail(std::string("field \"") + key + "\" must be an object of strings");
      out[it.key()] = it->get<std::string>();
    }
  }
}
void JsonReader::StrList(const char* key, std::vector<std::string>& out, Omit) {
  if (const Json* v = Get(key)) {
    if (!v->is_array()) return Fail(std::string("field \"") + key + "\" must be an array of strings");
    for (const auto& e : *v) {
      if (!e.is_string()) return Fail(std::string("field \"") + key + "\" must be an array of strings");
      out.push_back(e.get<std::string>());
    }
  }
}
void JsonReader::Raw(const char* key, Json& out, Omit) {
  if (const Json* v = Get(key)) out = *v;
}
void JsonReader::Millis(const char* key, std::chrono::milliseconds& out, Omit) {
  int64_t ms = out.count();
  Int64(key, ms);
  out = std::chrono::milliseconds(ms);
}
void JsonReader::Record(const Error& e) {
  if (!err_) err_ = e;
}

Status JsonReader::Finish() {
  if (!err_ && j_.is_object()) {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (std::find(seen_.begin(), seen_.end(), it.key()) == seen_.end()) {
        Fail("unknown field \"" + it.key() + "\"");
        break;
      }
    }
  }
  if (err_) return *err_;
  return OkStatus();
}

Result<Json> ParseJson(const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    // parse_error, and also out_of_range for a number that overflows a
    // double ("1e99999"; found by fuzz/stream_fuzzer.cc): text from a guest
    // or a client must cost an error value, never an exception.
    return Error::Invalid(std::string("malformed JSON: ") + e.what());
  }
}

void JsonWriter::Str(const char* key, const std::string& v, Omit omit) {
  if (omit == Omit::kNever || !v.empty()) j_[key] = v;
}
void JsonWriter::Bool(const char* key, bool v, Omit omit) {
  if (omit == Omit::kNever || v) j_[key] = v;
}
void JsonWriter::Int64(const char* key, int64_t v, Omit omit) {
  if (omit == Omit::kNever || v != 0) j_[key] = v;
}
void JsonWriter::Double(const char* key, double v, Omit omit) {
  if (omit == Omit::kNever || v != 0) j_[key] = v;
}
void JsonWriter::Time(const char* key, Timestamp v, Omit omit) {
  if (omit == Omit::kNever || v.time_since_epoch().count() != 0) j_[key] = FormatRfc3339(v);
}
void JsonWriter::StrMap(const char* key, const std::map<std::string, std::string>& v, Omit omit) {
  if (omit == Omit::kNever || !v.empty()) j_[key] = Json(v);
}
void JsonWriter::StrList(const char* key, const std::vector<std::string>& v, Omit omit) {
  if (omit == Omit::kNever || !v.empty()) j_[key] = Json(v);
}
void JsonWriter::Raw(const char* key, const Json& v, Omit omit) {
  if (omit == Omit::kNever || !v.empty()) j_[key] = v;
}

Result<Image> ImageFromJson(const Json& j) { return Decode<Image>(j); }
Result<VmSpec> VmSpecFromJson(const Json& j) { return Decode<VmSpec>(j); }
Result<VmRuntime> VmRuntimeFromJson(const Json& j) { return Decode<VmRuntime>(j); }
Result<VmStats> VmStatsFromJson(const Json& j) { return Decode<VmStats>(j); }
Result<VmRecord> VmRecordFromJson(const Json& j) { return Decode<VmRecord>(j); }
Result<VmHandles> VmHandlesFromJson(const Json& j) { return Decode<VmHandles>(j); }
Result<GuestSession> GuestSessionFromJson(const Json& j) { return Decode<GuestSession>(j); }
Result<WorkspacePrepareResult> WorkspacePrepareResultFromJson(const Json& j) {
  return Decode<WorkspacePrepareResult>(j);
}
Result<Event> EventFromJson(const Json& j) { return Decode<Event>(j); }
Result<VmSnapshot> VmSnapshotFromJson(const Json& j) { return Decode<VmSnapshot>(j); }
Result<VmTemplate> VmTemplateFromJson(const Json& j) { return Decode<VmTemplate>(j); }

}  // namespace banger
