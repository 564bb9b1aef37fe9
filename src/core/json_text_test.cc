#include "core/json_text.h"

#include <gtest/gtest.h>

namespace learnwire::core {
namespace {

TEST(JsonTextTest, EscapesQuotesBackslashesAndControlCharacters) {
  std::string out;
  AppendJsonString(out, std::string("a\"b\\c\nd\te\x01"
                                    "f\x7f",
                                    12));
  EXPECT_EQ(out, R"("a\"b\\c\nd\te\u0001f\u007f")");
}

TEST(JsonTextTest, PassesUtf8Through) {
  std::string out;
  AppendJsonString(out, "Zoë 李 🚀");
  EXPECT_EQ(out, "\"Zoë 李 🚀\"");
}

TEST(JsonTextTest, ValidUtf8ReplacesEveryBadSequence) {
  struct Case {
    std::string in, out;
  } cases[] = {
      {"plain", "plain"},
      {"Zoë 李 🚀", "Zoë 李 🚀"},
      {"a\xCE"
       "e",
       "a\xEF\xBF\xBD"
       "e"},                                                     // truncated sequence
      {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                  // overlong
      {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // surrogate
      {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // > U+10FFFF
      {"\xFF", "\xEF\xBF\xBD"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ValidUtf8(c.in), c.out) << c.in;
  }
}

TEST(JsonTextTest, WritesAnObjectWithNullsTimesAndRawValues) {
  std::string out;
  JsonObjectWriter(out)
      .String("id", "lrn_1")
      .OptString("username", std::optional<std::string>())
      .Time("created_at", 0)
      .OptTime("deleted_at", std::nullopt)
      .Int("n", -3)
      .Raw("custom_fields", R"({"a":1})")
      .Close();
  EXPECT_EQ(out, R"({"id":"lrn_1","username":null,"created_at":"1970-01-01T00:00:00.000Z",)"
                 R"("deleted_at":null,"n":-3,"custom_fields":{"a":1}})");
}

}  // namespace
}  // namespace learnwire::core
