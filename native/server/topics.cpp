#include "topics.h"

#include "connection.h"

namespace corews::server {

bool TopicTable::subscribe(Connection* c, uint32_t topic) {
  for (const Subscription& s : c->topics) {
    if (s.topic == topic) return false;
  }
  std::vector<Subscriber>& subs = topics_[topic];
  c->topics.push_back({topic, uint32_t(subs.size())});
  subs.push_back({c, uint32_t(c->topics.size() - 1)});
  return true;
}

bool TopicTable::unsubscribe(Connection* c, uint32_t topic) {
  for (size_t i = 0; i < c->topics.size(); ++i) {
    if (c->topics[i].topic != topic) continue;
    remove_at(c, i);
    if (c->topics.empty()) std::vector<Subscription>().swap(c->topics);
    return true;
  }
  return false;
}

void TopicTable::remove_all(Connection* c) {
  while (!c->topics.empty()) remove_at(c, c->topics.size() - 1);
  std::vector<Subscription>().swap(c->topics);
}

const std::vector<Subscriber>* TopicTable::subscribers(uint32_t topic) const {
  auto t = topics_.find(topic);
  return t == topics_.end() ? nullptr : &t->second;
}

// Order does not matter on either side: each removal moves the last entry into
// the hole and tells that entry's twin where it went.
void TopicTable::remove_at(Connection* c, size_t at) {
  Subscription gone = c->topics[at];
  auto t = topics_.find(gone.topic);
  std::vector<Subscriber>& subs = t->second;
  Subscriber last = subs.back();
  subs[gone.at] = last;
  last.c->topics[last.at].at = gone.at;
  subs.pop_back();
  if (subs.empty()) topics_.erase(t);  // no table entry outlives its last subscriber

  Subscription moved = c->topics.back();
  c->topics[at] = moved;
  c->topics.pop_back();
  if (at < c->topics.size()) topics_.find(moved.topic)->second[moved.at].at = uint32_t(at);
}

}  // namespace corews::server
