#include "http/metrics.h"

#include <gtest/gtest.h>

namespace learnwire::http {
namespace {

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(MetricsTest, RequestCounterHasHelpTypeAndLabels) {
  Metrics metrics;
  metrics.ObserveRequest("/api/v1/learners", "GET", 200, 0.003);
  metrics.ObserveRequest("/api/v1/learners", "GET", 200, 0.004);
  std::string text = metrics.Render();
  EXPECT_TRUE(Contains(text, "# HELP learnwire_http_requests_total "));
  EXPECT_TRUE(Contains(text, "# TYPE learnwire_http_requests_total counter\n"));
  EXPECT_TRUE(Contains(text,
                       "learnwire_http_requests_total{route=\"/api/v1/"
                       "learners\",method=\"GET\",status=\"200\"} 2\n"));
}

TEST(MetricsTest, DurationHistogramIsCumulativeWithSumAndCount) {
  Metrics metrics;
  metrics.ObserveRequest("/r", "GET", 200, 0.0007);
  metrics.ObserveRequest("/r", "GET", 200, 0.3);
  metrics.ObserveRequest("/r", "GET", 500, 10);
  std::string text = metrics.Render();
  const std::string n = "learnwire_http_request_duration_seconds";
  EXPECT_TRUE(Contains(text, "# TYPE " + n + " histogram\n"));
  EXPECT_TRUE(Contains(text, n + "_bucket{route=\"/r\",le=\"0.0005\"} 0\n"));
  EXPECT_TRUE(Contains(text, n + "_bucket{route=\"/r\",le=\"0.001\"} 1\n"));
  EXPECT_TRUE(Contains(text, n + "_bucket{route=\"/r\",le=\"0.25\"} 1\n"));
  EXPECT_TRUE(Contains(text, n + "_bucket{route=\"/r\",le=\"0.5\"} 2\n"));
  EXPECT_TRUE(Contains(text, n + "_bucket{route=\"/r\",le=\"5\"} 2\n"));
  EXPECT_TRUE(Contains(text, n + "_bucket{route=\"/r\",le=\"+Inf\"} 3\n"));
  const std::string sum_prefix = n + "_sum{route=\"/r\"} ";
  std::size_t sum = text.find(sum_prefix);
  ASSERT_NE(sum, std::string::npos);
  EXPECT_NEAR(std::stod(text.substr(sum + sum_prefix.size())), 10.3007, 1e-9);
  EXPECT_TRUE(Contains(text, n + "_count{route=\"/r\"} 3\n"));
}

TEST(MetricsTest, BucketBoundIsInclusive) {
  Metrics metrics;
  Histogram& h = metrics.AddHistogram("h_seconds", "h", {1, 2});
  h.Observe({}, 1);
  std::string text = metrics.Render();
  EXPECT_TRUE(Contains(text, "h_seconds_bucket{le=\"1\"} 1\n"));
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Metrics metrics;
  Counter& c = metrics.AddCounter("x_total", "line one\nback\\slash");
  c.Inc({{"v", "a\"b\\c\nd"}});
  std::string text = metrics.Render();
  EXPECT_TRUE(Contains(text, "# HELP x_total line one\\nback\\\\slash\n"));
  EXPECT_TRUE(Contains(text, "x_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST(MetricsTest, CounterWithoutLabelsHasNoBraces) {
  Metrics metrics;
  metrics.AddCounter("events_created_total", "Events created.").Inc({}, 3);
  EXPECT_TRUE(Contains(metrics.Render(), "\nevents_created_total 3\n"));
}

TEST(MetricsTest, GaugeSetsAndRendersFractions) {
  Metrics metrics;
  Gauge& g = metrics.AddGauge("queue_depth", "Deliveries due.");
  g.Set({{"state", "scheduled"}}, 7);
  g.Set({{"state", "scheduled"}}, 2.5);
  std::string text = metrics.Render();
  EXPECT_TRUE(Contains(text, "# TYPE queue_depth gauge\n"));
  EXPECT_TRUE(Contains(text, "queue_depth{state=\"scheduled\"} 2.5\n"));
}

TEST(MetricsTest, RegisteringTwiceReturnsTheSameFamily) {
  Metrics metrics;
  Counter& a = metrics.AddCounter("c_total", "c");
  Counter& b = metrics.AddCounter("c_total", "c");
  EXPECT_EQ(&a, &b);
  a.Inc();
  EXPECT_EQ(b.Value(), 1);
}

TEST(MetricsTest, ClashingOrInvalidNamesAreNotRendered) {
  Metrics metrics;
  metrics.AddCounter("dup", "counter").Inc();
  metrics.AddGauge("dup", "gauge").Set(5);
  metrics.AddGauge("bad name", "gauge").Set(5);
  std::string text = metrics.Render();
  EXPECT_FALSE(Contains(text, "gauge"));
  EXPECT_FALSE(Contains(text, "bad name"));
}

TEST(MetricsTest, CountersIgnoreNegativeIncrements) {
  Metrics metrics;
  Counter& c = metrics.AddCounter("n_total", "n");
  c.Inc({}, 2);
  c.Inc({}, -1);
  EXPECT_EQ(c.Value(), 2);
}

TEST(MetricsTest, EveryLineIsCommentOrSample) {
  Metrics metrics;
  metrics.ObserveRequest("/a", "POST", 201, 0.01);
  metrics.AddGauge("g", "gauge").Set(1);
  std::string text = metrics.Render();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    std::string line = text.substr(start, end - start);
    EXPECT_FALSE(line.empty());
    if (line[0] != '#') {
      EXPECT_NE(line.rfind(' '), std::string::npos) << line;
    }
    start = end + 1;
  }
}

}  // namespace
}  // namespace learnwire::http
