#include "http/request_target.h"

#include <gtest/gtest.h>

#include "core/ids.h"

namespace learnwire::http {
namespace {

TEST(DecodeTargetTest, DecodesPathAndQuery) {
  auto t = DecodeTarget("/a%20b/c?x=1&name=jane+doe&e=%26&flag");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->path, "/a b/c");
  using Q = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(t->query, (Q{{"x", "1"}, {"name", "jane doe"}, {"e", "&"}, {"flag", ""}}));
}

TEST(DecodeTargetTest, KeepsPlusInPath) {
  auto t = DecodeTarget("/a+b");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->path, "/a+b");
}

TEST(DecodeTargetTest, RejectsInvalidTargets) {
  for (const char* bad :
       {"/a%zz", "/a%2", "http://x/y", "*", "a/b", "/a%00b", "/a?x=%00", "/a b"}) {
    EXPECT_FALSE(DecodeTarget(bad).has_value()) << bad;
  }
}

TEST(RequestIdTest, AcceptsOnlyTheDocumentedAlphabet) {
  EXPECT_TRUE(IsValidRequestId("abc-DEF_123.x"));
  EXPECT_TRUE(IsValidRequestId(std::string(64, 'a')));
  EXPECT_FALSE(IsValidRequestId(""));
  EXPECT_FALSE(IsValidRequestId(std::string(65, 'a')));
  for (const char* bad : {"a b", "a/b", "a\"b", "é", "a\tb", "a:b"}) {
    EXPECT_FALSE(IsValidRequestId(bad)) << bad;
  }
}

TEST(RequestIdTest, GeneratesTwentySixCrockfordCharacters) {
  std::string id = NewRequestId();
  EXPECT_EQ(id.size(), 26u);
  EXPECT_TRUE(core::IsCrockford(id)) << id;
  EXPECT_TRUE(IsValidRequestId(id));
  EXPECT_NE(id, NewRequestId());
}

}  // namespace
}  // namespace learnwire::http
