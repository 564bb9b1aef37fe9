#include "http/router.h"

#include <gtest/gtest.h>

namespace learnwire::http {
namespace {

Handler Named(std::string name) {
  return [name](Request&) { return JsonResponse(200, name); };
}

std::string Call(const Router::Match& match) {
  Request request;
  return (*match.handler)(request).body;
}

TEST(RouterTest, MatchesExactPath) {
  Router router;
  router.Add("GET", "/healthz", Named("health"));
  Router::Match match = router.Find("GET", "/healthz");
  ASSERT_EQ(match.kind, Router::Match::Kind::kFound);
  EXPECT_EQ(Call(match), "health");
  EXPECT_EQ(match.route, "/healthz");
}

TEST(RouterTest, ExtractsParameters) {
  Router router;
  router.Add("GET", "/api/v1/courses/{course_id}/lessons/{id}", Named("lesson"));
  Router::Match match = router.Find("GET", "/api/v1/courses/crs_1/lessons/les_2");
  ASSERT_EQ(match.kind, Router::Match::Kind::kFound);
  EXPECT_EQ(match.params.at("course_id"), "crs_1");
  EXPECT_EQ(match.params.at("id"), "les_2");
  EXPECT_EQ(match.route, "/api/v1/courses/{course_id}/lessons/{id}");
}

TEST(RouterTest, RouteNameOverridesPatternAsLabel) {
  Router router;
  router.Add("GET", "/learners/{id}", Named("x"), "learners.get");
  EXPECT_EQ(router.Find("GET", "/learners/lrn_1").route, "learners.get");
}

TEST(RouterTest, StaticSegmentBeatsParameterWhateverTheOrder) {
  Router router;
  router.Add("POST", "/learners/{id}", Named("param"));
  router.Add("POST", "/learners/bulk", Named("bulk"));
  EXPECT_EQ(Call(router.Find("POST", "/learners/bulk")), "bulk");
  EXPECT_EQ(Call(router.Find("POST", "/learners/lrn_1")), "param");
}

TEST(RouterTest, EarlierStaticSegmentIsMoreSpecific) {
  Router router;
  router.Add("GET", "/a/{x}/c", Named("param-first"));
  router.Add("GET", "/{y}/b/c", Named("param-later"));
  EXPECT_EQ(Call(router.Find("GET", "/a/b/c")), "param-first");
}

TEST(RouterTest, UnknownPathIsNotFound) {
  Router router;
  router.Add("GET", "/learners", Named("list"));
  EXPECT_EQ(router.Find("GET", "/groups").kind, Router::Match::Kind::kNotFound);
  EXPECT_EQ(router.Find("GET", "/learners/x").kind, Router::Match::Kind::kNotFound);
}

TEST(RouterTest, TrailingSlashIsNotFound) {
  Router router;
  router.Add("GET", "/a/b", Named("ab"));
  router.Add("GET", "/a/{id}", Named("a-id"));
  EXPECT_EQ(router.Find("GET", "/a/b/").kind, Router::Match::Kind::kNotFound);
  EXPECT_EQ(router.Find("GET", "/a/").kind, Router::Match::Kind::kNotFound);
  EXPECT_EQ(router.Find("GET", "/a//").kind, Router::Match::Kind::kNotFound);
}

TEST(RouterTest, RootPathMatchesOnlyRoot) {
  Router router;
  router.Add("GET", "/", Named("root"));
  EXPECT_EQ(router.Find("GET", "/").kind, Router::Match::Kind::kFound);
  EXPECT_EQ(router.Find("GET", "").kind, Router::Match::Kind::kNotFound);
  EXPECT_EQ(router.Find("GET", "/x").kind, Router::Match::Kind::kNotFound);
}

TEST(RouterTest, WrongMethodIs405WithSortedAllow) {
  Router router;
  router.Add("POST", "/learners", Named("create"));
  router.Add("GET", "/learners", Named("list"));
  router.Add("DELETE", "/learners/{id}", Named("delete"));
  Router::Match match = router.Find("PUT", "/learners");
  EXPECT_EQ(match.kind, Router::Match::Kind::kMethodNotAllowed);
  EXPECT_EQ(match.allow, "GET, POST");
  EXPECT_EQ(match.handler, nullptr);
}

TEST(RouterTest, AllowListsMethodsOfEveryPatternMatchingThePath) {
  Router router;
  router.Add("POST", "/learners/bulk", Named("bulk"));
  router.Add("GET", "/learners/{id}", Named("get"));
  router.Add("PATCH", "/learners/{id}", Named("patch"));
  EXPECT_EQ(router.Find("DELETE", "/learners/bulk").allow, "GET, PATCH, POST");
  // A method only the parameter pattern has still reaches it.
  EXPECT_EQ(Call(router.Find("GET", "/learners/bulk")), "get");
}

TEST(RouterTest, HeadIsNotSpecial) {
  Router router;
  router.Add("GET", "/x", Named("x"));
  EXPECT_EQ(router.Find("HEAD", "/x").kind, Router::Match::Kind::kMethodNotAllowed);
}

TEST(RouterTest, MethodIsCaseSensitive) {
  Router router;
  router.Add("GET", "/x", Named("x"));
  EXPECT_EQ(router.Find("get", "/x").kind, Router::Match::Kind::kMethodNotAllowed);
}

}  // namespace
}  // namespace learnwire::http
