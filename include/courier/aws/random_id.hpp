// Ids that must never repeat across processes and hosts: courier's id of a
// published event, a lease owner, a delivery receipt's correlation id.
#pragma once

#include <string>

namespace courier {
inline namespace v1 {
namespace aws {

// 128 bits from the kernel's CSPRNG (getrandom), as 32 lowercase hex
// digits: no two processes draw the same one, and none can guess another's.
// Throws courier::error(errc::no_randomness) if the kernel gives none.
// Thread-safe.
std::string random_id();

}  // namespace aws
}  // namespace v1
}  // namespace courier
