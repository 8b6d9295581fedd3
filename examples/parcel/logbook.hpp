// The parcel service's logbook: what a bus saw of deliveries and thanks,
// and the end-of-run check every version of the service makes (every
// parcel delivered once, each vendor's parcels in the order shipped).
#pragma once

#include "parcel_service.hpp"

#include <courier/bus.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace parcel_service {

// What the bus saw, to check at the end.
class logbook {
 public:
  explicit logbook(courier::bus& bus)
      : on_delivered_(bus.subscribe<delivered>([this](const delivered& d) {
          std::lock_guard lock(mutex_);
          ++delivered_[{d.vendor, d.parcel}];
          order_[d.vendor].push_back(d.parcel);
          changed_.notify_all();
        })),
        on_thanks_(bus.subscribe<thanks>([this](const thanks& t) {
          std::lock_guard lock(mutex_);
          ++thanked_;
          drivers_thanked_[t.driver] += 1;
          changed_.notify_all();
        })) {}

  bool wait_for(std::size_t deliveries, std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return thanked_ >= deliveries; });
  }

  // Prints the summary; true when every parcel was delivered once, in order.
  bool report(const std::vector<std::string>& vendors, int parcels) {
    std::lock_guard lock(mutex_);
    int missing = 0;
    int twice = 0;
    int out_of_order = 0;
    for (const auto& vendor : vendors) {
      for (int parcel = 1; parcel <= parcels; ++parcel) {
        const int times = delivered_[{vendor, parcel}];
        if (times == 0) ++missing;
        if (times > 1) twice += times - 1;
      }
      const auto& order = order_[vendor];
      for (std::size_t i = 1; i < order.size(); ++i) {
        if (order[i] <= order[i - 1]) ++out_of_order;
      }
      fmt::print("  {}: delivered {} parcels in this order: {}\n", vendor, order.size(),
                 fmt::join(order, " "));
    }
    for (const auto& [driver, count] : drivers_thanked_)
      fmt::print("  {} was thanked {} times\n", driver, count);
    fmt::print("missing {}, delivered twice {}, out of order {}, thanks {}\n", missing, twice, out_of_order,
               thanked_);
    return missing == 0 && twice == 0 && out_of_order == 0;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::pair<std::string, int>, int> delivered_;
  std::map<std::string, std::vector<int>> order_;
  std::map<std::string, int> drivers_thanked_;
  std::size_t thanked_ = 0;
  courier::subscription on_delivered_;
  courier::subscription on_thanks_;
};

}  // namespace parcel_service
