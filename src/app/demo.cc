#include "app/demo.h"

#include <boost/json.hpp>
#include <cstdio>

#include "domain/learners.h"

namespace learnwire::app {
namespace json = boost::json;

core::Status SeedDemo(store::Store& store, const domain::Deps& deps, const Config& config) {
  std::optional<domain::CreatedOrganization> created;
  bool empty = false;
  LW_RETURN_IF_ERROR(store.Read([&](store::Tx& tx) -> core::Status {
    LW_ASSIGN_OR_RETURN(store::Rows rows, tx.Query("SELECT COUNT(*) AS n FROM organizations"));
    empty = rows[0].Int("n") == 0;
    return core::Status::Ok();
  }));
  if (!empty) {
    return core::Status::Ok();
  }
  // Hashed before the transaction: argon2 must not hold the write lock.
  LW_ASSIGN_OR_RETURN(domain::AdminSecret secret, domain::NewAdminSecret());
  core::Status st = store.Write([&](store::Tx& tx) -> core::Status {
    LW_ASSIGN_OR_RETURN(store::Rows rows, tx.Query("SELECT COUNT(*) AS n FROM organizations"));
    if (rows[0].Int("n") > 0) {
      return core::Status::Ok();
    }
    LW_ASSIGN_OR_RETURN(created, domain::CreateOrganization(tx, deps, "Demo organization",
                                                            "admin@demo.learnwire.dev", secret));
    domain::WriteContext w{deps, created->organization.id, {"system", std::nullopt}, std::nullopt};
    struct Sample {
      const char* first;
      const char* last;
      const char* email;
      const char* ext;
      const char* lang;
    } samples[] = {
        {"Ada", "Lovelace", "ada@example.com", "HR-1001", "en"},
        {"Grace", "Hopper", "grace@example.com", "HR-1002", "en"},
        {"Léa", "Moreau", "lea@example.com", "HR-1003", "fr"},
        {"Kenji", "Sato", "kenji@example.com", "HR-1004", "ja"},
        {"Amara", "Okafor", "amara@example.com", "HR-1005", "en-GB"},
    };
    for (const Sample& s : samples) {
      json::object body{{"firstname", s.first}, {"lastname", s.last},
                        {"email", s.email},     {"external_id", s.ext},
                        {"language", s.lang},   {"custom_fields", json::object{{"team", "demo"}}}};
      LW_RETURN_IF_ERROR(domain::CreateLearner(tx, w, body).status());
    }
    return core::Status::Ok();
  });
  if (!st.ok() || !created) {
    return st;
  }
  std::fprintf(stderr,
               "\nLearnwire demo organization created (shown once):\n"
               "  console:  http://%s/\n"
               "  API docs: http://%s/docs\n"
               "  login:    %s\n"
               "  password: %s\n"
               "  API key:  %s\n\n",
               config.listen.c_str(), config.listen.c_str(), created->admin_email.c_str(),
               secret.password.c_str(), created->first_key.secret_key.c_str());
  return core::Status::Ok();
}

}  // namespace learnwire::app
