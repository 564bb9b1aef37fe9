#include "core/ids.h"

#include <gtest/gtest.h>

namespace learnwire::core {
namespace {

TEST(IdGeneratorTest, HasPrefixAndTwentySixCrockfordCharacters) {
  ManualClock clock;
  IdGenerator ids(clock);
  std::string id = ids.New("lrn");
  EXPECT_EQ(id.size(), 4 + kIdBodyLength);
  EXPECT_TRUE(IsValidId(id, "lrn")) << id;
  EXPECT_FALSE(IsValidId(id, "grp"));
}

TEST(IdGeneratorTest, StrictlyIncreasingWithinOneMillisecond) {
  ManualClock clock;
  IdGenerator ids(clock);
  std::string prev = ids.NewBody();
  for (int i = 0; i < 10000; ++i) {
    std::string next = ids.NewBody();
    ASSERT_LT(prev, next);
    prev = next;
  }
}

TEST(IdGeneratorTest, IncreasesEvenWhenTheClockGoesBack) {
  ManualClock clock(2'000'000'000'000);
  IdGenerator ids(clock);
  std::string a = ids.NewBody();
  clock.Set(1'000'000'000'000);
  EXPECT_LT(a, ids.NewBody());
}

TEST(IdGeneratorTest, LaterMillisecondSortsLater) {
  ManualClock clock;
  IdGenerator ids(clock);
  std::string a = ids.NewBody();
  clock.Advance(std::chrono::milliseconds(1));
  EXPECT_LT(a, ids.NewBody());
}

TEST(IdGeneratorTest, TheIdCarriesItsMillisecond) {
  // Later than any time the other tests use: ids are monotonic across the whole process.
  ManualClock clock(3'000'000'000'123);
  IdGenerator ids(clock);
  EXPECT_EQ(IdTimeMs(ids.New("evt")), 3'000'000'000'123);
}

TEST(IdsTest, RejectsLowerCaseAndAmbiguousLetters) {
  EXPECT_FALSE(IsValidId("lrn_01jd0000000000000000000000", "lrn"));
  EXPECT_FALSE(IsValidId("lrn_01JD00000000000000000000IL", "lrn"));
  EXPECT_FALSE(IsValidId("lrn_01JD", "lrn"));
  EXPECT_TRUE(IsValidId("lrn_01JD0000000000000000000000", "lrn"));
}

TEST(IdsTest, Base32CrockfordEncodesFiveBitGroups) {
  const unsigned char bytes[] = {0xff, 0x00};
  EXPECT_EQ(Base32Crockford(bytes, 2), "ZW00");
}

}  // namespace
}  // namespace learnwire::core
