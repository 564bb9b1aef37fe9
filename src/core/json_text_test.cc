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

TEST(JsonTextTest, WritesAnObjectWithNullsTimesAndRawValues) {
  std::string out;
  JsonObjectWriter(out)
      .String("id", "lrn_1")
      .OptString("username", std::nullopt)
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
