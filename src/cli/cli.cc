// The learnwire command line (PRODUCT.md "The CLI"). Exit codes: 0 success, 1 failure, 2 bad
// usage or configuration.
#include "cli/cli.h"

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>

#include "app/app.h"
#include "app/config.h"
#include "cli/listen.h"
#include "cli/verify.h"
#include "core/log.h"
#include "core/time_format.h"
#include "domain/identity.h"

namespace {

using learnwire::app::Config;
namespace json = boost::json;
namespace domain = learnwire::domain;
namespace core = learnwire::core;

constexpr int kFailure = 1;
constexpr int kUsage = 2;

// Config flags given on the command line, by key name.
struct ConfigFlags {
  std::string config_file;
  std::map<std::string, std::string> values;
};

std::string Dashed(std::string key) {
  for (char& c : key) {
    c = c == '_' ? '-' : c;
  }
  return key;
}

// Adds --<key> for every config key (or only `only`) to a subcommand.
void AddConfigOptions(CLI::App* cmd, ConfigFlags& flags, std::vector<std::string> only = {}) {
  cmd->add_option("--config", flags.config_file, "TOML config file");
  for (const auto& key : learnwire::app::ConfigKeys()) {
    if (!only.empty() && std::find(only.begin(), only.end(), key) == only.end()) {
      continue;
    }
    cmd->add_option_function<std::string>(
        "--" + Dashed(key), [&flags, key](const std::string& v) { flags.values[key] = v; },
        "config key " + key);
  }
}

std::optional<Config> Load(const ConfigFlags& flags) {
  auto env = learnwire::app::ConfigEnvironment();
  std::string file = flags.config_file;
  if (file.empty() && env.count("config")) {
    file = env["config"];
  }
  auto config = learnwire::app::LoadConfig(file, flags.values, env);
  if (!config.ok()) {
    std::fprintf(stderr, "learnwire: %s\n", config.status().message().c_str());
    return std::nullopt;
  }
  learnwire::core::ConfigureLogging(config->log_level == "debug"   ? core::LogLevel::kDebug
                                    : config->log_level == "warn"  ? core::LogLevel::kWarn
                                    : config->log_level == "error" ? core::LogLevel::kError
                                                                   : core::LogLevel::kInfo,
                                    config->log_format == "json");
  return std::move(config).value();
}

// Opens the store, runs `fn` in one write transaction; prints errors; returns an exit code.
int WithStore(const Config& config, core::Clock& clock,
              const std::function<core::Status(learnwire::store::Tx&, const domain::Deps&)>& fn) {
  auto db = learnwire::app::OpenStore(config);
  if (!db.ok()) {
    std::fprintf(stderr, "learnwire: %s\n", db.status().message().c_str());
    return kFailure;
  }
  core::IdGenerator ids(clock);
  domain::Deps deps{&ids, &clock};
  core::Status st = (*db)->Write([&](learnwire::store::Tx& tx) { return fn(tx, deps); });
  if (!st.ok()) {
    std::string msg = st.message();
    for (const auto& f : st.fields()) {
      msg += "; " + f.field + ": " + f.message;
    }
    std::fprintf(stderr, "learnwire: %s\n", msg.c_str());
    return st.code() == core::Code::kInvalidArgument ? kUsage : kFailure;
  }
  return 0;
}

void PrintJsonLine(const json::object& o) { std::cout << json::serialize(o) << std::endl; }

}  // namespace

int learnwire::cli::Run(int argc, char** argv, const learnwire::app::Hooks& hooks) {
  learnwire::app::BlockStopSignals();
  learnwire::core::ConfigureLogging(core::LogLevel::kInfo, true);
  CLI::App app{"Learnwire: a learning-platform backend with a REST API and signed webhooks",
               "learnwire"};
  app.set_version_flag("--version", std::string("learnwire ") + LEARNWIRE_VERSION);
  app.require_subcommand(1);

  ConfigFlags serve_flags, migrate_flags, org_flags, user_flags, key_flags;
  bool demo = false;
  auto* serve = app.add_subcommand("serve", "run the API (and, later, the delivery workers)");
  AddConfigOptions(serve, serve_flags);
  serve->add_flag("--demo", demo, "create a demo organization when none exists");

  auto* migrate = app.add_subcommand("migrate", "create the store and apply pending migrations");
  AddConfigOptions(migrate, migrate_flags, {"db", "sqlite_synchronous"});

  auto* org = app.add_subcommand("org", "organizations");
  org->require_subcommand(1);
  std::string org_name, admin_email, org_id;
  bool as_json = false;
  auto* org_create = org->add_subcommand("create", "create an organization, its admin and key");
  org_create->add_option("--name", org_name)->required();
  org_create->add_option("--admin-email", admin_email)->required();
  org_create->add_flag("--json", as_json);
  auto* org_list = org->add_subcommand("list", "list organizations");
  org_list->add_flag("--json", as_json);
  auto* org_disable = org->add_subcommand("disable", "disable an organization (its keys stop)");
  org_disable->add_option("id", org_id)->required();
  auto* org_enable = org->add_subcommand("enable", "enable an organization");
  org_enable->add_option("id", org_id)->required();
  for (auto* c : {org_create, org_list, org_disable, org_enable}) {
    AddConfigOptions(c, org_flags, {"db", "sqlite_synchronous"});
  }

  auto* user = app.add_subcommand("user", "administrators");
  user->require_subcommand(1);
  std::string user_email;
  auto* reset = user->add_subcommand("reset-password", "set a new generated password");
  reset->add_option("--email", user_email)->required();
  reset->add_flag("--json", as_json);
  AddConfigOptions(reset, user_flags, {"db", "sqlite_synchronous"});

  auto* key = app.add_subcommand("key", "API keys");
  key->require_subcommand(1);
  std::string key_org, key_scopes = "read,write,webhooks";
  auto* key_create = key->add_subcommand("create", "create an API key (shown once)");
  key_create->add_option("--org", key_org)->required();
  key_create->add_option("--scopes", key_scopes, "comma-separated: read,write,webhooks,admin");
  key_create->add_flag("--json", as_json);
  AddConfigOptions(key_create, key_flags, {"db", "sqlite_synchronous"});

  // listen/verify: an integrator's tools, with no store and no config (nothing to load).
  std::optional<std::string> listen_secret, listen_public_key, verify_secret, verify_public_key;
  int listen_port = 9000;
  bool listen_json = false;
  std::string headers_file, body_file;
  auto* listen = app.add_subcommand(
      "listen", "receive webhooks on 127.0.0.1, verify them, print one line per request");
  listen->add_option("--port", listen_port, "port (0 = any free one)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  listen->add_option("--secret", listen_secret, "the subscription's whsec_… secret");
  listen->add_option("--public-key", listen_public_key, "the subscription's whpk_… public key");
  listen->add_flag("--json", listen_json, "one JSON object per line");
  auto* verify = app.add_subcommand("verify", "check a saved webhook request's signature");
  verify->footer(
      "Checks the signature only, not the timestamp's age: a saved request is usually old.\n"
      "Exit 0 valid, 1 invalid (one line on stderr says why), 2 usage.");
  verify->add_option("--secret", verify_secret, "the subscription's whsec_… secret");
  verify->add_option("--public-key", verify_public_key, "the subscription's whpk_… public key");
  verify->add_option("--headers", headers_file, "file of \"Name: value\" lines")->required();
  verify->add_option("--body", body_file, "file of the raw body bytes")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kUsage;
  }

  core::SystemClock system_clock;
  core::Clock& clock = hooks.clock ? *hooks.clock : system_clock;
  if (listen->parsed()) {
    return learnwire::cli::RunListen(listen_port, listen_secret, listen_public_key, listen_json,
                                     clock);
  }
  if (verify->parsed()) {
    return learnwire::cli::RunVerify(verify_secret, verify_public_key, headers_file, body_file);
  }
  if (serve->parsed()) {
    auto config = Load(serve_flags);
    if (!config) {
      return kUsage;
    }
    // PRODUCT.md: --demo lets webhooks reach loopback receivers unless the operator said which
    // private networks are allowed.
    if (demo && config->allowed_private_networks.empty()) {
      config->allowed_private_networks = {"127.0.0.0/8"};
    }
    return learnwire::app::Serve(*config, demo, hooks);
  }
  if (migrate->parsed()) {
    auto config = Load(migrate_flags);
    if (!config) {
      return kUsage;
    }
    return WithStore(*config, clock, [](auto&, const auto&) { return core::Status::Ok(); });
  }
  if (org->parsed()) {
    auto config = Load(org_flags);
    if (!config) {
      return kUsage;
    }
    if (org_create->parsed()) {
      // The password is hashed before the transaction, and nothing secret is printed until the
      // transaction committed.
      auto secret = domain::NewAdminSecret();
      if (!secret.ok()) {
        std::fprintf(stderr, "learnwire: %s\n", secret.status().message().c_str());
        return kFailure;
      }
      std::optional<domain::CreatedOrganization> created;
      int rc = WithStore(*config, clock, [&](learnwire::store::Tx& tx, const domain::Deps& deps) {
        LW_ASSIGN_OR_RETURN(created,
                            domain::CreateOrganization(tx, deps, org_name, admin_email, *secret));
        return core::Status::Ok();
      });
      if (rc != 0) {
        return rc;
      }
      if (as_json) {
        PrintJsonLine({{"organization_id", created->organization.id},
                       {"admin_email", created->admin_email},
                       {"admin_password", secret->password},
                       {"api_key", created->first_key.secret_key}});
      } else {
        std::cout << "organization: " << created->organization.id << "\n"
                  << "admin email:  " << created->admin_email << "\n"
                  << "password:     " << secret->password << "\n"
                  << "API key:      " << created->first_key.secret_key << "\n"
                  << "(the password and the key are shown only this once)" << std::endl;
      }
      return 0;
    }
    if (org_list->parsed()) {
      return WithStore(*config, clock, [&](learnwire::store::Tx& tx, const domain::Deps&) {
        LW_ASSIGN_OR_RETURN(auto orgs, domain::ListOrganizations(tx));
        json::array items;
        for (const auto& o : orgs) {
          if (as_json) {
            items.push_back(json::object{{"id", o.id},
                                         {"name", o.name},
                                         {"disabled", o.disabled},
                                         {"created_at", core::FormatTime(o.created_at)}});
          } else {
            std::cout << o.id << "  " << (o.disabled ? "disabled" : "enabled ") << "  " << o.name
                      << "\n";
          }
        }
        if (as_json) {
          std::cout << json::serialize(items) << std::endl;
        }
        return core::Status::Ok();
      });
    }
    bool disable = org_disable->parsed();
    return WithStore(*config, clock, [&](learnwire::store::Tx& tx, const domain::Deps& deps) {
      return domain::SetOrganizationDisabled(tx, deps, org_id, disable);
    });
  }
  if (user->parsed()) {
    auto config = Load(user_flags);
    if (!config) {
      return kUsage;
    }
    auto secret = domain::NewAdminSecret();
    if (!secret.ok()) {
      std::fprintf(stderr, "learnwire: %s\n", secret.status().message().c_str());
      return kFailure;
    }
    int rc = WithStore(*config, clock, [&](learnwire::store::Tx& tx, const domain::Deps& deps) {
      return domain::ResetPassword(tx, deps, user_email, *secret);
    });
    if (rc != 0) {
      return rc;
    }
    if (as_json) {
      PrintJsonLine({{"email", user_email}, {"password", secret->password}});
    } else {
      std::cout << "new password for " << user_email << ": " << secret->password
                << "\n(shown only this once)" << std::endl;
    }
    return 0;
  }
  if (key->parsed()) {
    auto config = Load(key_flags);
    if (!config) {
      return kUsage;
    }
    std::set<domain::Scope> scopes;
    std::stringstream in(key_scopes);
    std::string item;
    while (std::getline(in, item, ',')) {
      auto s = domain::ParseScope(item);
      if (!s) {
        std::fprintf(stderr, "learnwire: --scopes: unknown scope \"%s\"\n", item.c_str());
        return kUsage;
      }
      scopes.insert(*s);
    }
    if (scopes.empty()) {
      std::fprintf(stderr, "learnwire: --scopes: give at least one scope\n");
      return kUsage;
    }
    std::optional<domain::CreatedKey> created;
    int rc = WithStore(*config, clock, [&](learnwire::store::Tx& tx, const domain::Deps& deps) {
      LW_ASSIGN_OR_RETURN(learnwire::store::Rows rows,
                          tx.Query("SELECT id FROM organizations WHERE id = $1", {key_org}));
      if (rows.empty()) {
        return core::NotFound("no organization " + key_org);
      }
      LW_ASSIGN_OR_RETURN(created,
                          domain::CreateKey(tx, deps, key_org, "cli key", scopes, std::nullopt));
      return core::Status::Ok();
    });
    if (rc != 0) {
      return rc;
    }
    json::array names;
    for (const auto& n : domain::ScopeNames(scopes)) {
      names.push_back(json::string(n));
    }
    if (as_json) {
      PrintJsonLine({{"id", created->key.id}, {"key", created->secret_key}, {"scopes", names}});
    } else {
      std::cout << created->secret_key << "\n(shown only this once)" << std::endl;
    }
    return 0;
  }
  return kUsage;
}
