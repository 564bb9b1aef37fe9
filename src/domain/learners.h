// Learners (DOMAIN.md "People"): create, read, change, soft delete, ban, erase and bulk upsert.
// Every change commits its event in the caller's transaction. Stateless; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "domain/common.h"

namespace learnwire::domain {

struct Learner {
  std::string id;
  std::string email;
  std::string firstname;
  std::string lastname;
  std::optional<std::string> username;
  std::string language = "en";
  std::optional<std::string> external_id;
  std::string custom_fields = "{}";  // a JSON object, as stored
  std::string status = "active";
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::optional<int64_t> deleted_at;
};

// A learner's fields without owning them: what the renderer reads, from a Learner or straight
// from a row of a list query (no copy).
struct LearnerView {
  std::string_view id, email, firstname, lastname;
  std::optional<std::string_view> username;
  std::string_view language;
  std::optional<std::string_view> external_id;
  std::string_view custom_fields, status;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::optional<int64_t> deleted_at;
};
LearnerView ViewOf(const Learner& l);
// A row of LearnerListQuery's select list.
LearnerView LearnerViewOfRow(const store::RowView& row);

// The learner as GET returns it, as JSON text (the one renderer) and as a document (the `data`
// of its events, which add their extras).
std::string RenderLearner(const LearnerView& l);
inline std::string RenderLearner(const Learner& l) { return RenderLearner(ViewOf(l)); }
boost::json::object LearnerJson(const Learner& l);
// The tombstone of a soft-deleted learner: {id, deleted_at}.
std::string RenderLearnerTombstone(const LearnerView& l);

enum class WriteMode { kCreate, kPatch, kReplace };

core::Result<Learner> CreateLearner(store::Tx& tx, const WriteContext& ctx,
                                    const boost::json::object& body);
core::Result<Learner> GetLearner(store::Tx& tx, const std::string& organization_id,
                                 const std::string& id);
// PATCH (given fields) or PUT (every writable field; left-out ones return to defaults).
// Returns the learner; no event and no new updated_at when nothing changes.
core::Result<Learner> UpdateLearner(store::Tx& tx, const WriteContext& ctx, const std::string& id,
                                    const boost::json::object& body, WriteMode mode);
core::Status DeleteLearner(store::Tx& tx, const WriteContext& ctx, const std::string& id);
// Ban or lift the ban; to the current status -> 200, no event.
core::Result<Learner> SetLearnerBanned(store::Tx& tx, const WriteContext& ctx,
                                       const std::string& id, bool banned);
// Irreversible: personal fields become "erased" here and in every stored event payload.
core::Result<Learner> EraseLearner(store::Tx& tx, const WriteContext& ctx, const std::string& id);

struct LearnerFilter {
  std::optional<std::string> email, external_id, status, group_id, department_id, q;
  std::optional<int64_t> updated_since;
};
// Rows carry the learner columns; turn each into a Learner with LearnerFromRow.
ListQuery LearnerListQuery(const std::string& organization_id, const LearnerFilter& f);
Learner LearnerFromRow(const store::Rows::Row& r);

struct BulkItemResult {
  int status = 200;  // 200 updated, 201 created, 409, 422
  std::optional<std::string> id;
  std::vector<core::FieldError> errors;
  std::string message;
};
// Upserts each item (matched by external_id when given, else email), each on its own: one bad
// item never fails the others.
core::Result<std::vector<BulkItemResult>> BulkUpsertLearners(
    store::Tx& tx, const WriteContext& ctx, const std::vector<boost::json::value>& items);

}  // namespace learnwire::domain
