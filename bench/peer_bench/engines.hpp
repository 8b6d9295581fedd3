// The engines courier_peer_bench runs the workload on (workload.hpp): each
// run starts from an empty queue and returns its figures; each throws
// std::runtime_error naming what went wrong (a server that does not answer,
// a message lost, repeated or out of its group's order).
#pragma once

#include "workload.hpp"

#include <filesystem>
#include <string>

namespace courier_peer_bench {

// courier::channel in this process, FIFO, dedup window on: nothing on disk.
result run_courier_memory(const workload& work);
// The same channel kept in SQLite in dir, sync_policy::group_commit: a send
// returns once the transaction holding it is synced to disk.
result run_courier_sqlite(const workload& work, const std::filesystem::path& dir);

// Redis Streams on the redis-server at 127.0.0.1:port, with AOF appendfsync
// set to `appendfsync` ("always" or "everysec") for the run.
result run_redis_streams(const workload& work, int port, const std::string& appendfsync);

// NATS JetStream on the nats-server at 127.0.0.1:port, a stream in
// `storage` ("memory" or "file").
result run_jetstream(const workload& work, int port, const std::string& storage);

}  // namespace courier_peer_bench
