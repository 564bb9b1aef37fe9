#include "api/list.h"

#include <gtest/gtest.h>

namespace learnwire::api {
namespace {

TEST(CursorTest, RoundTripsItsOwnCursor) {
  domain::ListCursor c{false, 1234, "lrn_01JD0000000000000000000000"};
  std::string text = EncodeCursor("key", c, true);
  auto back = DecodeCursor("key", text, true);
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->forward);
  EXPECT_EQ(back->updated_at, 1234);
  EXPECT_EQ(back->id, c.id);
}

TEST(CursorTest, RefusesAnotherKeysCursor) {
  domain::ListCursor c{true, 0, "lrn_01JD0000000000000000000000"};
  EXPECT_FALSE(DecodeCursor("other", EncodeCursor("key", c, false), false).has_value());
}

TEST(CursorTest, RefusesACursorOfAnotherOrdering) {
  domain::ListCursor c{true, 0, "lrn_01JD0000000000000000000000"};
  EXPECT_FALSE(DecodeCursor("key", EncodeCursor("key", c, false), true).has_value());
}

TEST(CursorTest, RefusesGarbage) {
  for (const char* text : {"", "abc", "!!!!", "bnx8MTIzNHxscm5f", "====",
                           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    EXPECT_FALSE(DecodeCursor("key", text, false).has_value()) << text;
  }
}

TEST(CursorTest, RefusesATamperedCursor) {
  domain::ListCursor c{true, 0, "lrn_01JD0000000000000000000000"};
  std::string text = EncodeCursor("key", c, false);
  text[3] = text[3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(DecodeCursor("key", text, false).has_value());
}

}  // namespace
}  // namespace learnwire::api
