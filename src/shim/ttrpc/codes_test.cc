#include "ttrpc/codes.h"

#include <gtest/gtest.h>

namespace banger::ttrpc {
namespace {

TEST(CodesTest, NamesAreGrpcs) {
  EXPECT_EQ(CodeName(Code::kOk), "OK");
  EXPECT_EQ(CodeName(Code::kNotFound), "NotFound");
  EXPECT_EQ(CodeName(Code::kUnimplemented), "Unimplemented");
  EXPECT_EQ(CodeName(Code::kDeadlineExceeded), "DeadlineExceeded");
  EXPECT_EQ(CodeName(CodeFromWire(99)), "Code(99)");
  EXPECT_EQ(static_cast<int>(Code::kResourceExhausted), 8);
  EXPECT_EQ(static_cast<int>(Code::kUnavailable), 14);
}

TEST(CodesTest, EveryErrorKindHasItsCode) {
  EXPECT_EQ(CodeForKind(ErrorKind::kInvalidArgument), Code::kInvalidArgument);
  EXPECT_EQ(CodeForKind(ErrorKind::kNotFound), Code::kNotFound);
  EXPECT_EQ(CodeForKind(ErrorKind::kConflict), Code::kFailedPrecondition);
  EXPECT_EQ(CodeForKind(ErrorKind::kUnavailable), Code::kUnavailable);
  EXPECT_EQ(CodeForKind(ErrorKind::kTimeout), Code::kDeadlineExceeded);
  EXPECT_EQ(CodeForKind(ErrorKind::kInternal), Code::kInternal);
}

TEST(CodesTest, KindsRoundTripThroughTheirCodes) {
  for (ErrorKind k : {ErrorKind::kInvalidArgument, ErrorKind::kNotFound, ErrorKind::kConflict,
                      ErrorKind::kUnavailable, ErrorKind::kTimeout, ErrorKind::kInternal}) {
    EXPECT_EQ(KindForCode(CodeForKind(k)), k) << ErrorKindName(k);
  }
  EXPECT_EQ(KindForCode(Code::kAlreadyExists), ErrorKind::kConflict);
  EXPECT_EQ(KindForCode(Code::kUnimplemented), ErrorKind::kUnavailable);
  EXPECT_EQ(KindForCode(Code::kUnknown), ErrorKind::kInternal);
  EXPECT_EQ(KindForCode(CodeFromWire(-7)), ErrorKind::kInternal);
}

TEST(CodesTest, RpcResultFromBangerErrors) {
  RpcResult<std::string> a = Error::NotFound("container x");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.code(), Code::kNotFound);
  EXPECT_EQ(a.status().message, "container x");

  Result<std::string> good = std::string("yes");
  RpcResult<std::string> b = std::move(good);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, "yes");
  EXPECT_EQ(b.code(), Code::kOk);

  RpcResult<int> c = RpcStatus{Code::kAlreadyExists, "task t"};
  EXPECT_EQ(c.code(), Code::kAlreadyExists);
  Result<int> as_result = std::move(c).ToResult();
  ASSERT_FALSE(as_result.ok());
  EXPECT_EQ(as_result.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(as_result.error().message(), "ttrpc: AlreadyExists: task t");
}

TEST(CodesTest, AnErrorIsNeverOk) {
  RpcResult<int> r = RpcStatus{Code::kOk, "confused"};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Code::kUnknown);
}

}  // namespace
}  // namespace banger::ttrpc

namespace banger::ttrpc {
namespace {

TEST(Utf8Test, WellFormedPassesThrough) {
  for (std::string s : {"", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x90\xb3", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_TRUE(IsValidUtf8(s)) << s;
    EXPECT_EQ(ToValidUtf8(s), s);
  }
}

TEST(Utf8Test, IllFormedBytesBecomeQuestionMarks) {
  EXPECT_EQ(ToValidUtf8("a\xbc"
                        "b"),
            "a?b");                                    // a lone continuation byte
  EXPECT_EQ(ToValidUtf8("\xc0\xaf"), "??");            // overlong '/'
  EXPECT_EQ(ToValidUtf8("\xe0\x80\xaf"), "???");       // overlong
  EXPECT_EQ(ToValidUtf8("\xed\xa0\x80"), "???");       // a surrogate
  EXPECT_EQ(ToValidUtf8("\xf4\x90\x80\x80"), "????");  // past U+10FFFF
  EXPECT_EQ(ToValidUtf8("\xe2\x82"), "??");            // truncated
  EXPECT_EQ(ToValidUtf8("n\xbc\xbc"
                        "o\xff"),
            "n??o?");
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_TRUE(IsValidUtf8(ToValidUtf8("\xf0\x9f\x90")));
}

}  // namespace
}  // namespace banger::ttrpc
