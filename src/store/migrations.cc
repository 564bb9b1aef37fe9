#include "store/migrations.h"

namespace learnwire::store {

// Times are Unix milliseconds (INTEGER). JSON documents are TEXT. Ids are TEXT with their prefix.
const std::vector<Migration>& SqliteMigrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "identity", R"sql(
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE organizations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations(id),
  email TEXT NOT NULL,
  email_lower TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX users_org ON users(organization_id, id);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations(id),
  name TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  scopes TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER,
  last_used_at INTEGER
);
CREATE INDEX api_keys_org ON api_keys(organization_id, id);
)sql"},
      {2, "learners_and_outbox", R"sql(
CREATE TABLE learners (
  id TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations(id),
  email TEXT NOT NULL,
  email_lower TEXT NOT NULL,
  firstname TEXT NOT NULL,
  lastname TEXT NOT NULL,
  username TEXT,
  language TEXT NOT NULL,
  external_id TEXT,
  custom_fields TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER,
  erased_at INTEGER,
  search_text TEXT NOT NULL
);
CREATE UNIQUE INDEX learners_email ON learners(organization_id, email_lower)
  WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX learners_external ON learners(organization_id, external_id)
  WHERE deleted_at IS NULL AND external_id IS NOT NULL;
CREATE INDEX learners_org_id ON learners(organization_id, id);
CREATE INDEX learners_org_updated ON learners(organization_id, updated_at, id);

CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL,
  type TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  learner_id TEXT,
  payload TEXT NOT NULL
);
CREATE INDEX events_org_seq ON events(organization_id, seq);
CREATE INDEX events_learner ON events(learner_id) WHERE learner_id IS NOT NULL;

CREATE TABLE idempotency_keys (
  organization_id TEXT NOT NULL,
  credential_id TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  idem_key TEXT NOT NULL,
  body_hash TEXT NOT NULL,
  status INTEGER,
  response_headers TEXT,
  response_body TEXT,
  locked_until INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (organization_id, credential_id, method, path, idem_key)
);
CREATE INDEX idempotency_expiry ON idempotency_keys(expires_at);
)sql"},
      {3, "list_counts", R"sql(
-- Lists and their counts read only live learners: a partial index answers them without
-- visiting deleted rows.
CREATE INDEX learners_live ON learners(organization_id, id) WHERE deleted_at IS NULL;
-- Rows per organization and resource, kept in the transaction of every create and delete, so
-- an unfiltered list's count costs one lookup instead of reading up to 10,001 index entries.
CREATE TABLE resource_counts (
  organization_id TEXT NOT NULL,
  resource TEXT NOT NULL,
  live INTEGER NOT NULL,
  total INTEGER NOT NULL,
  PRIMARY KEY (organization_id, resource)
);
INSERT INTO resource_counts (organization_id, resource, live, total)
  SELECT organization_id, 'learners', SUM(CASE WHEN deleted_at IS NULL THEN 1 ELSE 0 END),
         COUNT(*)
  FROM learners GROUP BY organization_id;
)sql"},
      {4, "webhooks", R"sql(
-- Subscriptions. JSON documents (event_types, filters, headers, retry_policy) are TEXT; header
-- values and the basic-auth password are write-only (never rendered).
CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations(id),
  name TEXT NOT NULL,
  url TEXT NOT NULL,
  description TEXT,
  active INTEGER NOT NULL,
  deactivate_reason TEXT,
  event_types TEXT NOT NULL,
  filters TEXT NOT NULL,
  basic_auth_username TEXT,
  basic_auth_password TEXT,
  headers TEXT NOT NULL,
  signature_scheme TEXT NOT NULL,
  legacy_signature INTEGER NOT NULL,
  retry_policy TEXT NOT NULL,
  rate_limit_per_s INTEGER,
  ordered INTEGER NOT NULL,
  last_success_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER
);
CREATE INDEX webhooks_org ON webhooks(organization_id, id) WHERE deleted_at IS NULL;
CREATE INDEX webhooks_active ON webhooks(organization_id) WHERE active = 1 AND deleted_at IS NULL;

-- Signing secrets: expires_at NULL is the current one; rotated ones sign until they expire.
CREATE TABLE webhook_secrets (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  webhook_id TEXT NOT NULL REFERENCES webhooks(id),
  secret TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER
);
CREATE INDEX webhook_secrets_webhook ON webhook_secrets(webhook_id, seq);

-- One event for one subscription. The body is the event's stored envelope (events.payload), so
-- erasure scrubs one copy. A claim is a lease (lease_until, leased_by) with a lease_token that
-- changes at every claim; every result write is fenced by it.
CREATE TABLE deliveries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  state TEXT NOT NULL,
  test INTEGER NOT NULL DEFAULT 0,
  attempt_count INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  lease_until INTEGER,
  leased_by TEXT,
  lease_token TEXT,
  last_status INTEGER,
  last_error TEXT,
  replay_of TEXT,
  first_attempt_at INTEGER,
  finished_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(webhook_id, next_attempt_at)
  WHERE state = 'scheduled' AND test = 0;
CREATE INDEX deliveries_next ON deliveries(next_attempt_at) WHERE state = 'scheduled' AND test = 0;
CREATE INDEX deliveries_leased ON deliveries(lease_until) WHERE lease_until IS NOT NULL;
CREATE INDEX deliveries_org ON deliveries(organization_id, id);
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);
CREATE INDEX deliveries_event ON deliveries(event_id);
CREATE INDEX deliveries_finished ON deliveries(finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX deliveries_webhook_created ON deliveries(webhook_id, created_at);
CREATE INDEX events_created ON events(created_at);
CREATE INDEX events_org_created ON events(organization_id, created_at);

-- What each event is about (events::Relations as JSON), for replays that include missed events.
ALTER TABLE events ADD COLUMN relations TEXT;

CREATE TABLE attempts (
  delivery_id TEXT NOT NULL,
  number INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  status INTEGER,
  error TEXT,
  response_excerpt TEXT,
  response_headers TEXT NOT NULL,
  request_headers TEXT NOT NULL,
  PRIMARY KEY (delivery_id, number)
);
)sql"},
      // Claims take a subscription's due deliveries in (next_attempt_at, seq) order. SQLite's
      // index entries end with the rowid (seq), so the old index gave that order; PostgreSQL's do
      // not, and sorted every due row of the subscription at each claim (49 ms per claim with
      // 100,000 due, found by B9).
      {5, "claim_order", R"sql(
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries(webhook_id, next_attempt_at, seq)
  WHERE state = 'scheduled' AND test = 0;
)sql"},
      // ed25519 subscriptions show the public key of their current key pair ("whpk_…"); the
      // private key stays in webhook_secrets.
      {6, "webhook_public_key", R"sql(
ALTER TABLE webhooks ADD COLUMN public_key TEXT;
)sql"},
      // Delivery statistics (WEBHOOKS.md §6, /stats/deliveries) read a subscription's deliveries
      // and attempts by time, leaving test deliveries out: partial indexes hold only what they
      // count. Attempts learn their subscription and test flag so that a subscription's attempts
      // in a window are one index range, read without visiting rows. An organization's
      // statistics visit each of its subscriptions, deleted ones included (their history stays).
      // SQLite reads a partial index without its rows only when the index also holds the
      // columns of its own WHERE clause, hence the trailing constant columns (a byte or two).
      {7, "delivery_stats", R"sql(
CREATE INDEX deliveries_webhook_finished ON deliveries(webhook_id, finished_at, state, test)
  WHERE finished_at IS NOT NULL AND test = 0;
CREATE INDEX deliveries_webhook_waiting ON deliveries(webhook_id, created_at, state, test)
  WHERE state = 'scheduled' AND test = 0;
ALTER TABLE attempts ADD COLUMN webhook_id TEXT;
ALTER TABLE attempts ADD COLUMN test INTEGER NOT NULL DEFAULT 0;
UPDATE attempts SET
  webhook_id = (SELECT d.webhook_id FROM deliveries d WHERE d.id = attempts.delivery_id),
  test = COALESCE((SELECT d.test FROM deliveries d WHERE d.id = attempts.delivery_id), 0);
CREATE INDEX attempts_webhook_started
  ON attempts(webhook_id, started_at, number, duration_ms, test) WHERE test = 0;
-- The start of the newest non-test attempt, kept by RecordResults (the stats' last_delivery_at).
ALTER TABLE webhooks ADD COLUMN last_attempt_at INTEGER;
UPDATE webhooks SET last_attempt_at =
  (SELECT MAX(a.started_at) FROM attempts a WHERE a.webhook_id = webhooks.id AND a.test = 0);
CREATE INDEX webhooks_org_all ON webhooks(organization_id, id);
)sql"},
      // The head of an ordered subscription: its oldest scheduled delivery in commit order.
      {8, "ordered_head", R"sql(
CREATE INDEX deliveries_head ON deliveries(webhook_id, seq) WHERE state = 'scheduled' AND test = 0;
)sql"},
      // deliveries_webhook_waiting (migration 7) covers state and test, which made SQLite's
      // planner pick it, with a sort of every scheduled row, for the dispatcher's "next due"
      // query instead of deliveries_next: B1 fell from about 14,000 to 2,000 deliveries/s. The
      // statistics read the oldest scheduled delivery by seq through deliveries_head instead.
      {9, "drop_waiting_index", R"sql(
DROP INDEX deliveries_webhook_waiting;
)sql"},
  };
  return kMigrations;
}

namespace {

std::string ReplaceAll(std::string s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

}  // namespace

const std::vector<Migration>& PostgresMigrations() {
  // The texts live as long as the program (the Migration holds views of them).
  static const std::vector<std::string> kTexts = [] {
    std::vector<std::string> texts;
    for (const Migration& m : SqliteMigrations()) {
      std::string sql(m.sql);
      sql = ReplaceAll(sql, "INTEGER PRIMARY KEY AUTOINCREMENT",
                       "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
      sql = ReplaceAll(sql, "INTEGER", "BIGINT");
      texts.push_back(std::move(sql));
    }
    return texts;
  }();
  static const std::vector<Migration> kMigrations = [] {
    std::vector<Migration> out;
    const std::vector<Migration>& sqlite = SqliteMigrations();
    for (std::size_t i = 0; i < sqlite.size(); ++i) {
      out.push_back({sqlite[i].version, sqlite[i].name, kTexts[i]});
    }
    return out;
  }();
  return kMigrations;
}

}  // namespace learnwire::store
