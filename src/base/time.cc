#include "base/time.h"

#include <cstdio>
#include <ctime>

namespace banger {

Timestamp Now() { return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()); }

std::string FormatRfc3339(Timestamp t) {
  if (t.time_since_epoch().count() == 0) return "";
  std::time_t tt = static_cast<std::time_t>(t.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<Timestamp> ParseRfc3339(const std::string& s) {
  if (s.empty()) return Timestamp{};
  std::tm tm{};
  int y, mo, d, h, mi, sec;
  char z = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &sec, &z) != 7 || z != 'Z') {
    return Error::Invalid("bad timestamp \"" + s + "\" (want YYYY-MM-DDTHH:MM:SSZ)");
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return Timestamp{std::chrono::seconds{timegm(&tm)}};
}

Result<std::chrono::milliseconds> ParseDuration(const std::string& s) {
  if (s.empty()) return Error::Invalid("empty duration");
  if (s == "0") return std::chrono::milliseconds{0};
  double total_ms = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (start == i) return Error::Invalid("bad duration \"" + s + "\" (want e.g. 30s, 10m, 1h30m)");
    double v = std::stod(s.substr(start, i - start));
    size_t ustart = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    std::string unit = s.substr(ustart, i - ustart);
    double mult;
    if (unit == "ms")
      mult = 1;
    else if (unit == "s")
      mult = 1000;
    else if (unit == "m")
      mult = 60000;
    else if (unit == "h")
      mult = 3600000;
    else
      return Error::Invalid("bad duration \"" + s + "\": unknown unit \"" + unit + "\" (use ms, s, m, h)");
    total_ms += v * mult;
  }
  return std::chrono::milliseconds{static_cast<int64_t>(total_ms)};
}

std::string FormatDuration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace banger
