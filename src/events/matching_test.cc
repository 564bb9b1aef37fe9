#include "events/matching.h"

#include <gtest/gtest.h>

#include "events/outbox.h"

namespace learnwire::events {
namespace {

Actor Key(const std::string& id) { return {"api_key", id}; }

TEST(TypePatternTest, AcceptsCatalogTypesFamiliesAndStar) {
  EXPECT_TRUE(IsValidTypePattern("*"));
  EXPECT_TRUE(IsValidTypePattern("enrollment.completed"));
  EXPECT_TRUE(IsValidTypePattern("enrollment.*"));
  EXPECT_TRUE(IsValidTypePattern("path_enrollment.*"));
  EXPECT_TRUE(IsValidTypePattern("webhook.*"));
  EXPECT_FALSE(IsValidTypePattern("enrollment.finished"));
  EXPECT_FALSE(IsValidTypePattern("enroll.*"));
  EXPECT_FALSE(IsValidTypePattern("enrollment.completed.*"));
  EXPECT_FALSE(IsValidTypePattern(".*"));
  EXPECT_FALSE(IsValidTypePattern("**"));
  EXPECT_FALSE(IsValidTypePattern("Enrollment.completed"));
  EXPECT_FALSE(IsValidTypePattern(""));
}

TEST(TypePatternTest, FamilyIsTheTextBeforeTheFirstDot) {
  EXPECT_TRUE(TypeMatches({"enrollment.*"}, "enrollment.created"));
  EXPECT_FALSE(TypeMatches({"enrollment.*"}, "path_enrollment.created"));
  EXPECT_TRUE(TypeMatches({"path_enrollment.*"}, "path_enrollment.created"));
  EXPECT_TRUE(TypeMatches({}, "learner.created"));
  EXPECT_TRUE(TypeMatches({"*"}, "webhook.disabled"));
  EXPECT_TRUE(TypeMatches({"course.created", "learner.created"}, "learner.created"));
  EXPECT_FALSE(TypeMatches({"course.created"}, "learner.created"));
}

TEST(MatchesTest, FilterKeysAndTogetherIdsWithinAKeyOr) {
  SubscriptionFilter f;
  f.group_ids = std::vector<std::string>{"grp_A", "grp_B"};
  f.course_ids = std::vector<std::string>{"crs_X"};
  Relations both;
  both.group_ids = {"grp_B"};
  both.course_ids = {"crs_X"};
  EXPECT_TRUE(Matches(f, "enrollment.created", both, Key("key_1")));
  Relations group_only;
  group_only.group_ids = {"grp_A"};
  EXPECT_FALSE(Matches(f, "enrollment.created", group_only, Key("key_1")));
  Relations other_group = both;
  other_group.group_ids = {"grp_C"};
  EXPECT_FALSE(Matches(f, "enrollment.created", other_group, Key("key_1")));
}

TEST(MatchesTest, AnEventWithoutTheRelationAFilterAsksForDoesNotMatch) {
  SubscriptionFilter f;
  f.path_ids = std::vector<std::string>{"pth_1"};
  EXPECT_FALSE(Matches(f, "learner.created", Relations{{"lrn_1"}, {}, {}, {}, {}}, Actor{}));
}

TEST(MatchesTest, SubjectFiltersDoNotApplyToWebhookEvents) {
  SubscriptionFilter f;
  f.group_ids = std::vector<std::string>{"grp_A"};
  EXPECT_TRUE(Matches(f, "webhook.disabled", Relations{}, Actor{}));
  f.event_types = {"learner.*"};
  EXPECT_FALSE(Matches(f, "webhook.disabled", Relations{}, Actor{}));
}

TEST(MatchesTest, ExcludedActorsAreDropped) {
  SubscriptionFilter f;
  f.exclude_actor_ids = {"key_1", "usr_2"};
  EXPECT_FALSE(Matches(f, "learner.created", Relations{}, Key("key_1")));
  EXPECT_FALSE(Matches(f, "learner.created", Relations{}, Actor{"user", "usr_2"}));
  EXPECT_TRUE(Matches(f, "learner.created", Relations{}, Key("key_3")));
  EXPECT_TRUE(Matches(f, "learner.created", Relations{}, Actor{}));
}

TEST(MatchesTest, TypeIsCheckedBeforeFilters) {
  SubscriptionFilter f;
  f.event_types = {"course.*"};
  EXPECT_FALSE(Matches(f, "learner.created", Relations{}, Actor{}));
}

TEST(ParseStoredFilterTest, ReadsWhatTheApiStores) {
  auto f = ParseStoredFilter(R"(["learner.*"])",
                             R"({"group_ids":["grp_1"],"exclude_actor_ids":["key_1"]})");
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->event_types, std::vector<std::string>{"learner.*"});
  ASSERT_TRUE(f->group_ids.has_value());
  EXPECT_EQ(*f->group_ids, std::vector<std::string>{"grp_1"});
  EXPECT_FALSE(f->course_ids.has_value());
  EXPECT_EQ(f->exclude_actor_ids, std::vector<std::string>{"key_1"});
  EXPECT_FALSE(ParseStoredFilter("{", "{}").ok());
  EXPECT_FALSE(ParseStoredFilter("[1]", "{}").ok());
  EXPECT_FALSE(ParseStoredFilter("[]", "[]").ok());
}

TEST(StoredRelationsTest, RoundTripsAndStoresNothingWhenEmpty) {
  EXPECT_FALSE(StoredRelations(Relations{}).has_value());
  Relations r{{"lrn_1"}, {"grp_1", "grp_2"}, {}, {"crs_1"}, {}};
  std::optional<std::string> text = StoredRelations(r);
  ASSERT_TRUE(text.has_value());
  Relations back = ParseStoredRelations(*text);
  EXPECT_EQ(back.learner_ids, r.learner_ids);
  EXPECT_EQ(back.group_ids, r.group_ids);
  EXPECT_TRUE(back.department_ids.empty());
  EXPECT_EQ(back.course_ids, r.course_ids);
  EXPECT_TRUE(ParseStoredRelations("not json").learner_ids.empty());
}

}  // namespace
}  // namespace learnwire::events
