#include "api/list.h"

#include <gtest/gtest.h>

namespace learnwire::api {
namespace {

using domain::ListCursor;
using domain::ListOrder;

const std::string kScope = "/api/v1/learners|org_1";

TEST(CursorTest, RoundTripsItsOwnCursor) {
  ListCursor c{false, 1234, "lrn_01JD0000000000000000000000"};
  std::string text = EncodeCursor("key", kScope, c, ListOrder::kByUpdated);
  auto back = DecodeCursor("key", kScope, text, ListOrder::kByUpdated);
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->forward);
  EXPECT_EQ(back->number, 1234);
  EXPECT_EQ(back->id, c.id);
}

TEST(CursorTest, RefusesAnotherKeysCursor) {
  ListCursor c{true, 0, "lrn_01JD0000000000000000000000"};
  EXPECT_FALSE(DecodeCursor("other", kScope, EncodeCursor("key", kScope, c, ListOrder::kById),
                            ListOrder::kById)
                   .has_value());
}

TEST(CursorTest, RefusesACursorOfAnotherOrdering) {
  ListCursor c{true, 0, "lrn_01JD0000000000000000000000"};
  EXPECT_FALSE(DecodeCursor("key", kScope, EncodeCursor("key", kScope, c, ListOrder::kById),
                            ListOrder::kByUpdated)
                   .has_value());
}

TEST(CursorTest, RefusesACursorOfAnotherListOrOrganization) {
  ListCursor c{true, 7, ""};
  std::string text = EncodeCursor("key", "/api/v1/events|org_1", c, ListOrder::kBySeq);
  EXPECT_TRUE(DecodeCursor("key", "/api/v1/events|org_1", text, ListOrder::kBySeq).has_value());
  EXPECT_FALSE(DecodeCursor("key", "/api/v1/events|org_2", text, ListOrder::kBySeq).has_value());
  EXPECT_FALSE(DecodeCursor("key", "/api/v1/learners|org_1", text, ListOrder::kBySeq).has_value());
}

TEST(CursorTest, RefusesGarbage) {
  for (const char* text : {"", "abc", "!!!!", "bnx8MTIzNHxscm5f",
                           "====", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    EXPECT_FALSE(DecodeCursor("key", kScope, text, ListOrder::kById).has_value()) << text;
  }
}

TEST(CursorTest, RefusesATamperedCursor) {
  ListCursor c{true, 0, "lrn_01JD0000000000000000000000"};
  std::string text = EncodeCursor("key", kScope, c, ListOrder::kById);
  text[3] = text[3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(DecodeCursor("key", kScope, text, ListOrder::kById).has_value());
}

}  // namespace
}  // namespace learnwire::api
