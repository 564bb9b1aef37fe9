#include "store/test_database.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "store/postgres/connection.h"

namespace learnwire::store {
namespace {

// The cluster's URL with another database name.
std::string WithDatabase(const std::string& url, const std::string& db) {
  const std::size_t slash = url.rfind('/');
  const std::size_t query = url.find('?', slash);
  return url.substr(0, slash + 1) + db + (query == std::string::npos ? "" : url.substr(query));
}

}  // namespace

std::string TestPostgresUrl() {
  const char* url = std::getenv("LEARNWIRE_TEST_PG_URL");
  return url ? url : "";
}

core::Result<std::unique_ptr<TestDatabase>> TestDatabase::Create(std::string_view backend) {
  static std::atomic<int> counter{0};
  std::unique_ptr<TestDatabase> db(new TestDatabase());
  db->name_ = "lw_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  if (backend == "sqlite") {
    db->dir_ = std::filesystem::temp_directory_path() / db->name_;
    std::filesystem::create_directories(db->dir_);
    db->url_ = "sqlite:" + (db->dir_ / "learnwire.db").string();
    return db;
  }
  if (TestPostgresUrl().empty()) {
    return core::Unavailable(
        "LEARNWIRE_TEST_PG_URL is not set (scripts/test starts a cluster and sets it)");
  }
  LW_ASSIGN_OR_RETURN(auto admin, postgres::Connection::Open(TestPostgresUrl()));
  LW_RETURN_IF_ERROR(admin->Simple("CREATE DATABASE " + db->name_));
  db->postgres_ = true;
  db->url_ = WithDatabase(TestPostgresUrl(), db->name_);
  return db;
}

TestDatabase::~TestDatabase() {
  if (!postgres_) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    return;
  }
  auto admin = postgres::Connection::Open(TestPostgresUrl());
  if (admin.ok()) {
    (void)(*admin)->Simple("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }
}

core::Result<std::unique_ptr<Store>> TestDatabase::Open(bool migrated, int pool_size) const {
  if (postgres_) {
    PostgresOptions o{url_, pool_size};
    return migrated ? OpenMigratedPostgres(o) : OpenPostgres(o);
  }
  SqliteOptions o;
  o.path = (dir_ / "learnwire.db").string();
  return migrated ? OpenMigratedSqlite(o) : OpenSqlite(o);
}

}  // namespace learnwire::store
