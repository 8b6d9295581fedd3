// courier/metrics.hpp: what courier's components count, read when asked.
//
// Design. A component given a metrics_registry adds a collector to it: a
// function that, when the registry is read, reports the component's
// figures as metric families (counters, gauges, histograms). Most figures
// are counts a component keeps anyway under its own lock (a channel's
// engine counts every send, delivery and ack), so reading them at scrape
// time costs the hot path nothing: no lock, no atomic, no branch is added
// to a send or a receive for metrics. A scrape takes each component's lock
// once, for as long as a stats() call.
//
// Names follow the OpenTelemetry messaging semantic conventions where they
// define one (messaging.client.sent.messages becomes
// messaging_client_sent_messages_total, messaging.destination.name the
// label messaging_destination_name), mapped to Prometheus' rules; courier's
// own figures are named courier_<component>_<what>. render_prometheus()
// (courier/prometheus.hpp) writes the text exposition format.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace courier {
inline namespace v1 {

enum class metric_type {
  counter,    // only grows (a count since the component was made)
  gauge,      // goes up and down (messages waiting now)
  histogram,  // a distribution: cumulative bucket counts, sum and count
};

// One labelled value of a family.
struct metric_sample {
  std::vector<std::pair<std::string, std::string>> labels = {};
  double value = 0;  // counter, gauge
  // histogram only: (upper bound, observations <= it), ascending; the
  // +Inf bucket is count
  std::vector<std::pair<double, std::uint64_t>> buckets = {};
  double sum = 0;
  std::uint64_t count = 0;
};

// A metric and its samples: one per labelled instance (one per channel).
struct metric_family {
  std::string name;  // Prometheus rules: [a-zA-Z_:][a-zA-Z0-9_:]*; counters end in _total
  std::string help;
  metric_type type = metric_type::gauge;
  std::vector<metric_sample> samples = {};
};

// Families reported by one or more collectors, merged by name.
class metric_set {
 public:
  // Adds a sample to the family name, made with help and type if new.
  void add(const std::string& name, metric_type type, const std::string& help, metric_sample sample) {
    for (auto& family : families_) {
      if (family.name == name) {
        family.samples.push_back(std::move(sample));
        return;
      }
    }
    families_.push_back({name, help, type, {std::move(sample)}});
  }

  // Adds a counter's or a gauge's value for one labelled instance.
  void add(const std::string& name, metric_type type, const std::string& help,
           const std::vector<std::pair<std::string, std::string>>& labels, double value) {
    add(name, type, help, metric_sample{.labels = labels, .value = value});
  }

  // Adds counters and gauges that all carry labels (which must outlive
  // it): add(name, type, help, value). How a component reports its figures.
  class labelled {
   public:
    labelled(metric_set& out, const std::vector<std::pair<std::string, std::string>>& labels)
        : out_(out), labels_(labels) {}
    void operator()(const std::string& name, metric_type type, const std::string& help, double value) const {
      out_.add(name, type, help, labels_, value);
    }

   private:
    metric_set& out_;
    const std::vector<std::pair<std::string, std::string>>& labels_;
  };

  const std::vector<metric_family>& families() const noexcept { return families_; }

  // The family named name, or null.
  const metric_family* find(const std::string& name) const noexcept {
    for (const auto& family : families_) {
      if (family.name == name) return &family;
    }
    return nullptr;
  }

 private:
  std::vector<metric_family> families_;
};

class metrics_registry {
 public:
  // Adds its figures to the set it is given. Called with the registry's
  // lock held, from whichever thread reads the registry: it may take its
  // component's lock, and must not call into the registry.
  using collector = std::function<void(metric_set&)>;

  // Keeps a collector registered; removes it when destroyed (waiting for a
  // read in progress to finish, so the collector never runs after that).
  class registration {
   public:
    registration() = default;
    registration(registration&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)), entry_(other.entry_) {}
    registration& operator=(registration&& other) noexcept {
      if (this != &other) {
        reset();
        owner_ = std::exchange(other.owner_, nullptr);
        entry_ = other.entry_;
      }
      return *this;
    }
    ~registration() { reset(); }
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;

    // Removes the collector now. Idempotent.
    void reset() {
      if (owner_ == nullptr) return;
      std::lock_guard lock(owner_->mutex_);
      owner_->collectors_.erase(entry_);
      owner_ = nullptr;
    }

   private:
    friend class metrics_registry;
    registration(metrics_registry* owner, std::list<collector>::iterator entry)
        : owner_(owner), entry_(entry) {}
    metrics_registry* owner_ = nullptr;
    std::list<collector>::iterator entry_;
  };

  metrics_registry() = default;
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  // Registers collect until the returned registration is destroyed, which
  // must happen before the registry is. Thread-safe.
  [[nodiscard]] registration add(collector collect) {
    std::lock_guard lock(mutex_);
    collectors_.push_back(std::move(collect));
    return registration(this, std::prev(collectors_.end()));
  }

  // Every registered component's figures, now. Thread-safe.
  metric_set read() const {
    metric_set out;
    std::lock_guard lock(mutex_);
    for (const auto& collect : collectors_) collect(out);
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::list<collector> collectors_;
};

}  // namespace v1
}  // namespace courier
