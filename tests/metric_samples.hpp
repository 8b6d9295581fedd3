// Reading one sample out of a metrics_registry's read(), for the tests of
// each component's figures.
#pragma once

#include "courier/metrics.hpp"

#include <stdexcept>
#include <string>

namespace courier_test {

// The sample of family name whose label has value (any sample when label
// is empty). Throws when there is none, naming what was looked for.
inline const courier::metric_sample& sample_of(const courier::metric_set& metrics, const std::string& name,
                                               const std::string& label = {}, const std::string& value = {}) {
  const auto* family = metrics.find(name);
  if (family == nullptr) throw std::runtime_error("no family " + name);
  for (const auto& sample : family->samples) {
    if (label.empty()) return sample;
    for (const auto& [key, text] : sample.labels) {
      if (key == label && text == value) return sample;
    }
  }
  throw std::runtime_error("no sample of " + name + " with " + label + "=" + value);
}

// The value of a destination's sample (label messaging_destination_name).
inline double value_of(const courier::metric_set& metrics, const std::string& name,
                       const std::string& destination) {
  return sample_of(metrics, name, "messaging_destination_name", destination).value;
}

}  // namespace courier_test
