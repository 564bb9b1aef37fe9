#include "events/outbox.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/ids.h"
#include "core/time_format.h"
#include "store/store.h"

namespace learnwire::events {
namespace {

namespace json = boost::json;

const std::string kLearner = "lrn_01JD0000000000000000000001";
const std::string kOther = "lrn_01JD0000000000000000000002";

json::value Parse(std::string_view text) { return json::parse(text); }

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenMigratedSqlite({":memory:"});
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    db_ = std::move(opened).value();
  }

  std::string MustAppend(NewEvent e) {
    std::string id;
    core::Status st = db_->Write([&](store::Tx& tx) -> core::Status {
      LW_ASSIGN_OR_RETURN(id, Append(tx, {&ids_, &clock_}, std::move(e)));
      return core::Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.message();
    return id;
  }

  json::object Payload(const std::string& org, const std::string& id) {
    std::string text;
    core::Status st = db_->Read([&](store::Tx& tx) -> core::Status {
      LW_ASSIGN_OR_RETURN(StoredEvent e, Get(tx, org, id));
      text = e.payload;
      return core::Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.message();
    return json::parse(text).as_object();
  }

  static NewEvent LearnerEvent(const std::string& org, const std::string& learner_id,
                               const char* email) {
    NewEvent e;
    e.organization_id = org;
    e.type = "learner.created";
    e.data = {{"id", learner_id},
              {"email", email},
              {"firstname", "Ann"},
              {"lastname", "Lee"},
              {"username", nullptr},
              {"external_id", "HR-1"},
              {"custom_fields", json::object{{"team", "blue"}}}};
    e.learner_id = learner_id;
    return e;
  }

  core::ManualClock clock_;
  core::IdGenerator ids_{clock_};
  std::unique_ptr<store::Store> db_;
};

TEST_F(OutboxTest, AppendBuildsTheEnvelope) {
  clock_.Set(*core::ParseTime("2026-11-22T10:00:00.123Z"));
  NewEvent e;
  e.organization_id = "org_01JD0000000000000000000000";
  e.type = "learner.banned";
  e.actor = {"api_key", "key_01JD0000000000000000000000"};
  e.data = {{"id", kLearner}, {"status", "banned"}};
  std::string id = MustAppend(e);
  EXPECT_TRUE(core::IsValidId(id, "evt")) << id;
  json::object env = Payload(e.organization_id, id);
  EXPECT_EQ(env, Parse(R"({
    "id": ")" + id + R"(",
    "type": "learner.banned",
    "version": "1",
    "timestamp": "2026-11-22T10:00:00.123Z",
    "organization_id": "org_01JD0000000000000000000000",
    "actor": {"type": "api_key", "id": "key_01JD0000000000000000000000"},
    "data": {"id": ")" +
                       kLearner + R"(", "status": "banned"}
  })")
                     .as_object());
}

TEST_F(OutboxTest, AppendWritesASystemActorWithANullId) {
  NewEvent e;
  e.organization_id = "org_1";
  e.type = "webhook.disabled";
  std::string id = MustAppend(e);
  EXPECT_EQ(Payload("org_1", id).at("actor"), Parse(R"({"type": "system", "id": null})"));
}

TEST_F(OutboxTest, AppendGivesIncreasingIdsAndSequences) {
  std::string a = MustAppend(LearnerEvent("org_1", kLearner, "a@x.io"));
  std::string b = MustAppend(LearnerEvent("org_1", kLearner, "a@x.io"));
  EXPECT_LT(a, b);
  int64_t sa = 0, sb = 0;
  ASSERT_TRUE(db_->Read([&](store::Tx& tx) -> core::Status {
                   LW_ASSIGN_OR_RETURN(sa, SeqOf(tx, "org_1", a));
                   LW_ASSIGN_OR_RETURN(sb, SeqOf(tx, "org_1", b));
                   return core::Status::Ok();
                 })
                  .ok());
  EXPECT_LT(sa, sb);
}

TEST_F(OutboxTest, GetOfAnotherOrganizationsEventIsNotFound) {
  std::string id = MustAppend(LearnerEvent("org_1", kLearner, "a@x.io"));
  core::Status st = db_->Read([&](store::Tx& tx) { return Get(tx, "org_2", id).status(); });
  EXPECT_EQ(st.code(), core::Code::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// ScrubLearnerJson

TEST(ScrubLearnerJsonTest, ScrubsTheLearnersPersonalFields) {
  json::value v = Parse(R"({"id": "lrn_01JD0000000000000000000001", "email": "a@x.io",
    "firstname": "Ann", "lastname": "Lee", "username": "al", "external_id": "HR-1",
    "custom_fields": {"team": "blue"}, "language": "fr", "status": "active"})");
  EXPECT_TRUE(ScrubLearnerJson(v, kLearner));
  EXPECT_EQ(v, Parse(R"({"id": "lrn_01JD0000000000000000000001", "email": "erased",
    "firstname": "erased", "lastname": "erased", "username": "erased", "external_id": null,
    "custom_fields": {}, "language": "fr", "status": "active"})"));
}

TEST(ScrubLearnerJsonTest, KeepsANullUsernameNull) {
  json::value v = Parse(R"({"id": "lrn_01JD0000000000000000000001", "email": "a@x.io",
    "username": null})");
  EXPECT_TRUE(ScrubLearnerJson(v, kLearner));
  EXPECT_TRUE(v.at("username").is_null());
}

TEST(ScrubLearnerJsonTest, ScrubsNestedObjectsAndArrays) {
  json::value v = Parse(R"({"id": "enr_01JD0000000000000000000009", "state": "enrolled",
    "learner": {"id": "lrn_01JD0000000000000000000001", "email": "a@x.io",
                "external_id": "HR-1"},
    "members": [{"learner": {"id": "lrn_01JD0000000000000000000001", "firstname": "Ann"}}]})");
  EXPECT_TRUE(ScrubLearnerJson(v, kLearner));
  EXPECT_EQ(v.at("learner"), Parse(R"({"id": "lrn_01JD0000000000000000000001",
    "email": "erased", "external_id": null})"));
  EXPECT_EQ(v.at("members").at(0).at("learner").at("firstname"), "erased");
  EXPECT_EQ(v.at("state"), "enrolled");
  EXPECT_EQ(v.at("id"), "enr_01JD0000000000000000000009");
}

TEST(ScrubLearnerJsonTest, ScrubsPrevious) {
  json::value v = Parse(R"({"id": "lrn_01JD0000000000000000000001", "email": "new@x.io",
    "changed_fields": ["email", "firstname", "language"],
    "previous": {"email": "old@x.io", "firstname": "Old", "language": "de",
                 "external_id": "HR-0", "custom_fields": {"a": 1}}})");
  EXPECT_TRUE(ScrubLearnerJson(v, kLearner));
  EXPECT_EQ(v.at("previous"), Parse(R"({"email": "erased", "firstname": "erased",
    "language": "de", "external_id": null, "custom_fields": {}})"));
  EXPECT_EQ(v.at("changed_fields"), Parse(R"(["email", "firstname", "language"])"));
}

TEST(ScrubLearnerJsonTest, LeavesOtherIdsAlone) {
  const char* text = R"({"id": "lrn_01JD0000000000000000000002", "email": "b@x.io",
    "firstname": "Bob", "external_id": "HR-2", "custom_fields": {"x": "y"},
    "group": {"id": "grp_01JD0000000000000000000001", "name": "Blue", "external_id": "G-1"},
    "learners": [{"id": "lrn_01JD0000000000000000000003", "email": "c@x.io"}]})";
  json::value v = Parse(text);
  EXPECT_FALSE(ScrubLearnerJson(v, kLearner));
  EXPECT_EQ(v, Parse(text));
}

TEST(ScrubLearnerJsonTest, DoesNotScrubAnObjectThatOnlyMentionsTheIdElsewhere) {
  const char* text = R"({"id": "enr_01JD0000000000000000000009",
    "learner_id": "lrn_01JD0000000000000000000001", "external_id": "E-9", "title": "x"})";
  json::value v = Parse(text);
  EXPECT_FALSE(ScrubLearnerJson(v, kLearner));
  EXPECT_EQ(v, Parse(text));
}

TEST(ScrubLearnerJsonTest, ReturnsFalseWhenAlreadyScrubbed) {
  json::value v = Parse(R"({"id": "lrn_01JD0000000000000000000001", "email": "erased",
    "firstname": "erased", "lastname": "erased", "username": null, "external_id": null,
    "custom_fields": {}, "previous": {"email": "erased", "username": null}})");
  json::value before = v;
  EXPECT_FALSE(ScrubLearnerJson(v, kLearner));
  EXPECT_EQ(v, before);
}

TEST(ScrubLearnerJsonTest, ReturnsFalseForScalarsAndEmptyDocuments) {
  for (const char* text : {"null", "3", "\"lrn_01JD0000000000000000000001\"", "[]", "{}"}) {
    json::value v = Parse(text);
    EXPECT_FALSE(ScrubLearnerJson(v, kLearner)) << text;
  }
}

// ---------------------------------------------------------------------------------------------
// ScrubLearner

TEST_F(OutboxTest, ScrubLearnerRewritesTheLearnersStoredPayloads) {
  std::string id = MustAppend(LearnerEvent("org_1", kLearner, "a@x.io"));
  ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return ScrubLearner(tx, "org_1", kLearner); }).ok());
  const json::object data = Payload("org_1", id).at("data").as_object();
  EXPECT_EQ(data.at("email"), "erased");
  EXPECT_EQ(data.at("firstname"), "erased");
  EXPECT_TRUE(data.at("external_id").is_null());
  EXPECT_TRUE(data.at("username").is_null());
}

TEST_F(OutboxTest, ScrubLearnerTouchesOnlyTheGivenOrganizationsRows) {
  // The same learner id in two organizations' payloads (ids are per installation, but a
  // payload of another organization must never be rewritten by this one's erasure).
  std::string mine = MustAppend(LearnerEvent("org_1", kLearner, "a@x.io"));
  std::string theirs = MustAppend(LearnerEvent("org_2", kLearner, "a@x.io"));
  json::object before = Payload("org_2", theirs);
  ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return ScrubLearner(tx, "org_1", kLearner); }).ok());
  EXPECT_EQ(Payload("org_2", theirs), before);
  EXPECT_EQ(Payload("org_1", mine).at("data").at("email"), "erased");
}

TEST_F(OutboxTest, ScrubLearnerLeavesOtherLearnersEventsAlone) {
  std::string other = MustAppend(LearnerEvent("org_1", kOther, "b@x.io"));
  json::object before = Payload("org_1", other);
  MustAppend(LearnerEvent("org_1", kLearner, "a@x.io"));
  ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return ScrubLearner(tx, "org_1", kLearner); }).ok());
  EXPECT_EQ(Payload("org_1", other), before);
}

TEST(CatalogTest, HoldsEveryLearnerEventType) {
  const auto& c = Catalog();
  for (const char* t : {"learner.created", "learner.updated", "learner.deleted", "learner.erased",
                        "learner.banned", "learner.unbanned"}) {
    EXPECT_NE(std::find(c.begin(), c.end(), t), c.end()) << t;
  }
}

}  // namespace
}  // namespace learnwire::events
