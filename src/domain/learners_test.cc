#include "domain/learners.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "core/time_format.h"
#include "domain/common.h"
#include "domain/identity.h"
#include "store/store.h"

namespace learnwire::domain {
namespace {

namespace json = boost::json;
using core::Code;
using std::chrono::milliseconds;
using std::chrono::seconds;

json::object Obj(const std::string& text) {
  json::value v = json::parse(text);
  return v.as_object();
}

json::object Body(const std::string& email, const std::string& firstname = "Ann",
                  const std::string& lastname = "Lee") {
  return {{"email", email}, {"firstname", firstname}, {"lastname", lastname}};
}

std::set<std::string> FieldNames(const core::Status& s) {
  std::set<std::string> out;
  for (const auto& f : s.fields()) {
    out.insert(f.field);
  }
  return out;
}

struct StoredEvent {
  std::string type;
  std::optional<std::string> learner_id;
  json::object envelope;
  const json::object& data() const { return envelope.at("data").as_object(); }
};

class LearnersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenMigratedSqlite({":memory:"});
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    db_ = std::move(opened).value();
    ASSERT_TRUE(db_->Write([&](store::Tx& tx) -> core::Status {
                     LW_ASSIGN_OR_RETURN(CreatedOrganization org,
                                         CreateOrganization(tx, {&ids_, &clock_}, "Org", "a@b.io",
                                                            AdminSecret{"pw", "h"}));
                     org_id_ = org.organization.id;
                     return core::Status::Ok();
                   })
                    .ok());
  }

  WriteContext Ctx() {
    WriteContext w;
    w.deps = {&ids_, &clock_};
    w.organization_id = org_id_;
    w.actor = {"api_key", "key_TEST"};
    return w;
  }

  // Runs `f` in a write transaction, rolled back when it fails (as the API does).
  template <typename T, typename F>
  core::Result<T> InWrite(F f) {
    std::optional<core::Result<T>> out;
    core::Status st = db_->Write([&](store::Tx& tx) -> core::Status {
      out.emplace(f(tx));
      return out->ok() ? core::Status::Ok() : out->status();
    });
    if (!out || (out->ok() && !st.ok())) {
      return st;
    }
    return *out;
  }

  core::Result<Learner> Create(const json::object& body) {
    return InWrite<Learner>([&](store::Tx& tx) { return CreateLearner(tx, Ctx(), body); });
  }
  Learner MustCreate(const json::object& body) {
    auto r = Create(body);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : Learner{};
  }
  core::Result<Learner> Update(const std::string& id, const json::object& body,
                               WriteMode mode = WriteMode::kPatch) {
    return InWrite<Learner>(
        [&](store::Tx& tx) { return UpdateLearner(tx, Ctx(), id, body, mode); });
  }
  core::Status Delete(const std::string& id) {
    return db_->Write([&](store::Tx& tx) { return DeleteLearner(tx, Ctx(), id); });
  }
  core::Result<Learner> Ban(const std::string& id, bool banned) {
    return InWrite<Learner>([&](store::Tx& tx) { return SetLearnerBanned(tx, Ctx(), id, banned); });
  }
  core::Result<Learner> Erase(const std::string& id) {
    return InWrite<Learner>([&](store::Tx& tx) { return EraseLearner(tx, Ctx(), id); });
  }
  core::Result<std::vector<BulkItemResult>> Bulk(const std::vector<json::value>& items) {
    return InWrite<std::vector<BulkItemResult>>([&](store::Tx& tx) {
      WriteContext w = Ctx();
      w.bulk_id = "blk_TEST";
      return BulkUpsertLearners(tx, w, items);
    });
  }
  core::Result<Learner> Get(const std::string& id) {
    std::optional<core::Result<Learner>> out;
    EXPECT_TRUE(db_->Read([&](store::Tx& tx) {
                     out.emplace(GetLearner(tx, org_id_, id));
                     return core::Status::Ok();
                   })
                    .ok());
    return *out;
  }
  // A page rendered as the API renders it: a learner, or a tombstone once deleted.
  ListPage List(const ListQuery& q) {
    ListPage page;
    core::Status st = db_->Read([&](store::Tx& tx) -> core::Status {
      LW_ASSIGN_OR_RETURN(page, RunList(tx, q, [](const store::RowView& row) {
                            LearnerView l = LearnerViewOfRow(row);
                            return RenderedItem{
                                l.deleted_at ? RenderLearnerTombstone(l) : RenderLearner(l),
                                {true, l.updated_at, std::string(l.id)}};
                          }));
      return core::Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.message();
    return page;
  }
  std::vector<StoredEvent> Events() {
    std::vector<StoredEvent> out;
    EXPECT_TRUE(db_->Read([&](store::Tx& tx) -> core::Status {
                     LW_ASSIGN_OR_RETURN(
                         store::Rows rows,
                         tx.Query("SELECT type, learner_id, payload FROM events WHERE "
                                  "organization_id = $1 ORDER BY seq",
                                  {org_id_}));
                     for (std::size_t i = 0; i < rows.size(); ++i) {
                       out.push_back({rows[i].Str("type"), rows[i].OptStr("learner_id"),
                                      json::parse(rows[i].Str("payload")).as_object()});
                     }
                     return core::Status::Ok();
                   })
                    .ok());
    return out;
  }
  std::vector<StoredEvent> EventsOfType(const std::string& type) {
    std::vector<StoredEvent> out;
    for (auto& e : Events()) {
      if (e.type == type) {
        out.push_back(std::move(e));
      }
    }
    return out;
  }
  int64_t Now() const { return core::ToUnixMs(clock_.Now()); }

  core::ManualClock clock_;
  core::IdGenerator ids_{clock_};
  std::unique_ptr<store::Store> db_;
  std::string org_id_;
};

// ---------------------------------------------------------------------------------------------
// Validation

TEST_F(LearnersTest, CreateRefusesInvalidBodiesNamingTheFields) {
  struct Case {
    const char* name;
    json::object body;
    std::set<std::string> fields;
  };
  std::vector<Case> cases;
  auto with = [](const char* key, json::value v) {
    json::object b = Body("ann@x.io");
    b[key] = std::move(v);
    return b;
  };
  json::object many;
  for (int i = 0; i < 51; ++i) {
    many["k" + std::to_string(i)] = i;
  }
  cases.push_back({"unknown field", with("nickname", "A"), {"nickname"}});
  json::object missing = Body("ann@x.io");
  missing.erase("lastname");
  cases.push_back({"missing required field", missing, {"lastname"}});
  cases.push_back({"no fields", json::object(), {"email", "firstname", "lastname"}});
  cases.push_back({"bad email", with("email", "not-an-email"), {"email"}});
  cases.push_back({"email not a string", with("email", 3), {"email"}});
  cases.push_back(
      {"firstname with a control character", with("firstname", "An\x07n"), {"firstname"}});
  cases.push_back({"empty firstname", with("firstname", ""), {"firstname"}});
  cases.push_back({"201-character lastname",
                   with("lastname", json::string(std::string(201, 'l'))),
                   {"lastname"}});
  cases.push_back({"bad language", with("language", "english!"), {"language"}});
  cases.push_back({"custom_fields with 51 keys", with("custom_fields", many), {"custom_fields"}});
  cases.push_back({"custom_fields with a nested object",
                   with("custom_fields", Obj(R"({"a": {"b": 1}})")),
                   {"custom_fields"}});
  cases.push_back({"custom_fields with an array",
                   with("custom_fields", Obj(R"({"a": [1]})")),
                   {"custom_fields"}});
  cases.push_back({"custom_fields with a 1001-character string",
                   with("custom_fields", json::object{{"a", std::string(1001, 'x')}}),
                   {"custom_fields"}});
  cases.push_back({"custom_fields with 1e400",
                   with("custom_fields", Obj(R"({"a": 1e400})")),
                   {"custom_fields"}});
  cases.push_back({"custom_fields not an object", with("custom_fields", "x"), {"custom_fields"}});
  cases.push_back({"read-only id on create", with("id", "lrn_01JD0000000000000000000000"), {"id"}});
  cases.push_back({"two bad fields",
                   [&] {
                     json::object b = with("language", "english!");
                     b["email"] = "x";
                     return b;
                   }(),
                   {"email", "language"}});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = Create(c.body);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(FieldNames(r.status()), c.fields);
  }
  EXPECT_TRUE(Events().empty());
}

TEST_F(LearnersTest, CreateAcceptsValuesAtTheirLimits) {
  json::object fields;
  for (int i = 0; i < 50; ++i) {
    fields["k" + std::to_string(i)] = i % 2 ? json::value(true) : json::value(1.5);
  }
  fields["k0"] = std::string(1000, 'x');
  json::object b = Body("ann@x.io", std::string(200, 'f'), std::string(200, 'l'));
  b["custom_fields"] = fields;
  b["language"] = "fr-CA";
  b["username"] = nullptr;
  auto r = Create(b);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(json::parse(r->custom_fields), json::value(fields));
  EXPECT_EQ(r->language, "fr-CA");
}

TEST_F(LearnersTest, CreateStoresNamesVerbatim) {
  Learner l = MustCreate(Body("ann@x.io", "  Zoë 🙂 ", "O'Brien-Łukasz"));
  EXPECT_EQ(l.firstname, "  Zoë 🙂 ");
  ASSERT_TRUE(Get(l.id).ok());
  EXPECT_EQ(Get(l.id)->lastname, "O'Brien-Łukasz");
}

// ---------------------------------------------------------------------------------------------
// Read-only fields

TEST_F(LearnersTest, ReadOnlyFieldsEqualToTheCurrentValueAreAccepted) {
  Learner l = MustCreate(Body("ann@x.io"));
  json::object b = LearnerJson(l);  // the learner as GET returns it, sent back
  b["firstname"] = "Annie";
  auto r = Update(l.id, b);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->firstname, "Annie");
}

TEST_F(LearnersTest, ReadOnlyFieldsDifferentFromTheCurrentValueAreRefused) {
  Learner l = MustCreate(Body("ann@x.io"));
  struct Case {
    const char* field;
    json::value value;
  };
  const Case kCases[] = {
      {"id", "lrn_01JD0000000000000000000000"},
      {"status", "banned"},
      {"created_at", json::value(core::FormatTime(l.created_at + 1))},
      {"updated_at", json::value(core::FormatTime(l.updated_at - 1000))},
      {"deleted_at", json::value(core::FormatTime(l.created_at))},
      {"group_ids", json::array{"grp_01JD0000000000000000000000"}},
      {"department_ids", json::array{"dep_01JD0000000000000000000000"}},
      {"created_at", "not a time"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.field);
    json::object b{{"firstname", "Annie"}, {c.field, c.value}};
    auto r = Update(l.id, b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(FieldNames(r.status()), std::set<std::string>{c.field});
  }
  EXPECT_EQ(Get(l.id)->firstname, "Ann");
}

TEST_F(LearnersTest, ReadOnlyTimeInAnotherOffsetNamingTheSameInstantIsAccepted) {
  clock_.Set(*core::ParseTime("2026-11-22T10:00:00.123Z"));
  Learner l = MustCreate(Body("ann@x.io"));
  auto r = Update(l.id, Obj(R"({"created_at": "2026-11-22T12:00:00.123+02:00",
                                "updated_at": "2026-11-22T05:30:00.123456-04:30"})"));
  EXPECT_TRUE(r.ok()) << r.status().message();
}

// ---------------------------------------------------------------------------------------------
// Uniqueness

TEST_F(LearnersTest, DuplicateEmailDifferingInAsciiCaseIsAConflict) {
  MustCreate(Body("ann.lee@x.io"));
  auto r = Create(Body("Ann.LEE@X.IO"));
  EXPECT_EQ(r.status().code(), Code::kConflict);
}

TEST_F(LearnersTest, DuplicateEmailDifferingInUnicodeCaseIsAConflict) {
  MustCreate(Body("\xC3\xA9lodie@x.io"));       // élodie@x.io
  auto r = Create(Body("\xC3\x89LODIE@x.io"));  // ÉLODIE@x.io
  EXPECT_EQ(r.status().code(), Code::kConflict);
}

TEST_F(LearnersTest, DuplicateExternalIdIsAConflict) {
  json::object a = Body("a@x.io");
  a["external_id"] = "HR-1";
  MustCreate(a);
  json::object b = Body("b@x.io");
  b["external_id"] = "HR-1";
  EXPECT_EQ(Create(b).status().code(), Code::kConflict);
}

TEST_F(LearnersTest, ChangingEmailToAnotherLearnersIsAConflict) {
  MustCreate(Body("a@x.io"));
  Learner b = MustCreate(Body("b@x.io"));
  EXPECT_EQ(Update(b.id, Obj(R"({"email": "A@x.io"})")).status().code(), Code::kConflict);
}

// ---------------------------------------------------------------------------------------------
// Events of changes

TEST_F(LearnersTest, CreateEmitsOneLearnerCreatedEventWithTheLearnerAsData) {
  json::object b = Body("ann@x.io");
  b["custom_fields"] = Obj(R"({"team": "blue", "level": 3})");
  Learner l = MustCreate(b);
  auto events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "learner.created");
  EXPECT_EQ(events[0].data(), LearnerJson(l));
  EXPECT_EQ(events[0].learner_id, l.id);
  EXPECT_EQ(events[0].envelope.at("actor"), Obj(R"({"type": "api_key", "id": "key_TEST"})"));
  EXPECT_FALSE(events[0].data().contains("bulk_id"));
}

TEST_F(LearnersTest, PatchThatChangesNothingKeepsUpdatedAtAndEmitsNoEvent) {
  Learner l = MustCreate(Body("ann@x.io"));
  clock_.Advance(seconds(5));
  auto r = Update(l.id, Obj(R"({"firstname": "Ann", "email": "ann@x.io", "username": null})"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->updated_at, l.updated_at);
  EXPECT_EQ(Get(l.id)->updated_at, l.updated_at);
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(LearnersTest, PutThatChangesNothingKeepsUpdatedAtAndEmitsNoEvent) {
  Learner l = MustCreate(Body("ann@x.io"));
  clock_.Advance(seconds(5));
  auto r = Update(l.id, Body("ann@x.io"), WriteMode::kReplace);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->updated_at, l.updated_at);
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(LearnersTest, PatchWithAChangeEmitsLearnerUpdatedWithChangedFieldsAndPrevious) {
  Learner l = MustCreate(Body("ann@x.io"));
  clock_.Advance(seconds(5));
  auto r = Update(l.id, Obj(R"({"firstname": "Annie", "username": "al", "lastname": "Lee"})"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->updated_at, Now());
  auto updated = EventsOfType("learner.updated");
  ASSERT_EQ(updated.size(), 1u);
  const json::object& data = updated[0].data();
  std::set<std::string> changed;
  for (const auto& f : data.at("changed_fields").as_array()) {
    changed.insert(std::string(f.as_string()));
  }
  EXPECT_EQ(changed, (std::set<std::string>{"firstname", "username"}));
  EXPECT_EQ(data.at("previous"), Obj(R"({"firstname": "Ann", "username": null})"));
  EXPECT_EQ(data.at("firstname"), "Annie");
  EXPECT_EQ(data.at("updated_at"), json::value(core::FormatTime(Now())));
}

TEST_F(LearnersTest, PutResetsOptionalFieldsLeftOut) {
  json::object b = Body("ann@x.io");
  b["username"] = "al";
  b["language"] = "fr";
  b["external_id"] = "HR-1";
  b["custom_fields"] = Obj(R"({"a": 1})");
  Learner l = MustCreate(b);
  auto r = Update(l.id, Body("ann@x.io", "Ann", "Lee"), WriteMode::kReplace);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->username, std::nullopt);
  EXPECT_EQ(r->language, "en");
  EXPECT_EQ(r->external_id, std::nullopt);
  EXPECT_EQ(json::parse(r->custom_fields), json::value(json::object()));
  auto updated = EventsOfType("learner.updated");
  ASSERT_EQ(updated.size(), 1u);
  EXPECT_EQ(updated[0].data().at("previous"),
            Obj(R"({"username": "al", "language": "fr", "external_id": "HR-1",
                    "custom_fields": {"a": 1}})"));
}

TEST_F(LearnersTest, PutRequiresTheRequiredFields) {
  Learner l = MustCreate(Body("ann@x.io"));
  auto r = Update(l.id, Obj(R"({"firstname": "Ann"})"), WriteMode::kReplace);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(FieldNames(r.status()), (std::set<std::string>{"email", "lastname"}));
}

TEST_F(LearnersTest, DeleteIsASoftDeleteThatEmitsLearnerDeletedWithDeletedAt) {
  Learner l = MustCreate(Body("ann@x.io"));
  clock_.Advance(seconds(3));
  ASSERT_TRUE(Delete(l.id).ok());
  auto deleted = EventsOfType("learner.deleted");
  ASSERT_EQ(deleted.size(), 1u);
  EXPECT_EQ(deleted[0].data().at("id"), json::value(l.id));
  EXPECT_EQ(deleted[0].data().at("deleted_at"), json::value(core::FormatTime(Now())));
  EXPECT_EQ(deleted[0].data().at("email"), "ann@x.io");  // the last snapshot
  // Soft: the row is still there.
  int64_t rows = -1;
  ASSERT_TRUE(db_->Read([&](store::Tx& tx) -> core::Status {
                   LW_ASSIGN_OR_RETURN(
                       store::Rows r,
                       tx.Query("SELECT deleted_at FROM learners WHERE id = $1", {l.id}));
                   rows = static_cast<int64_t>(r.size());
                   EXPECT_EQ(r[0].OptInt("deleted_at"), Now());
                   return core::Status::Ok();
                 })
                  .ok());
  EXPECT_EQ(rows, 1);
}

TEST_F(LearnersTest, DeletedLearnerIsNotFound) {
  Learner l = MustCreate(Body("ann@x.io"));
  ASSERT_TRUE(Delete(l.id).ok());
  EXPECT_EQ(Get(l.id).status().code(), Code::kNotFound);
  EXPECT_EQ(Delete(l.id).code(), Code::kNotFound);
  EXPECT_EQ(Update(l.id, Obj(R"({"firstname": "X"})")).status().code(), Code::kNotFound);
}

TEST_F(LearnersTest, DeletedLearnersEmailAndExternalIdAreReusable) {
  json::object b = Body("ann@x.io");
  b["external_id"] = "HR-1";
  Learner l = MustCreate(b);
  ASSERT_TRUE(Delete(l.id).ok());
  auto again = Create(b);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_NE(again->id, l.id);
}

TEST_F(LearnersTest, BanningTwiceEmitsOneLearnerBannedEvent) {
  Learner l = MustCreate(Body("ann@x.io"));
  auto first = Ban(l.id, true);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->status, "banned");
  clock_.Advance(seconds(1));
  auto second = Ban(l.id, true);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->updated_at, first->updated_at);
  EXPECT_EQ(EventsOfType("learner.banned").size(), 1u);
  EXPECT_EQ(EventsOfType("learner.banned")[0].data().at("status"), "banned");
}

TEST_F(LearnersTest, UnbanningEmitsLearnerUnbanned) {
  Learner l = MustCreate(Body("ann@x.io"));
  ASSERT_TRUE(Ban(l.id, true).ok());
  auto r = Ban(l.id, false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, "active");
  EXPECT_EQ(EventsOfType("learner.unbanned").size(), 1u);
  EXPECT_TRUE(Ban(l.id, false).ok());
  EXPECT_EQ(EventsOfType("learner.unbanned").size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Erasure

TEST_F(LearnersTest, EraseEmitsLearnerErasedWithIdAndNullExternalIdOnly) {
  json::object b = Body("ann@x.io");
  b["external_id"] = "HR-1";
  Learner l = MustCreate(b);
  ASSERT_TRUE(Erase(l.id).ok());
  auto erased = EventsOfType("learner.erased");
  ASSERT_EQ(erased.size(), 1u);
  EXPECT_EQ(erased[0].data(), (json::object{{"id", l.id}, {"external_id", nullptr}}));
  EXPECT_EQ(Get(l.id).status().code(), Code::kNotFound);
}

TEST_F(LearnersTest, EraseScrubsEveryEarlierEventPayloadOfTheLearner) {
  json::object b = Body("ann@x.io", "Ann", "Lee");  // username stays null
  b["external_id"] = "HR-1";
  b["custom_fields"] = Obj(R"({"team": "blue"})");
  Learner l = MustCreate(b);
  ASSERT_TRUE(Update(l.id, Obj(R"({"firstname": "Annie", "email": "annie@x.io"})")).ok());
  ASSERT_TRUE(Ban(l.id, true).ok());
  ASSERT_TRUE(Delete(l.id).ok());
  ASSERT_TRUE(Erase(l.id).ok());
  auto events = Events();
  ASSERT_EQ(events.size(), 5u);
  for (const auto& e : events) {
    if (e.type == "learner.erased") {
      continue;
    }
    SCOPED_TRACE(e.type);
    std::string text = json::serialize(e.data());
    EXPECT_EQ(text.find("ann@"), std::string::npos) << text;
    EXPECT_EQ(text.find("annie@"), std::string::npos) << text;
    EXPECT_EQ(text.find("Ann"), std::string::npos) << text;
    EXPECT_EQ(text.find("Lee"), std::string::npos) << text;
    EXPECT_EQ(text.find("HR-1"), std::string::npos) << text;
    EXPECT_EQ(text.find("blue"), std::string::npos) << text;
    const json::object& d = e.data();
    EXPECT_EQ(d.at("email"), "erased");
    EXPECT_EQ(d.at("firstname"), "erased");
    EXPECT_EQ(d.at("lastname"), "erased");
    EXPECT_TRUE(d.at("username").is_null());
    EXPECT_TRUE(d.at("external_id").is_null());
    EXPECT_EQ(d.at("custom_fields"), json::value(json::object()));
    EXPECT_EQ(d.at("id"), json::value(l.id));
  }
  const json::object& previous = events[1].data().at("previous").as_object();
  EXPECT_EQ(previous.at("firstname"), "erased");
  EXPECT_EQ(previous.at("email"), "erased");
}

TEST_F(LearnersTest, EraseLeavesOtherLearnersEventsAlone) {
  Learner other = MustCreate(Body("bob@x.io", "Bob", "Stone"));
  Learner l = MustCreate(Body("ann@x.io"));
  ASSERT_TRUE(Erase(l.id).ok());
  auto created = EventsOfType("learner.created");
  ASSERT_EQ(created.size(), 2u);
  EXPECT_EQ(created[0].data(), LearnerJson(other));
}

TEST_F(LearnersTest, EraseKeepsANullUsernameNull) {
  Learner l = MustCreate(Body("ann@x.io"));
  auto r = Erase(l.id);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->username, std::nullopt);
  EXPECT_EQ(r->email, "erased");
  EXPECT_TRUE(EventsOfType("learner.created")[0].data().at("username").is_null());
}

TEST_F(LearnersTest, EraseReplacesAGivenUsername) {
  json::object b = Body("ann@x.io");
  b["username"] = "annl";
  Learner l = MustCreate(b);
  ASSERT_TRUE(Erase(l.id).ok());
  EXPECT_EQ(EventsOfType("learner.created")[0].data().at("username"), "erased");
}

TEST_F(LearnersTest, ErasedLearnersEmailIsReusable) {
  Learner l = MustCreate(Body("ann@x.io"));
  ASSERT_TRUE(Erase(l.id).ok());
  EXPECT_TRUE(Create(Body("ann@x.io")).ok());
}

// ---------------------------------------------------------------------------------------------
// Bulk upsert

TEST_F(LearnersTest, BulkCreatesANewLearnerWith201) {
  auto r = Bulk({Body("ann@x.io")});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].status, 201);
  ASSERT_TRUE((*r)[0].id.has_value());
  EXPECT_TRUE(Get(*(*r)[0].id).ok());
}

TEST_F(LearnersTest, BulkUpdatesALearnerMatchedByEmailWith200) {
  Learner l = MustCreate(Body("ann@x.io"));
  auto r = Bulk({Body("ANN@x.io", "Annie")});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].status, 200);
  EXPECT_EQ((*r)[0].id, l.id);
  EXPECT_EQ(Get(l.id)->firstname, "Annie");
}

TEST_F(LearnersTest, BulkUpdatesALearnerMatchedByExternalIdWith200) {
  json::object b = Body("ann@x.io");
  b["external_id"] = "HR-1";
  Learner l = MustCreate(b);
  json::object item = Body("new@x.io");
  item["external_id"] = "HR-1";
  auto r = Bulk({item});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].status, 200);
  EXPECT_EQ((*r)[0].id, l.id);
  EXPECT_EQ(Get(l.id)->email, "new@x.io");
}

TEST_F(LearnersTest, BulkRefusesAnInvalidItemWith422AndKeepsTheOthers) {
  json::object bad = Body("not-an-email");
  auto r = Bulk({Body("a@x.io"), bad, json::value(3), Body("b@x.io")});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].status, 201);
  EXPECT_EQ((*r)[1].status, 422);
  ASSERT_EQ((*r)[1].errors.size(), 1u);
  EXPECT_EQ((*r)[1].errors[0].field, "email");
  EXPECT_EQ((*r)[2].status, 422);
  EXPECT_EQ((*r)[3].status, 201);
  EXPECT_EQ(EventsOfType("learner.created").size(), 2u);
}

TEST_F(LearnersTest, BulkRefusesTheSameLearnerTwiceInOneCallWith409ForTheSecond) {
  auto r = Bulk({Body("ann@x.io"), Body("Ann@X.io", "Annie")});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].status, 201);
  EXPECT_EQ((*r)[1].status, 409);
  EXPECT_EQ(Get(*(*r)[0].id)->firstname, "Ann");
}

TEST_F(LearnersTest, BulkRefusesAnExistingLearnerTwiceInOneCallWith409ForTheSecond) {
  Learner l = MustCreate(Body("ann@x.io"));
  auto r = Bulk({Body("ann@x.io", "One"), Body("ann@x.io", "Two")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].status, 200);
  EXPECT_EQ((*r)[1].status, 409);
  EXPECT_EQ(Get(l.id)->firstname, "One");
}

TEST_F(LearnersTest, BulkRefusesAnItemWhoseExternalIdAndEmailMatchTwoLearnersWith409) {
  json::object a = Body("a@x.io");
  a["external_id"] = "HR-1";
  Learner la = MustCreate(a);
  Learner lb = MustCreate(Body("b@x.io"));
  json::object item = Body("b@x.io", "Changed");
  item["external_id"] = "HR-1";
  auto r = Bulk({item});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].status, 409);
  EXPECT_EQ(Get(la.id)->firstname, "Ann");
  EXPECT_EQ(Get(lb.id)->firstname, "Ann");
  EXPECT_EQ(Events().size(), 2u);
}

TEST_F(LearnersTest, BulkEventsCarryTheBulkId) {
  Learner l = MustCreate(Body("ann@x.io"));
  ASSERT_TRUE(Bulk({Body("ann@x.io", "Annie"), Body("bob@x.io")}).ok());
  auto events = Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].type, "learner.updated");
  EXPECT_EQ(events[1].data().at("bulk_id"), "blk_TEST");
  EXPECT_EQ(events[2].type, "learner.created");
  EXPECT_EQ(events[2].data().at("bulk_id"), "blk_TEST");
  EXPECT_EQ(events[1].data().at("id"), json::value(l.id));
}

TEST_F(LearnersTest, BulkNeverMatchesADeletedLearner) {
  Learner l = MustCreate(Body("ann@x.io"));
  ASSERT_TRUE(Delete(l.id).ok());
  auto r = Bulk({Body("ann@x.io")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].status, 201);
  EXPECT_NE((*r)[0].id, l.id);
}

// ---------------------------------------------------------------------------------------------
// Lists: counts, paging, order

class LearnerListTest : public LearnersTest {
 protected:
  // The count the list reports, checked against the rows it lists and an uncached count.
  std::optional<int64_t> CheckedCount(bool include_deleted) {
    ListQuery q = LearnerListQuery(org_id_, {});
    q.include_deleted = include_deleted;
    q.limit = 500;
    EXPECT_TRUE(q.counted_resource.has_value());
    ListPage page = List(q);
    EXPECT_EQ(page.count, static_cast<int64_t>(page.items.size()))
        << (include_deleted ? "with" : "without") << " include_deleted";
    ListQuery uncached = q;
    uncached.counted_resource.reset();
    EXPECT_EQ(page.count, List(uncached).count);
    return page.count;
  }
};

TEST_F(LearnerListTest, CountOfAnEmptyOrganizationIsZero) {
  EXPECT_EQ(CheckedCount(false), 0);
  EXPECT_EQ(CheckedCount(true), 0);
}

TEST_F(LearnerListTest, CountFollowsCreatesDeletesAndErasures) {
  std::vector<Learner> ls;
  for (int i = 0; i < 6; ++i) {
    ls.push_back(MustCreate(Body("l" + std::to_string(i) + "@x.io")));
  }
  EXPECT_EQ(CheckedCount(false), 6);
  ASSERT_TRUE(Delete(ls[0].id).ok());
  EXPECT_EQ(CheckedCount(false), 5);
  ASSERT_TRUE(Erase(ls[1].id).ok());  // a live learner
  EXPECT_EQ(CheckedCount(false), 4);
  ASSERT_TRUE(Erase(ls[0].id).ok());  // an already deleted one
  EXPECT_EQ(CheckedCount(false), 4);
  ASSERT_TRUE(Ban(ls[2].id, true).ok());
  ASSERT_TRUE(Update(ls[3].id, Obj(R"({"firstname": "Z"})")).ok());
  EXPECT_EQ(CheckedCount(false), 4);
  EXPECT_EQ(CheckedCount(true), 6);
}

TEST_F(LearnerListTest, CountFollowsBulkUpsertsWithFailingItems) {
  MustCreate(Body("a@x.io"));
  auto r = Bulk({Body("b@x.io"), Body("bad"), Body("a@x.io", "A2"), Body("B@x.io")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(CheckedCount(false), 2);
  EXPECT_EQ(CheckedCount(true), 2);
}

TEST_F(LearnerListTest, CountIgnoresAFailedCreate) {
  MustCreate(Body("a@x.io"));
  EXPECT_FALSE(Create(Body("A@x.io")).ok());
  EXPECT_EQ(CheckedCount(false), 1);
}

TEST_F(LearnerListTest, IncludeDeletedListsTombstonesOfDeletedAndErasedLearners) {
  Learner a = MustCreate(Body("a@x.io"));
  Learner b = MustCreate(Body("b@x.io"));
  Learner c = MustCreate(Body("c@x.io"));
  ASSERT_TRUE(Delete(a.id).ok());
  ASSERT_TRUE(Erase(b.id).ok());
  ListQuery q = LearnerListQuery(org_id_, {});
  q.include_deleted = true;
  ListPage page = List(q);
  ASSERT_EQ(page.items.size(), 3u);
  EXPECT_TRUE(!json::parse(page.items[0].json).at("deleted_at").is_null());
  EXPECT_TRUE(!json::parse(page.items[1].json).at("deleted_at").is_null());
  EXPECT_FALSE(!json::parse(page.items[2].json).at("deleted_at").is_null());
  EXPECT_EQ(page.items[2].position.id, c.id);
}

TEST_F(LearnerListTest, PagingForwardThenBackwardVisitsEveryLearnerOnceInIdOrder) {
  std::vector<std::string> all;
  for (int i = 0; i < 8; ++i) {
    all.push_back(MustCreate(Body("l" + std::to_string(i) + "@x.io")).id);
    clock_.Advance(milliseconds(i % 2));  // some share a millisecond
  }
  ASSERT_TRUE(std::is_sorted(all.begin(), all.end()));
  ListQuery q = LearnerListQuery(org_id_, {});
  q.limit = 3;
  std::vector<std::string> forward;
  std::vector<std::vector<std::string>> pages;
  std::optional<ListCursor> cursor;
  for (int guard = 0; guard < 10; ++guard) {
    q.cursor = cursor;
    ListPage page = List(q);
    EXPECT_EQ(page.count, 8);
    EXPECT_EQ(page.more_before, cursor.has_value());
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < page.items.size(); ++i) {
      ids.push_back(page.items[i].position.id);
    }
    forward.insert(forward.end(), ids.begin(), ids.end());
    pages.push_back(ids);
    if (!page.more_after) {
      break;
    }
    cursor = ListCursor{true, 0, ids.back()};
  }
  EXPECT_EQ(forward, all);
  ASSERT_EQ(pages.size(), 3u);

  // Back from the last page's first item to the start.
  std::vector<std::string> backward = pages.back();
  std::string before = pages.back().front();
  for (int guard = 0; guard < 10; ++guard) {
    q.cursor = ListCursor{false, 0, before};
    ListPage page = List(q);
    EXPECT_TRUE(page.more_after);
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < page.items.size(); ++i) {
      ids.push_back(page.items[i].position.id);
    }
    ASSERT_FALSE(ids.empty());
    backward.insert(backward.begin(), ids.begin(), ids.end());
    if (!page.more_before) {
      break;
    }
    before = ids.front();
  }
  EXPECT_EQ(backward, all);
}

TEST_F(LearnerListTest, UpdatedSinceListsByUpdatedAtThenId) {
  int64_t t0 = Now();
  Learner old = MustCreate(Body("old@x.io"));
  clock_.Advance(seconds(1));
  int64_t since = Now();
  Learner a = MustCreate(Body("a@x.io"));
  Learner b = MustCreate(Body("b@x.io"));  // same millisecond as a
  clock_.Advance(seconds(1));
  Learner c = MustCreate(Body("c@x.io"));
  clock_.Advance(seconds(1));
  ASSERT_TRUE(Update(a.id, Obj(R"({"firstname": "Later"})")).ok());
  ASSERT_GT(since, t0);

  LearnerFilter f;
  f.updated_since = since;
  ListQuery q = LearnerListQuery(org_id_, f);
  EXPECT_EQ(q.order, ListOrder::kByUpdated);
  ListPage page = List(q);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    ids.push_back(page.items[i].position.id);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{b.id, c.id, a.id}));
  EXPECT_EQ(page.count, 3);

  // Resuming after b by (updated_at, id).
  Learner b_now = *Get(b.id);
  q.cursor = ListCursor{true, b_now.updated_at, b_now.id};
  page = List(q);
  ids.clear();
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    ids.push_back(page.items[i].position.id);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{c.id, a.id}));
  (void)old;
}

TEST_F(LearnerListTest, UpdatedSincePagingBackwardReturnsTheEarlierItemsInOrder) {
  int64_t since = Now();
  std::vector<std::string> order;
  for (int i = 0; i < 5; ++i) {
    order.push_back(MustCreate(Body("l" + std::to_string(i) + "@x.io")).id);
    clock_.Advance(milliseconds(i == 2 ? 0 : 10));  // l2 and l3 share updated_at
  }
  // l0 moves to the end.
  ASSERT_TRUE(Update(order[0], Obj(R"({"firstname": "Moved"})")).ok());
  std::rotate(order.begin(), order.begin() + 1, order.end());
  LearnerFilter f;
  f.updated_since = since;
  ListQuery q = LearnerListQuery(org_id_, f);
  Learner last = *Get(order.back());
  q.cursor = ListCursor{false, last.updated_at, last.id};
  q.limit = 3;
  ListPage page = List(q);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    ids.push_back(page.items[i].position.id);
  }
  EXPECT_EQ(ids, (std::vector<std::string>(order.begin() + 1, order.begin() + 4)));
  EXPECT_TRUE(page.more_before);
}

}  // namespace
}  // namespace learnwire::domain
