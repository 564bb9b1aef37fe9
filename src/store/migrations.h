// The numbered schema migrations, one list per dialect. Version N is applied after N-1 and never
// edited once released; a change is a new number.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace learnwire::store {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;  // may hold several statements
};

const std::vector<Migration>& SqliteMigrations();
// The same schema for PostgreSQL, numbered alike: derived from the SQLite text (every INTEGER
// becomes BIGINT, AUTOINCREMENT keys become identity columns), so it is written once.
const std::vector<Migration>& PostgresMigrations();

}  // namespace learnwire::store
