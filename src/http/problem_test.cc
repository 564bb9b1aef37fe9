#include "http/problem.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace learnwire::http {
namespace {

boost::json::object Body(const Response& r) { return boost::json::parse(r.body).as_object(); }

TEST(ProblemTest, HasProblemJsonContentType) {
  Response r = Problem(404, "not-found", "no such learner");
  EXPECT_EQ(r.status, 404);
  ASSERT_NE(r.FindHeader("content-type"), nullptr);
  EXPECT_EQ(*r.FindHeader("content-type"), "application/problem+json");
}

TEST(ProblemTest, BodyHasTypeTitleStatusDetail) {
  boost::json::object body = Body(Problem(404, "not-found", "no such learner"));
  EXPECT_EQ(body.at("type").as_string(), "https://learnwire.dev/problems/not-found");
  EXPECT_EQ(body.at("title").as_string(), "Not found");
  EXPECT_EQ(body.at("status").as_int64(), 404);
  EXPECT_EQ(body.at("detail").as_string(), "no such learner");
  EXPECT_FALSE(body.contains("errors"));
  EXPECT_EQ(body.size(), 4u);
}

TEST(ProblemTest, ValidationCarriesFieldErrorsInOrder) {
  Response r = Problem(
      422, "validation", "2 fields are invalid",
      {{"retry_policy.max_attempts", "must be between 1 and 100"}, {"url", "must be https"}});
  boost::json::object body = Body(r);
  EXPECT_EQ(body.at("title").as_string(), "Invalid request");
  const boost::json::array& errors = body.at("errors").as_array();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].at("field").as_string(), "retry_policy.max_attempts");
  EXPECT_EQ(errors[0].at("message").as_string(), "must be between 1 and 100");
  EXPECT_EQ(errors[1].at("field").as_string(), "url");
}

TEST(ProblemTest, EscapesDetail) {
  std::string detail = "quote \" backslash \\ newline \n ctl \x01";
  boost::json::object body = Body(Problem(400, "malformed", detail));
  EXPECT_EQ(body.at("detail").as_string(), detail);
}

TEST(ProblemTest, KeysComeInDocumentedOrder) {
  Response r = Problem(409, "conflict", "x");
  EXPECT_EQ(r.body.find("{\"type\":"), 0u);
  EXPECT_LT(r.body.find("\"title\""), r.body.find("\"status\""));
  EXPECT_LT(r.body.find("\"status\""), r.body.find("\"detail\""));
}

TEST(ResponseTest, SetHeaderReplacesCaseInsensitively) {
  Response r;
  r.SetHeader("Content-Type", "text/plain");
  r.SetHeader("content-type", "application/json");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(*r.FindHeader("content-type"), "application/json");
}

TEST(ResponseTest, FindHeaderIsNullWhenAbsent) {
  Response r = JsonResponse(201, "{}");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(*r.FindHeader("content-type"), "application/json");
  EXPECT_EQ(r.FindHeader("location"), nullptr);
}

TEST(RequestTest, HeaderReturnsFirstValueOrEmpty) {
  Request request;
  request.headers.emplace("accept", "a");
  request.headers.emplace("accept", "b");
  EXPECT_EQ(request.Header("accept"), "a");
  EXPECT_EQ(request.Header("missing"), "");
  EXPECT_TRUE(request.HasHeader("accept"));
}

}  // namespace
}  // namespace learnwire::http
