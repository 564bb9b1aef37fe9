// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
// exposition format 0.0.4. Thread-safe. Metrics owns every family it hands out; references stay
// valid for its lifetime. Families are registered at start-up, updated from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace learnwire::http {

// Label names and values in a fixed order, e.g. {{"route", "/healthz"}, {"method", "GET"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  // Adds `n` (>= 0; negative values are ignored) to the series with these labels.
  void Inc(const Labels& labels = {}, double n = 1);
  double Value(const Labels& labels = {}) const;

 private:
  friend class Metrics;
  mutable std::mutex mu_;
  std::map<Labels, double> series_;
};

class Gauge {
 public:
  void Set(const Labels& labels, double value);
  void Set(double value) { Set({}, value); }
  void Add(const Labels& labels, double delta);
  double Value(const Labels& labels = {}) const;

 private:
  friend class Metrics;
  mutable std::mutex mu_;
  std::map<Labels, double> series_;
};

class Histogram {
 public:
  // `bounds`: the upper bounds of the buckets, increasing; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(const Labels& labels, double value);
  // Observations recorded for these labels.
  uint64_t Count(const Labels& labels = {}) const;

 private:
  friend class Metrics;
  struct Series {
    std::vector<uint64_t> buckets;  // per bound, not cumulative; last is +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<Labels, Series> series_;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Registers a family, or returns the existing one of that name and kind. `name` must match
  // [a-zA-Z_:][a-zA-Z0-9_:]*; registering one name with two kinds is a programming error and
  // returns a detached family that is not rendered.
  Counter& AddCounter(const std::string& name, const std::string& help);
  Gauge& AddGauge(const std::string& name, const std::string& help);
  Histogram& AddHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds);

  // One finished HTTP request: learnwire_http_requests_total{route,method,status} and
  // learnwire_http_request_duration_seconds{route}.
  void ObserveRequest(const std::string& route, const std::string& method, int status,
                      double seconds);

  // The whole registry in the Prometheus text format, families in registration order.
  std::string Render() const;

  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";
  static const std::vector<double>& DefaultLatencyBounds();

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family {
    std::string name;
    std::string help;
    Kind kind;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  Family* FindOrAdd(const std::string& name, const std::string& help, Kind kind,
                    std::vector<double> bounds);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
  std::vector<std::unique_ptr<Family>> detached_;
  Counter* requests_total_ = nullptr;
  Histogram* request_duration_ = nullptr;
};

}  // namespace learnwire::http
