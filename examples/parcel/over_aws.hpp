// The parcel service as separate processes over SNS and SQS: vendors, the
// dispatch hub and drivers each run alone, each service with its own queue
// on one FIFO topic, the way it would run on several machines.
//
//   vendor ──pickup──▶ topic ──▶ drivers queue ──▶ driver processes (dana, eli; DynamoDB applies each pickup
//   once)
//     ▲                  │ ◀──delivered── driver        │
//     │ receipt          ├──▶ hub queue ──▶ hub (the logbook: everything, in order, once)
//     └──────────────────┴──▶ vendor queue ──▶ vendor (thanks the driver, on the topic)
//
// The launcher sets up the topic, the queues (subscribe_queue) and the
// DynamoDB table, starts every role as a process of this same program, and
// takes its verdict from them: each vendor checks that every pickup got its
// drivers' receipt and was delivered and thanked; the hub checks that every
// parcel was delivered once, in each vendor's order. Then it removes what
// it made (or, with faults::keep, names it for a checker to read).
#pragma once

#include <string>
#include <vector>

namespace parcel_service::over_aws {

struct role_settings {
  std::string endpoint;  // moto_server or AWS (empty: the AWS configuration chain)
  std::string run;       // names this run's topic, queues and table
  std::string name;      // the driver's or vendor's name
  int parcels = 0;       // per vendor
  std::vector<std::string> vendors;
};

// What the launcher does to the run, and leaves behind.
struct faults {
  int kills = 0;      // drivers killed with SIGKILL (and started again) while vendors ship
  unsigned seed = 1;  // picks the moments and the drivers
  bool keep = false;  // leave topic, queues and table, named on a "kept: {json}" line
};

// The launcher: exit code 0 when every check held.
int run(const std::string& endpoint, int parcels, const std::vector<std::string>& vendors,
        const faults& chaos = {});

// One role ("hub", "driver", "vendor") in this process.
int run_role(const std::string& role, const role_settings& settings);

}  // namespace parcel_service::over_aws
