// A worker's subscriptions: for each topic (an id JS assigns), the worker's
// connections subscribed to it. JS keeps the names and the counts across
// workers; a worker only needs "who here gets this publish".
#pragma once
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace corews::server {

struct Connection;

class TopicTable {
 public:
  // False when already subscribed.
  bool subscribe(Connection* c, uint32_t topic);
  // False when not subscribed.
  bool unsubscribe(Connection* c, uint32_t topic);
  // Every subscription of a closing connection.
  void remove_all(Connection* c);
  // Subscribers of `topic`, or null when it has none here.
  const std::vector<Connection*>* subscribers(uint32_t topic) const;
  size_t topic_count() const { return topics_.size(); }

 private:
  static void erase(std::vector<Connection*>& v, Connection* c);
  std::unordered_map<uint32_t, std::vector<Connection*>> topics_;
};

}  // namespace corews::server
