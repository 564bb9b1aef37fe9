#include "core/time_format.h"

#include <gtest/gtest.h>

namespace learnwire::core {
namespace {

TEST(TimeFormatTest, FormatsUtcWithThreeFractionalDigits) {
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTime(1795341600123), "2026-11-22T10:00:00.123Z");
}

TEST(TimeFormatTest, ParsesOffsetsAndFractions) {
  struct Case {
    const char* text;
    std::optional<int64_t> ms;
  } cases[] = {
      {"2026-11-22T10:00:00Z", 1795341600000},
      {"2026-11-22T10:00:00.123Z", 1795341600123},
      {"2026-11-22T10:00:00.1Z", 1795341600100},
      {"2026-11-22T10:00:00.123456789Z", 1795341600123},
      {"2026-11-22T11:30:00+01:30", 1795341600000},
      {"2026-11-22T08:00:00-02:00", 1795341600000},
      {"2026-11-22t10:00:00z", 1795341600000},
      {"2026-11-22T10:00:00.1234567890Z", std::nullopt},
      {"2026-11-22T10:00:00", std::nullopt},
      {"2026-02-30T10:00:00Z", std::nullopt},
      {"2026-11-22T24:00:00Z", std::nullopt},
      {"2026-11-22T10:00:00.Z", std::nullopt},
      {"2026-11-22T10:00:00+0100", std::nullopt},
      {"not a time", std::nullopt},
      {"9999-12-31T23:59:59.999Z", 253402300799999LL},
      {"9999-12-31T23:59:59-01:00", std::nullopt},  // year 10000 in UTC
      {"0000-01-01T00:30:00+01:00", std::nullopt},  // before year 0 in UTC
      {"", std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParseTime(c.text), c.ms) << c.text;
  }
}

TEST(TimeFormatTest, RoundTrips) {
  int64_t ms = 1795341600123;
  EXPECT_EQ(ParseTime(FormatTime(ms)), ms);
}

}  // namespace
}  // namespace learnwire::core
