// Forward declarations of courier's core types, for headers that only name them.
#pragma once

namespace courier {
inline namespace v1 {

struct multi_threaded;
struct single_threaded;
struct snapshot_multi_threaded;
struct snapshot_single_threaded;
template <class ThreadingPolicy>
class basic_bus;
using bus = basic_bus<multi_threaded>;
using bus_st = basic_bus<single_threaded>;
using snapshot_bus = basic_bus<snapshot_multi_threaded>;
using snapshot_bus_st = basic_bus<snapshot_single_threaded>;

class subscription;
struct subscription_id;
class event_ref;
class error;
enum class errc;
struct bus_options;
template <class Event>
struct subscribe_options;

template <class T>
class channel;
template <class T>
class delivery;
template <class T>
struct channel_options;
struct send_options;
struct send_result;
struct message_id;
struct receipt;
class delivery_receipt;
class consumer;
class clock;
class manual_clock;

}  // namespace v1
}  // namespace courier
