// A worker's subscriptions: for each topic (an id JS assigns), the worker's
// connections subscribed to it. JS keeps the names and the counts across
// workers; a worker only needs "who here gets this publish".
//
// Each subscription is listed twice, in the topic's subscriber list and in the
// connection's topic list, and each entry knows where its twin is: removing a
// subscriber (unsubscribe, or a connection closing) is a swap with the last
// entry on both sides, O(1) whatever the number of subscribers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace corews::server {

struct Connection;

// In a topic's list: a subscriber and where the topic is in its list.
struct Subscriber {
  Connection* c;
  uint32_t at;  // index into c->topics
};

// In a connection's list: a topic and where the connection is in its subscribers.
struct Subscription {
  uint32_t topic;
  uint32_t at;  // index into the topic's subscriber list
};

class TopicTable {
 public:
  // False when already subscribed (linear in the connection's topics).
  bool subscribe(Connection* c, uint32_t topic);
  // False when not subscribed (linear in the connection's topics).
  bool unsubscribe(Connection* c, uint32_t topic);
  // Every subscription of a closing connection: linear in its topics.
  void remove_all(Connection* c);
  // Subscribers of `topic`, or null when it has none here.
  const std::vector<Subscriber>* subscribers(uint32_t topic) const;
  size_t topic_count() const { return topics_.size(); }

 private:
  // Drops entry `at` of c->topics and its twin.
  void remove_at(Connection* c, size_t at);
  std::unordered_map<uint32_t, std::vector<Subscriber>> topics_;
};

}  // namespace corews::server
