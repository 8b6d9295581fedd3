// Boost.JSON's implementation, compiled once into courier::json (Debian
// ships Boost.JSON as headers; this is its documented header-only mode).
#include <boost/json/src.hpp>
