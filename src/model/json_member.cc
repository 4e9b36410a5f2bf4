#include "model/json_member.h"

#include "model/json.h"

namespace banger {
namespace {

// A validating single pass over JSON text that writes it indented as
// nlohmann's dump(indent) would. Tokens whose dumped form can differ from
// their text (escapes other than the common ones, non-ASCII bytes, numbers
// that are not plain integers) go through nlohmann one by one, so the
// output matches a parse and dump byte for byte.
class Indenter {
 public:
  Indenter(std::string_view in, int indent) : in_(in), indent_(indent) {}

  // The top-level object's member `key`, indented; nullopt when invalid.
  std::optional<std::string> Member(std::string_view key, std::string_view fallback) {
    Ws();
    if (!Eat('{')) return std::nullopt;
    bool found = false;
    std::string value;
    Ws();
    if (!Eat('}')) {
      for (;;) {
        Ws();
        size_t k = pos_;
        std::string* keep = out_;
        out_ = nullptr;
        if (!String()) return std::nullopt;
        std::string_view raw_key = in_.substr(k + 1, pos_ - k - 2);
        // An escaped key is left to the parse.
        if (raw_key.find('\\') != std::string_view::npos) return std::nullopt;
        Ws();
        if (!Eat(':')) return std::nullopt;
        // The last of duplicate keys wins, as in a parse.
        bool mine = raw_key == key;
        if (mine) {
          value.clear();
          out_ = &value;
          found = true;
        }
        if (!Value(0)) return std::nullopt;
        out_ = keep;
        Ws();
        if (Eat(',')) continue;
        if (Eat('}')) break;
        return std::nullopt;
      }
    }
    Ws();
    if (pos_ != in_.size()) return std::nullopt;
    if (!found) return std::string(fallback);
    return value;
  }

 private:
  static constexpr int kMaxDepth = 256;

  bool Eat(char c) {
    if (pos_ < in_.size() && in_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void Ws() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\n' || in_[pos_] == '\r' || in_[pos_] == '\t'))
      ++pos_;
  }
  void Put(std::string_view s) {
    if (out_) out_->append(s);
  }
  void Pad(int level) {
    if (out_) out_->append(static_cast<size_t>(indent_) * static_cast<size_t>(level), ' ');
  }
  // A token as nlohmann dumps it (checked by the parse even when skipped).
  bool Redump(size_t start) {
    auto j = ParseJson(std::string(in_.substr(start, pos_ - start)));
    if (!j.ok()) return false;
    if (out_) out_->append(SafeDump(*j));
    return true;
  }

  bool Value(int level) {
    if (level > kMaxDepth) return false;
    Ws();
    if (pos_ >= in_.size()) return false;
    switch (in_[pos_]) {
      case '{':
        return Container(level, '}', true);
      case '[':
        return Container(level, ']', false);
      case '"':
        return String();
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return Number();
    }
  }

  bool Container(int level, char close, bool object) {
    ++pos_;
    Ws();
    if (Eat(close)) {
      Put(object ? "{}" : "[]");
      return true;
    }
    Put(object ? "{\n" : "[\n");
    for (;;) {
      Pad(level + 1);
      if (object) {
        Ws();
        if (!String()) return false;
        Ws();
        if (!Eat(':')) return false;
        Put(": ");
      }
      if (!Value(level + 1)) return false;
      Ws();
      if (Eat(',')) {
        Put(",\n");
        continue;
      }
      if (!Eat(close)) return false;
      Put("\n");
      Pad(level);
      Put(object ? "}" : "]");
      return true;
    }
  }

  bool Literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    Put(word);
    return true;
  }

  bool String() {
    size_t start = pos_;
    if (!Eat('"')) return false;
    bool plain = true;  // dumps as written
    for (;;) {
      if (pos_ >= in_.size()) return false;
      auto c = static_cast<unsigned char>(in_[pos_++]);
      if (c == '"') break;
      if (c < 0x20) return false;
      if (c >= 0x80) plain = false;  // UTF-8: checked (and repaired) by the parse
      if (c == '\\') {
        if (pos_ >= in_.size()) return false;
        char e = in_[pos_++];
        if (e == 'u') {
          plain = false;
        } else if (e != '"' && e != '\\' && e != 'n' && e != 't' && e != 'r' && e != 'b' && e != 'f') {
          plain = false;  // "\/" and malformed escapes: the parse decides
        }
      }
    }
    if (!plain) return Redump(start);
    Put(in_.substr(start, pos_ - start));
    return true;
  }

  bool Number() {
    size_t start = pos_;
    Eat('-');
    size_t digits = pos_;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
    size_t n = pos_ - digits;
    if (n == 0) return false;
    bool plain =
        (n == 1 || in_[digits] != '0') && n <= 18 && !(n == 1 && in_[digits] == '0' && digits > start);
    if (pos_ < in_.size() && (in_[pos_] == '.' || in_[pos_] == 'e' || in_[pos_] == 'E')) {
      // A double: let the parse read it and dump its shortest form.
      while (pos_ < in_.size() &&
             (std::string_view("0123456789.eE+-").find(in_[pos_]) != std::string_view::npos))
        ++pos_;
      plain = false;
    }
    if (!plain) return Redump(start);
    Put(in_.substr(start, pos_ - start));
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  int indent_;
  std::string* out_ = nullptr;
};

}  // namespace

std::optional<std::string> IndentedJsonMember(std::string_view text, std::string_view key, int indent,
                                              std::string_view fallback) {
  if (indent < 0) return std::nullopt;
  return Indenter(text, indent).Member(key, fallback);
}

}  // namespace banger
