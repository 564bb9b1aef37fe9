#include "delivery/http_date.h"

#include <array>

namespace learnwire::delivery {
namespace {

constexpr std::array<std::string_view, 7> kShortDays = {"mon", "tue", "wed", "thu",
                                                        "fri", "sat", "sun"};
constexpr std::array<std::string_view, 7> kLongDays = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
constexpr std::array<std::string_view, 12> kMonths = {"jan", "feb", "mar", "apr", "may", "jun",
                                                      "jul", "aug", "sep", "oct", "nov", "dec"};

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// A left-to-right reader over the text; every method consumes only on success.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}

  bool Lit(std::string_view lit) {
    if (s_.substr(i_, lit.size()) != lit) {
      return false;
    }
    i_ += lit.size();
    return true;
  }
  bool Digits(std::size_t n, int& out) {
    if (i_ + n > s_.size()) {
      return false;
    }
    int v = 0;
    for (std::size_t k = i_; k < i_ + n; ++k) {
      if (s_[k] < '0' || s_[k] > '9') {
        return false;
      }
      v = v * 10 + (s_[k] - '0');
    }
    out = v;
    i_ += n;
    return true;
  }
  // A run of ASCII letters, lower-cased.
  std::string Word() {
    std::string w;
    while (i_ < s_.size() &&
           ((s_[i_] >= 'a' && s_[i_] <= 'z') || (s_[i_] >= 'A' && s_[i_] <= 'Z'))) {
      w.push_back(Lower(s_[i_++]));
    }
    return w;
  }
  bool Month(int& out) {
    std::size_t start = i_;
    std::string w = Word();
    for (std::size_t m = 0; m < kMonths.size(); ++m) {
      if (w == kMonths[m]) {
        out = static_cast<int>(m) + 1;
        return true;
      }
    }
    i_ = start;
    return false;
  }
  // HH:MM:SS
  bool Time(int& h, int& m, int& s) {
    std::size_t start = i_;
    if (Digits(2, h) && Lit(":") && Digits(2, m) && Lit(":") && Digits(2, s)) {
      return true;
    }
    i_ = start;
    return false;
  }
  bool AtEnd() const { return i_ == s_.size(); }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

template <std::size_t N>
bool OneOf(const std::string& word, const std::array<std::string_view, N>& names) {
  for (std::string_view n : names) {
    if (word == n) {
      return true;
    }
  }
  return false;
}

std::optional<std::chrono::sys_seconds> Make(int y, int mo, int d, int h, int mi, int s) {
  using namespace std::chrono;
  year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) {
    return std::nullopt;
  }
  return sys_days(ymd) + hours(h) + minutes(mi) + seconds(s);
}

}  // namespace

std::optional<std::chrono::sys_seconds> ParseHttpDate(std::string_view text,
                                                      std::chrono::sys_seconds now) {
  using namespace std::chrono;
  Cursor c(text);
  std::string day_name = c.Word();
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (c.Lit(",")) {
    if (OneOf(day_name, kShortDays)) {
      // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
      if (c.Lit(" ") && c.Digits(2, d) && c.Lit(" ") && c.Month(mo) && c.Lit(" ") &&
          c.Digits(4, y) && c.Lit(" ") && c.Time(h, mi, s) && c.Lit(" GMT") && c.AtEnd()) {
        return Make(y, mo, d, h, mi, s);
      }
      return std::nullopt;
    }
    if (OneOf(day_name, kLongDays)) {
      // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
      int yy = 0;
      if (c.Lit(" ") && c.Digits(2, d) && c.Lit("-") && c.Month(mo) && c.Lit("-") &&
          c.Digits(2, yy) && c.Lit(" ") && c.Time(h, mi, s) && c.Lit(" GMT") && c.AtEnd()) {
        int now_year = static_cast<int>(year_month_day(floor<days>(now)).year());
        y = now_year / 100 * 100 + yy;
        if (y > now_year + 50) {
          y -= 100;
        }
        return Make(y, mo, d, h, mi, s);
      }
    }
    return std::nullopt;
  }
  // asctime: Sun Nov  6 08:49:37 1994 (a one-digit day is preceded by a space)
  if (OneOf(day_name, kShortDays) && c.Lit(" ") && c.Month(mo) && c.Lit(" ") &&
      (c.Digits(2, d) || (c.Lit(" ") && c.Digits(1, d))) && c.Lit(" ") && c.Time(h, mi, s) &&
      c.Lit(" ") && c.Digits(4, y) && c.AtEnd()) {
    return Make(y, mo, d, h, mi, s);
  }
  return std::nullopt;
}

}  // namespace learnwire::delivery
