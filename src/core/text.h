// Text rules shared by every resource: Unicode case folding for search, code-point counts and
// the free-text check (length in code points, no control characters). Pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace learnwire::core {

// Unicode simple case folding to lower case (C.UTF-8 tables), for case-insensitive search.
std::string FoldCase(const std::string& s);
// ASCII letters to lower case; other bytes unchanged (header names, media types, emails).
std::string LowerAscii(std::string s);
// Number of Unicode code points in valid UTF-8.
std::size_t CodePoints(const std::string& s);
// True when the text holds a control character (C0, DEL or C1).
bool HasControl(const std::string& s);
// A free-text check: 1..max code points (min 0 when allow_empty), no control characters.
// Returns the message for a bad one.
std::optional<std::string> CheckText(const std::string& s, std::size_t max, bool allow_empty);

}  // namespace learnwire::core
