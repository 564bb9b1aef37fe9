#include "delivery/http_date.h"

#include <gtest/gtest.h>

namespace learnwire::delivery {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

// 2026-11-22T10:00:00Z, a Sunday.
const sys_seconds kNow{seconds(1'795'341'600)};

int64_t Unix(std::string_view text, sys_seconds now = kNow) {
  std::optional<sys_seconds> t = ParseHttpDate(text, now);
  return t ? t->time_since_epoch().count() : -1;
}

TEST(HttpDateTest, ReadsTheThreeFormsOfRfc9110) {
  // RFC 9110 §5.6.7's example instant in each form.
  EXPECT_EQ(Unix("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(Unix("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(Unix("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_EQ(Unix("Sun, 22 Nov 2026 10:00:00 GMT"), 1'795'341'600);
  EXPECT_EQ(Unix("Sun Nov 22 10:00:00 2026"), 1'795'341'600);
}

TEST(HttpDateTest, MatchesNamesCaseInsensitivelyButNotTheDayAgainstTheDate) {
  EXPECT_EQ(Unix("SUN, 06 NOV 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(Unix("sunday, 06-nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(Unix("Mon, 06 Nov 1994 08:49:37 GMT"), 784111777);
}

TEST(HttpDateTest, ReadsATwoDigitYearAsAtMostFiftyYearsAhead) {
  EXPECT_EQ(Unix("Sunday, 22-Nov-76 10:00:00 GMT"), 3'373'264'800);  // 2076: 50 years ahead
  EXPECT_EQ(Unix("Tuesday, 22-Nov-77 10:00:00 GMT"), 249'040'800);   // 1977, not 2077
  EXPECT_EQ(Unix("Sunday, 22-Nov-26 10:00:00 GMT"), 1'795'341'600);
}

TEST(HttpDateTest, FoldsALeapSecondIntoTheNextMinute) {
  EXPECT_EQ(Unix("Sat, 31 Dec 2016 23:59:60 GMT"), 1'483'228'800);
}

TEST(HttpDateTest, RefusesAnythingElse) {
  for (std::string_view text : {
           "",
           "Sun, 06 Nov 1994 08:49:37",
           "Sun, 06 Nov 1994 08:49:37 UTC",
           "Sun, 06 Nov 1994 08:49:37 gmt",
           "Sun, 6 Nov 1994 08:49:37 GMT",
           "Sun, 06 Nov 94 08:49:37 GMT",
           "Sun,06 Nov 1994 08:49:37 GMT",
           "Sun, 06 Nov 1994 08:49:37 GMT ",
           " Sun, 06 Nov 1994 08:49:37 GMT",
           "Sun, 06 Nov 1994 8:49:37 GMT",
           "Sun, 06 November 1994 08:49:37 GMT",
           "Sun, 06 Nox 1994 08:49:37 GMT",
           "Sunday, 06 Nov 1994 08:49:37 GMT",
           "Sun, 06-Nov-94 08:49:37 GMT",
           "Sunday, 06-Nov-1994 08:49:37 GMT",
           "Sunday Nov  6 08:49:37 1994",
           "Sun Nov 6 08:49:37 1994",
           "Sun Nov  6 08:49:37 94",
           "Xyz, 06 Nov 1994 08:49:37 GMT",
           "Sun, 31 Nov 1994 08:49:37 GMT",
           "Sun, 29 Feb 2026 08:49:37 GMT",
           "Sun, 00 Nov 1994 08:49:37 GMT",
           "Sun, 06 Nov 1994 24:00:00 GMT",
           "Sun, 06 Nov 1994 08:60:00 GMT",
           "Sun, 06 Nov 1994 08:49:61 GMT",
           "1994-11-06T08:49:37Z",
           "120",
       }) {
    EXPECT_EQ(ParseHttpDate(text, kNow), std::nullopt) << text;
  }
  EXPECT_EQ(Unix("Thu, 29 Feb 2024 00:00:00 GMT"), 1'709'164'800);
}

}  // namespace
}  // namespace learnwire::delivery
