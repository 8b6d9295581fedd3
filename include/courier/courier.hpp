// The umbrella header: everything in courier's core.
#pragma once

#include "courier/bus.hpp"
#include "courier/bus_options.hpp"
#include "courier/channel.hpp"
#include "courier/channel_bridge.hpp"
#include "courier/channel_options.hpp"
#include "courier/clock.hpp"
#include "courier/consumer.hpp"
#include "courier/delivery.hpp"
#include "courier/delivery_receipt.hpp"
#include "courier/error.hpp"
#include "courier/event_name.hpp"
#include "courier/event_ref.hpp"
#include "courier/idempotent_store.hpp"
#include "courier/message_id.hpp"
#include "courier/subscription.hpp"
