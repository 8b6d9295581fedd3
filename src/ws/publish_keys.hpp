// Client publish keys across the nodes of a cluster (docs/websocket.md,
// "Several nodes"): a publish retried on another node with the same key is
// a duplicate there too, answered with the id the first one got.
//
// Each node's topic channel deduplicates its own publishes; across nodes a
// key is claimed in Redis before the publish goes into the channel:
//
//   <prefix>:publish:<topic>:<key>   "pending" while the first publish is
//                                    being accepted (claim_ttl), then its id
//                                    (for the server's dedup_window)
//
// A retry that finds the key pending (the first is being accepted on
// another node this very moment, or that node died in between) is told
// `busy`, to retry with the same key; a node that dies between the claim and
// the id leaves the key pending for claim_ttl only.
//
// Thread-safe.
#pragma once

#include "event_stream.hpp"
#include "redis_connection.hpp"

#include <chrono>
#include <mutex>
#include <string>

namespace courier {
inline namespace v1 {
namespace ws::detail {

class publish_keys {
 public:
  publish_keys(const redis_options& options, std::chrono::milliseconds dedup_window, event_stream& writes);

  struct claim {
    enum class outcome { first, published, pending } what = outcome::first;
    std::string id;  // published: the first publish's id
  };
  // Round trip on the caller's thread. Throws courier::error
  // (storage_failed) when Redis cannot be reached.
  claim claim_key(const std::string& topic, const std::string& key);
  // The claimed publish was accepted with id: retries get it from now on.
  // A round trip before the receipt goes out (through the writer if Redis
  // does not answer).
  void published(const std::string& topic, const std::string& key, const std::string& id);
  // The claimed publish was refused (bad data, a full channel): the key is
  // free again.
  void abandon(const std::string& topic, const std::string& key);

  // How long a claim holds before its publish is accepted.
  static constexpr std::chrono::seconds claim_ttl{10};

 private:
  std::string name(const std::string& topic, const std::string& key) const;

  const std::string prefix_;
  const std::string window_ms_;
  event_stream& writes_;
  std::mutex mutex_;  // guards connection_
  redis_connection connection_;
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
