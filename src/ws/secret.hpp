// Secrets of the WebSocket adapter: resume tokens (bearer secrets: whoever
// holds one gets the session's events), the server's run id (part of every
// message id, so ids of two runs never collide) and the client's idempotency
// keys for publishes without one (a key another client could guess lets it
// turn this client's publish into a "duplicate" of its own). All of them come
// from OpenSSL's CSPRNG: a PRNG seeded from a few bytes lets whoever sees one
// output compute the next ones offline.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace courier {
inline namespace v1 {
namespace ws::detail {

// `bytes` bytes from OpenSSL's RAND_bytes as unpadded base64url
// (RFC 4648 §5): 32 bytes give 43 characters. Throws courier::error
// (internal_error) if the CSPRNG cannot produce them (it is not seeded).
// Thread-safe.
std::string random_text(std::size_t bytes);

// a == b in time that depends only on their lengths, not on where they
// differ (a secret compared with ==  leaks its prefix to a patient prober).
bool equal_in_constant_time(std::string_view a, std::string_view b) noexcept;

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
