// A stream layer that gathers small writes into one. Beast's WebSocket
// stream writes each message with its own write call, so fanning 1,000
// events out to a client costs 1,000 sendmsg calls, and on loopback the
// kernel's TCP path is most of the server's time. Under Beast's stream this
// layer copies each write into a pending buffer and completes it at once.
// The flush is posted, so it runs after the handlers already queued (their
// frames join it), and one write to the next layer is in flight at a time,
// taking everything that gathered meanwhile. An owner writing a queue of
// frames corks the layer until the last one is written (Beast's next write
// waits for a posted completion, so without the cork a burst would leave two
// frames at a time). Nothing waits for a timer, unlike Nagle: a quiet
// connection's frame goes out as soon as the queued handlers have run.
//
// Backpressure: while more than high_water bytes wait, a write is held
// (not completed) until the write in flight finishes, so a slow peer holds
// the writer back as a plain socket would. A failed write to the next layer
// fails every later write with its error. Teardown (after a WebSocket
// close) waits for the pending bytes to leave first.
//
// Reads pass straight through. One write and one read at a time, as for any
// Asio stream; everything runs on the stream's executor (a strand).
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace courier {
inline namespace v1 {
namespace ws::detail {

template <class NextLayer>
class coalescing_stream {
 public:
  using executor_type = typename NextLayer::executor_type;
  using next_layer_type = NextLayer;

  static constexpr std::size_t high_water = 256 * 1024;

  template <class... Args>
  explicit coalescing_stream(Args&&... args) : next_(std::forward<Args>(args)...) {}

  executor_type get_executor() noexcept { return next_.get_executor(); }
  NextLayer& next_layer() noexcept { return next_; }
  const NextLayer& next_layer() const noexcept { return next_; }

  // The object that owns this stream: a write in flight keeps it alive
  // (the writes this layer completed early no longer hold their callers).
  void set_owner(std::weak_ptr<void> owner) { owner_ = std::move(owner); }

  // While corked, writes gather and nothing is flushed (unless past
  // high_water): an owner with a queue of frames corks before writing them
  // one by one and uncorks after the last, so they leave in one write.
  void cork() { ++corked_; }
  void uncork() {
    if (corked_ > 0 && --corked_ == 0) schedule_flush();
  }

  // Room for bytes written directly (below): not failed, under high_water.
  bool has_room() const noexcept { return !failed_ && pending_.size() < high_water; }

  // Appends bytes the owner produced itself, in one piece (a whole frame, so
  // nothing another writer appends can land inside it), to leave with the
  // next flush. Only while has_room(); no completion to wait for.
  void write_directly(std::string_view head, std::string_view body) {
    pending_.append(head).append(body);
    schedule_flush();
  }

  template <class MutableBuffers, class ReadHandler>
  auto async_read_some(const MutableBuffers& buffers, ReadHandler&& handler) {
    return next_.async_read_some(buffers, std::forward<ReadHandler>(handler));
  }

  template <class ConstBuffers, class WriteHandler>
  auto async_write_some(const ConstBuffers& buffers, WriteHandler&& handler) {
    return boost::asio::async_initiate<WriteHandler, void(boost::beast::error_code, std::size_t)>(
        [this](auto completion, const ConstBuffers& data) { write(data, std::move(completion)); }, handler,
        buffers);
  }

  // Called by Beast after a WebSocket close: pending bytes first, then the
  // next layer's own teardown (TCP shutdown, or TLS close_notify).
  template <class TeardownHandler>
  friend void async_teardown(boost::beast::role_type role, coalescing_stream& stream,
                             TeardownHandler&& handler) {
    // The connection is ending: whatever corked it (a queue being written
    // when the peer closed) will not uncork it, so the rest goes out now.
    stream.corked_ = 0;
    stream.schedule_flush();
    stream.when_flushed(
        [&stream, role, handler = std::forward<TeardownHandler>(handler)](boost::beast::error_code) mutable {
          using boost::beast::websocket::async_teardown;
          async_teardown(role, stream.next_, std::move(handler));
        });
  }
  friend void teardown(boost::beast::role_type role, coalescing_stream& stream,
                       boost::beast::error_code& ec) {
    // Synchronous use is not ours (everything here is async); pending bytes,
    // if any, are dropped with the connection.
    using boost::beast::websocket::teardown;
    teardown(role, stream.next_, ec);
  }

 private:
  // A write that waits for room: its buffers stay valid until it completes.
  struct held_write {
    virtual ~held_write() = default;
    virtual void accept(coalescing_stream& stream) = 0;  // copies and completes
    virtual void fail(boost::beast::error_code ec) = 0;
  };

  template <class ConstBuffers, class Handler>
  struct held final : held_write {
    held(const ConstBuffers& data, Handler handler) : data(data), handler(std::move(handler)) {}
    void accept(coalescing_stream& stream) override {
      const std::size_t size = stream.append(data);
      complete(std::move(handler), {}, size);
    }
    void fail(boost::beast::error_code ec) override { complete(std::move(handler), ec, 0); }
    ConstBuffers data;
    Handler handler;
  };

  template <class Handler>
  static void complete(Handler handler, boost::beast::error_code ec, std::size_t size) {
    // Never inline from the initiating call: post to the handler's executor.
    boost::asio::post(boost::beast::bind_front_handler(std::move(handler), ec, size));
  }

  template <class ConstBuffers, class Handler>
  void write(const ConstBuffers& data, Handler handler) {
    if (failed_) return complete(std::move(handler), failed_, 0);
    if (pending_.size() >= high_water && flushing_) {
      held_ = std::make_unique<held<ConstBuffers, Handler>>(data, std::move(handler));
      return;
    }
    const std::size_t size = append(data);
    complete(std::move(handler), {}, size);
    schedule_flush();
  }

  // The flush runs after the handlers already queued on the executor, so
  // the frames they write join this one (one tick's frames, one write).
  void schedule_flush() {
    if (flush_scheduled_ || flushing_ || (corked_ > 0 && pending_.size() < high_water)) return;
    flush_scheduled_ = true;
    boost::asio::post(get_executor(), [this, alive = owner_.lock()] {
      flush_scheduled_ = false;
      flush();
      notify_if_flushed();
    });
  }

  template <class ConstBuffers>
  std::size_t append(const ConstBuffers& data) {
    const std::size_t size = boost::asio::buffer_size(data);
    const std::size_t at = pending_.size();
    pending_.resize(at + size);
    boost::asio::buffer_copy(boost::asio::buffer(pending_.data() + at, size), data);
    return size;
  }

  void flush() {
    if (flushing_ || pending_.empty() || failed_ || (corked_ > 0 && pending_.size() < high_water)) return;
    flushing_ = true;
    in_flight_.swap(pending_);
    pending_.clear();
    boost::asio::async_write(
        next_, boost::asio::buffer(in_flight_),
        [this, alive = owner_.lock()](boost::beast::error_code ec, std::size_t) { on_flushed(ec); });
  }

  void on_flushed(boost::beast::error_code ec) {
    flushing_ = false;
    in_flight_.clear();
    if (ec) {
      failed_ = ec;
      pending_.clear();
      if (auto waiting = std::move(held_)) waiting->fail(ec);
    } else if (auto waiting = std::move(held_)) {
      waiting->accept(*this);
    }
    flush();
    notify_if_flushed();
  }

  void notify_if_flushed() {
    if (flushed_ && !flushing_ && !flush_scheduled_ && pending_.empty())
      std::exchange(flushed_, nullptr)(failed_);
  }

  // Calls done once nothing is pending or in flight.
  template <class Done>
  void when_flushed(Done done) {
    if (!flushing_ && !flush_scheduled_ && pending_.empty()) {
      return boost::asio::post(get_executor(),
                               [done = std::move(done), failed = failed_]() mutable { done(failed); });
    }
    // std::function needs a copyable callable; the handler may be move-only.
    auto shared = std::make_shared<Done>(std::move(done));
    flushed_ = [shared](boost::beast::error_code ec) { (*shared)(ec); };
  }

  NextLayer next_;
  std::weak_ptr<void> owner_;
  std::string pending_;
  std::string in_flight_;
  bool flushing_ = false;
  bool flush_scheduled_ = false;
  int corked_ = 0;
  boost::beast::error_code failed_;
  std::unique_ptr<held_write> held_;
  std::function<void(boost::beast::error_code)> flushed_;
};

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
