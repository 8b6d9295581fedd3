// The parcel service: the story courier comes from, as a small library the
// examples share.
//
// A vendor hands parcels to the service (a FIFO channel, one message group
// per vendor, the parcel as idempotency key); a driver takes each pickup,
// publishes in_transit and delivered on the bus; the vendor watches for
// delivered and thanks the driver. What must hold, whatever fails: a parcel
// is delivered once though the vendor retries its request, and a vendor's
// parcels are delivered in the order the vendor shipped them.
#pragma once

#include <courier/bus.hpp>
#include <courier/channel.hpp>

#include <fmt/format.h>
#include <boost/describe.hpp>

#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace parcel_service {

struct pickup {
  std::string vendor;
  int parcel;
};
struct in_transit {
  int parcel;
  std::string driver;
};
struct delivered {
  std::string vendor;
  int parcel;
  std::string driver;
};
struct thanks {
  std::string vendor;
  std::string driver;
  int parcel;
};
// Described, so they travel as JSON (over SQS, in a durable channel's store).
BOOST_DESCRIBE_STRUCT(pickup, (), (vendor, parcel))
BOOST_DESCRIBE_STRUCT(in_transit, (), (parcel, driver))
BOOST_DESCRIBE_STRUCT(delivered, (), (vendor, parcel, driver))
BOOST_DESCRIBE_STRUCT(thanks, (), (vendor, driver, parcel))

using dispatch = courier::channel<pickup>;

inline courier::channel_options<pickup> dispatch_options() { return {.ordering = courier::ordering::fifo}; }

// Ships parcels into the dispatch channel and thanks whoever delivers them.
class vendor {
 public:
  vendor(std::string name, dispatch& orders, courier::bus& bus)
      : name_(std::move(name)),
        orders_(orders),
        bus_(bus),
        watching_(bus.subscribe<delivered>([this](const delivered& d) {
          if (d.vendor == name_) bus_.post(thanks{name_, d.driver, d.parcel});
        })) {}

  // Asks for parcel to be picked up. Safe to call again for the same parcel
  // (a retry after a timeout): the parcel's number is the idempotency key,
  // so a retry is answered as a duplicate and nothing is picked up twice.
  courier::send_result ship(int parcel) {
    return orders_.send(
        pickup{name_, parcel},
        {.group = name_, .idempotency_key = fmt::format("{}/{}", name_, parcel), .track_delivery = true});
  }

 private:
  std::string name_;
  dispatch& orders_;
  courier::bus& bus_;
  courier::subscription watching_;
};

// Takes pickups and delivers them. A pickup can come twice (the driver's
// phone died after delivering, before confirming): the driver remembers
// what it delivered and does not deliver it again.
class driver {
 public:
  driver(std::string name, courier::bus& bus) : name_(std::move(name)), bus_(bus) {}

  // The consumer handler: returning confirms the pickup (the channel acks).
  void operator()(const pickup& p) {
    {
      std::lock_guard lock(mutex_);
      // Parcel numbers are per vendor: the pair names a parcel.
      if (!delivered_.emplace(p.vendor, p.parcel).second)
        return;  // already delivered: confirm again, do nothing
    }
    bus_.publish(in_transit{p.parcel, name_});
    bus_.publish(delivered{p.vendor, p.parcel, name_});
  }

 private:
  std::string name_;
  courier::bus& bus_;
  std::mutex mutex_;
  std::set<std::pair<std::string, int>> delivered_;
};

}  // namespace parcel_service
