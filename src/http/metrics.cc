#include "http/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace learnwire::http {
namespace {

bool ValidName(const std::string& name) {
  if (name.empty()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) {
      return false;
    }
  }
  return true;
}

// HELP text escapes backslash and newline; label values also escape the double quote.
std::string Escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) {
    return "NaN";
  }
  if (std::isinf(v)) {
    return v > 0 ? "+Inf" : "-Inf";
  }
  return fmt::format("{}", v);
}

// `{a="x",b="y"}` or "" without labels; `extra` (e.g. le) goes last.
std::string FormatLabels(const Labels& labels, const std::pair<std::string, std::string>* extra) {
  if (labels.empty() && extra == nullptr) {
    return "";
  }
  std::string out = "{";
  bool first = true;
  auto append = [&](const std::pair<std::string, std::string>& label) {
    if (!first) {
      out += ',';
    }
    first = false;
    out += label.first;
    out += "=\"";
    out += Escape(label.second, true);
    out += '"';
  };
  for (const auto& label : labels) {
    append(label);
  }
  if (extra != nullptr) {
    append(*extra);
  }
  out += '}';
  return out;
}

void AppendSeries(std::string& out, const std::string& name, const Labels& labels,
                  const std::pair<std::string, std::string>* extra, double value) {
  out += name;
  out += FormatLabels(labels, extra);
  out += ' ';
  out += FormatValue(value);
  out += '\n';
}

}  // namespace

void Counter::Inc(const Labels& labels, double n) {
  if (!(n >= 0)) {
    return;  // counters only go up
  }
  std::lock_guard<std::mutex> lock(mu_);
  series_[labels] += n;
}

double Counter::Value(const Labels& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second;
}

void Gauge::Set(const Labels& labels, double value) {
  std::lock_guard<std::mutex> lock(mu_);
  series_[labels] = value;
}

void Gauge::Add(const Labels& labels, double delta) {
  std::lock_guard<std::mutex> lock(mu_);
  series_[labels] += delta;
}

double Gauge::Value(const Labels& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {}

void Histogram::Observe(const Labels& labels, double value) {
  // The first bucket whose upper bound holds the value; le is inclusive.
  auto bucket = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                         bounds_.begin());
  std::lock_guard<std::mutex> lock(mu_);
  Series& series = series_[labels];
  if (series.buckets.empty()) {
    series.buckets.assign(bounds_.size() + 1, 0);
  }
  ++series.buckets[bucket];
  series.sum += value;
  ++series.count;
}

uint64_t Histogram::Count(const Labels& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.count;
}

const std::vector<double>& Metrics::DefaultLatencyBounds() {
  static const std::vector<double> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,    0.25,  0.5,    1,     2.5,  5};
  return kBounds;
}

Metrics::Metrics() {
  requests_total_ =
      &AddCounter("learnwire_http_requests_total", "HTTP requests by route, method and status.");
  request_duration_ = &AddHistogram("learnwire_http_request_duration_seconds",
                                    "HTTP request latency by route.", DefaultLatencyBounds());
}

Metrics::~Metrics() = default;

Metrics::Family* Metrics::FindOrAdd(const std::string& name, const std::string& help, Kind kind,
                                    std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& family : families_) {
    if (family->name == name && family->kind == kind) {
      return family.get();
    }
  }
  auto family = std::make_unique<Family>();
  family->name = name;
  family->help = help;
  family->kind = kind;
  family->counter = std::make_unique<Counter>();
  family->gauge = std::make_unique<Gauge>();
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(
      std::remove_if(bounds.begin(), bounds.end(), [](double b) { return !std::isfinite(b); }),
      bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  family->histogram = std::make_unique<Histogram>(std::move(bounds));
  Family* result = family.get();
  bool clash = !ValidName(name) || std::any_of(families_.begin(), families_.end(),
                                               [&](const auto& f) { return f->name == name; });
  (clash ? detached_ : families_).push_back(std::move(family));
  return result;
}

Counter& Metrics::AddCounter(const std::string& name, const std::string& help) {
  return *FindOrAdd(name, help, Kind::kCounter, {})->counter;
}

Gauge& Metrics::AddGauge(const std::string& name, const std::string& help) {
  return *FindOrAdd(name, help, Kind::kGauge, {})->gauge;
}

Histogram& Metrics::AddHistogram(const std::string& name, const std::string& help,
                                 std::vector<double> bounds) {
  return *FindOrAdd(name, help, Kind::kHistogram, std::move(bounds))->histogram;
}

void Metrics::ObserveRequest(const std::string& route, const std::string& method, int status,
                             double seconds) {
  requests_total_->Inc({{"route", route}, {"method", method}, {"status", std::to_string(status)}});
  request_duration_->Observe({{"route", route}}, seconds);
}

std::string Metrics::Render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& family : families_) {
    const std::string& name = family->name;
    out += "# HELP " + name + " " + Escape(family->help, false) + "\n";
    switch (family->kind) {
      case Kind::kCounter: {
        out += "# TYPE " + name + " counter\n";
        std::lock_guard<std::mutex> series_lock(family->counter->mu_);
        for (const auto& [labels, value] : family->counter->series_) {
          AppendSeries(out, name, labels, nullptr, value);
        }
        break;
      }
      case Kind::kGauge: {
        out += "# TYPE " + name + " gauge\n";
        std::lock_guard<std::mutex> series_lock(family->gauge->mu_);
        for (const auto& [labels, value] : family->gauge->series_) {
          AppendSeries(out, name, labels, nullptr, value);
        }
        break;
      }
      case Kind::kHistogram: {
        out += "# TYPE " + name + " histogram\n";
        const Histogram& h = *family->histogram;
        std::lock_guard<std::mutex> series_lock(h.mu_);
        for (const auto& [labels, series] : h.series_) {
          uint64_t cumulative = 0;
          for (std::size_t i = 0; i <= h.bounds_.size(); ++i) {
            cumulative += series.buckets[i];
            std::pair<std::string, std::string> le{
                "le", i < h.bounds_.size() ? FormatValue(h.bounds_[i]) : "+Inf"};
            AppendSeries(out, name + "_bucket", labels, &le, static_cast<double>(cumulative));
          }
          AppendSeries(out, name + "_sum", labels, nullptr, series.sum);
          AppendSeries(out, name + "_count", labels, nullptr, static_cast<double>(series.count));
        }
        break;
      }
    }
  }
  return out;
}

}  // namespace learnwire::http
