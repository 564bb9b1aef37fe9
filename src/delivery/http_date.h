// HTTP-date (RFC 9110 §5.6.7), as a receiver's Retry-After header may carry it: IMF-fixdate
// ("Sun, 06 Nov 1994 08:49:37 GMT") and the obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT")
// and asctime ("Sun Nov  6 08:49:37 1994") forms. Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace learnwire::delivery {

// The instant `text` names, or nullopt unless it is exactly one of the three forms (no surrounding
// space) with a real date and a time of 00:00:00-23:59:60 (a leap second is the next minute's
// start). Day and month names are matched case-insensitively; the day name must be a day name of
// the right length for the form but is not checked against the date. An RFC 850 two-digit year is
// read as the year with those last two digits that is at most 50 years after `now`.
std::optional<std::chrono::sys_seconds> ParseHttpDate(std::string_view text,
                                                      std::chrono::sys_seconds now);

}  // namespace learnwire::delivery
