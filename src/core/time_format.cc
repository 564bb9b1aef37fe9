#include "core/time_format.h"

#include <chrono>
#include <cstdio>

namespace learnwire::core {
namespace {

bool Digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) {
    return false;
  }
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::string FormatTime(int64_t unix_ms) {
  std::string out;
  AppendTime(out, unix_ms);
  return out;
}

void AppendTime(std::string& out, int64_t unix_ms) {
  using namespace std::chrono;
  sys_time<milliseconds> tp{milliseconds(unix_ms)};
  auto day = floor<days>(tp);
  year_month_day ymd{day};
  int64_t ms_of_day = (tp - day).count();
  // Digits written by hand: this runs three times per rendered resource.
  char buf[25] = "0000-00-00T00:00:00.000Z";
  auto put = [&buf](int pos, int width, int64_t v) {
    for (int i = pos + width - 1; i >= pos; --i) {
      buf[i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
  };
  put(0, 4, static_cast<int>(ymd.year()));
  put(5, 2, static_cast<unsigned>(ymd.month()));
  put(8, 2, static_cast<unsigned>(ymd.day()));
  put(11, 2, ms_of_day / 3'600'000);
  put(14, 2, ms_of_day / 60'000 % 60);
  put(17, 2, ms_of_day / 1000 % 60);
  put(20, 3, ms_of_day % 1000);
  out.append(buf, 24);
}

std::optional<int64_t> ParseTime(std::string_view s) {
  using namespace std::chrono;
  int y, mo, d, h, mi, sec;
  if (s.size() < 20 || !Digits(s, 0, 4, y) || s[4] != '-' || !Digits(s, 5, 2, mo) || s[7] != '-' ||
      !Digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !Digits(s, 11, 2, h) || s[13] != ':' || !Digits(s, 14, 2, mi) || s[16] != ':' ||
      !Digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  // RFC 3339 allows a leap second (60); it is folded into the next second's start.
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  int64_t millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 3) {
        millis = millis * 10 + (s[pos] - '0');
      }
      ++pos;
    }
    std::size_t n = pos - start;
    if (n == 0 || n > 9) {
      return std::nullopt;
    }
    for (std::size_t i = n; i < 3; ++i) {
      millis *= 10;
    }
  }
  if (pos >= s.size()) {
    return std::nullopt;
  }
  int64_t offset_min = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) {
    return std::nullopt;
  }
  int64_t days_since = sys_days(ymd).time_since_epoch().count();
  int64_t secs = days_since * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  int64_t ms = secs * 1000 + millis;
  // Outputs have four-digit UTC years: an offset that carries the instant past 9999-12-31 or
  // before 0000-01-01 (UTC) is refused rather than printed wrong.
  constexpr int64_t kFirst = -62167219200000LL;  // 0000-01-01T00:00:00.000Z
  constexpr int64_t kLast = 253402300799999LL;   // 9999-12-31T23:59:59.999Z
  if (ms < kFirst || ms > kLast) {
    return std::nullopt;
  }
  return ms;
}

}  // namespace learnwire::core
