// A fresh, empty database for one test, on either backend: a temporary SQLite file, or a new
// database in the PostgreSQL cluster named by LEARNWIRE_TEST_PG_URL (scripts/test starts one).
// Deleted (or dropped) when destroyed. For tests only.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/store.h"

namespace learnwire::store {

// LEARNWIRE_TEST_PG_URL, or "" when unset.
std::string TestPostgresUrl();

class TestDatabase {
 public:
  // `backend` is "sqlite" or "postgres". Unavailable for "postgres" when no cluster is named:
  // the caller skips, saying so.
  static core::Result<std::unique_ptr<TestDatabase>> Create(std::string_view backend);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // A new store over this database (several may be open at once), migrated or bare.
  core::Result<std::unique_ptr<Store>> Open(bool migrated = true, int pool_size = 8) const;
  // The --db URL of this database ("sqlite:PATH" or "postgres://…").
  const std::string& url() const { return url_; }

 private:
  TestDatabase() = default;
  bool postgres_ = false;
  std::string name_;
  std::filesystem::path dir_;
  std::string url_;
};

}  // namespace learnwire::store
