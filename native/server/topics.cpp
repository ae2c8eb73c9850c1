#include "topics.h"

#include <algorithm>

#include "connection.h"

namespace corews::server {

bool TopicTable::subscribe(Connection* c, uint32_t topic) {
  if (std::find(c->topics.begin(), c->topics.end(), topic) != c->topics.end()) return false;
  c->topics.push_back(topic);
  topics_[topic].push_back(c);
  return true;
}

bool TopicTable::unsubscribe(Connection* c, uint32_t topic) {
  auto it = std::find(c->topics.begin(), c->topics.end(), topic);
  if (it == c->topics.end()) return false;
  *it = c->topics.back();
  c->topics.pop_back();
  if (c->topics.empty()) std::vector<uint32_t>().swap(c->topics);
  auto t = topics_.find(topic);
  erase(t->second, c);
  if (t->second.empty()) topics_.erase(t);  // no table entry outlives its last subscriber
  return true;
}

void TopicTable::remove_all(Connection* c) {
  for (uint32_t topic : c->topics) {
    auto t = topics_.find(topic);
    erase(t->second, c);
    if (t->second.empty()) topics_.erase(t);
  }
  std::vector<uint32_t>().swap(c->topics);
}

const std::vector<Connection*>* TopicTable::subscribers(uint32_t topic) const {
  auto t = topics_.find(topic);
  return t == topics_.end() ? nullptr : &t->second;
}

// Order among subscribers does not matter: swap with the last and pop.
void TopicTable::erase(std::vector<Connection*>& v, Connection* c) {
  auto it = std::find(v.begin(), v.end(), c);
  *it = v.back();
  v.pop_back();
}

}  // namespace corews::server
