// The umbrella header: everything in courier's core.
#pragma once

#include "courier/bus.hpp"
#include "courier/bus_options.hpp"
#include "courier/error.hpp"
#include "courier/event_name.hpp"
#include "courier/event_ref.hpp"
#include "courier/subscription.hpp"
