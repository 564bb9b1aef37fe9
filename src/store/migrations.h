// The numbered schema migrations, one list per dialect. Version N is applied after N-1 and never
// edited once released; a change is a new number.
#pragma once

#include <string_view>
#include <vector>

namespace learnwire::store {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;  // may hold several statements
};

const std::vector<Migration>& SqliteMigrations();

}  // namespace learnwire::store
