// A client's frames as calls on the hub (see protocol.hpp).
#include "protocol.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace courier {
inline namespace v1 {
namespace ws::detail {

void protocol::handle(std::string_view text, const std::shared_ptr<connection>& self, replies& out) {
  auto decoded = decode_client_frame(text);
  if (auto* refused = std::get_if<frame_error>(&decoded)) {
    auto error = make_error(refused->code, refused->message, refused->ref);
    error.field = refused->field;
    // Before welcome every error is fatal (close_with closes a non-fatal
    // code with 4000); any second hello closes too, however malformed (§7).
    if (!session_) return out.close_with_error(std::move(error));
    if (refused->op == "hello") {
      return out.close_with_error(
          make_error(error_code::unexpected_hello, "hello was already said", refused->ref));
    }
    return refuse(std::move(error), out);
  }
  client_frame& frame = std::get<client_frame>(decoded);
  if (auto* hello = std::get_if<hello_frame>(&frame)) return on_hello(*hello, self, out);
  if (!session_)
    return out.close_with_error(make_error(error_code::not_hello_first, "the first frame must be hello"));
  if (auto* subscribe = std::get_if<subscribe_frame>(&frame)) return on_subscribe(*subscribe, out);
  if (auto* ack = std::get_if<ack_frame>(&frame)) return on_ack(*ack, out);
  if (auto* publish = std::get_if<publish_frame>(&frame)) return on_publish(*publish, self, out);
}

void protocol::refuse(error_frame error, replies& out) {
  counters_.frame_refused(error.code);
  out.send(encode(error));
}

void protocol::on_hello(const hello_frame& hello, const std::shared_ptr<connection>& self, replies& out) {
  if (session_)
    return out.close_with_error(
        make_error(error_code::unexpected_hello, "hello was already said", hello.ref));
  if (options_.authorize && !who_.authenticated) {
    if (!hello.token || !options_.authorize(*hello.token)) {
      return out.close_with_error(
          make_error(error_code::unauthorized, "a valid token is required", hello.ref));
    }
    who_.identity = *hello.token;
    who_.authenticated = true;
  }
  session_ = hub_.attach(self, hello, who_.identity);
}

void protocol::on_subscribe(const subscribe_frame& request, replies& out) {
  // The application's check runs here, outside the hub's lock.
  std::vector<std::string> refused;
  if (!request.unsubscribe && options_.may_subscribe) {
    for (const auto& name : request.topics) {
      if (!options_.may_subscribe(who_.identity, name)) refused.push_back(name);
    }
  }
  auto outcome = hub_.subscribe(session_, request, !refused.empty());
  if (!outcome.unknown.empty() && !request.unsubscribe) {
    auto error = make_error(error_code::unknown_topic,
                            fmt::format("no topic {}", fmt::join(outcome.unknown, ", ")), request.ref);
    error.topics = std::move(outcome.unknown);
    return refuse(std::move(error), out);
  }
  if (!refused.empty()) {
    auto error =
        make_error(error_code::forbidden,
                   fmt::format("not allowed to subscribe to {}", fmt::join(refused, ", ")), request.ref);
    error.topics = std::move(refused);
    return refuse(std::move(error), out);
  }
  out.send(encode(subscribed_frame{
      .unsubscribed = request.unsubscribe, .topics = std::move(outcome.topics), .ref = request.ref}));
}

void protocol::on_ack(const ack_frame& ack, replies& out) {
  const auto outcome = hub_.ack(session_, ack);
  if (!outcome.unknown_ids.empty()) {
    auto error =
        make_error(error_code::unknown_id,
                   fmt::format("ack: {} not sent to this session", outcome.unknown_ids.size()), ack.ref);
    error.ids = outcome.unknown_ids;
    refuse(std::move(error), out);
  }
  if (outcome.unknown_seq) {
    auto error = make_error(error_code::unknown_seq, "ack: upto is above the highest seq sent", ack.ref);
    error.seq = ack.upto;
    refuse(std::move(error), out);
  }
}

void protocol::on_publish(const publish_frame& publish, const std::shared_ptr<connection>& self,
                          replies& out) {
  const auto route = hub_.route(publish.topic);
  if (!route.known || route.publisher == nullptr) {
    auto error =
        route.known
            ? make_error(error_code::forbidden, publish.topic + " is not open to publishing", publish.ref)
            : make_error(error_code::unknown_topic, "no topic " + publish.topic, publish.ref);
    error.topics = {publish.topic};
    return refuse(std::move(error), out);
  }
  // Several nodes: the key is claimed cluster-wide first, so a retry that
  // lands on another node is a duplicate there too (publish_keys.hpp).
  publish_keys* keys = publish.key ? hub_.cluster_publish_keys() : nullptr;
  if (keys != nullptr) {
    publish_keys::claim claim;
    try {
      claim = keys->claim_key(publish.topic, *publish.key);
    } catch (const error& failed) {
      return refuse(make_error(error_code::busy,
                               fmt::format("publish keys cannot be checked ({}); retry with the same key",
                                           failed.what()),
                               publish.ref),
                    out);
    }
    if (claim.what == publish_keys::claim::outcome::published) {
      return out.send(encode(receipt_frame{
          .id = std::move(claim.id), .duplicate = true, .key = publish.key, .ref = publish.ref}));
    }
    if (claim.what == publish_keys::claim::outcome::pending) {
      return refuse(
          make_error(error_code::busy,
                     "a publish with this key is being accepted on another node; retry with the same key",
                     publish.ref),
          out);
    }
  }
  auto outcome = route.publisher->publish(publish);
  if (auto* receipt = std::get_if<receipt_frame>(&outcome)) {
    if (hub_.cluster_stream() == nullptr || receipt->duplicate) {
      if (keys != nullptr) keys->published(publish.topic, *publish.key, receipt->id);
      return out.send(encode(*receipt));
    }
    // Several nodes: the receipt says the event is in the cluster, so it
    // waits until the writer has put it in the stream (a node killed before
    // that never answered; the client retries with its key). Then the key
    // remembers the id, then the client hears.
    std::optional<std::string> key = keys != nullptr ? publish.key : std::nullopt;
    const std::string id = receipt->id;
    hub_.answer_when_written(id, [keys, key, topic = publish.topic, answer = std::move(*receipt),
                                  to = std::weak_ptr<connection>(self)] {
      if (key) keys->published(topic, *key, answer.id);
      if (auto connection = to.lock()) connection->deliver({encode(answer)});
    });
    return;
  }
  if (keys != nullptr) keys->abandon(publish.topic, *publish.key);
  refuse(std::move(std::get<error_frame>(outcome)), out);
}

}  // namespace ws::detail
}  // namespace v1
}  // namespace courier
