#include "http/message.h"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace learnwire::http {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

const std::string& Request::Header(const std::string& lower_name) const {
  static const std::string kEmpty;
  auto it = headers.find(lower_name);
  return it == headers.end() ? kEmpty : it->second;
}

void Response::SetHeader(std::string name, std::string value) {
  auto same = [&name](const std::pair<std::string, std::string>& h) {
    return EqualsIgnoreCase(h.first, name);
  };
  auto it = std::find_if(headers.begin(), headers.end(), same);
  if (it == headers.end()) {
    headers.emplace_back(std::move(name), std::move(value));
    return;
  }
  it->second = std::move(value);
  // A header set twice under different spellings keeps only the replaced entry.
  headers.erase(std::remove_if(std::next(it), headers.end(), same), headers.end());
}

const std::string* Response::FindHeader(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (EqualsIgnoreCase(name, lower_name)) {
      return &value;
    }
  }
  return nullptr;
}

Response JsonResponse(int status, std::string body) {
  Response response;
  response.status = status;
  response.SetHeader("content-type", "application/json");
  response.body = std::move(body);
  return response;
}

}  // namespace learnwire::http
