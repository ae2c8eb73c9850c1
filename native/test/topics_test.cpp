// TopicTable against a model: subscribe, unsubscribe and remove_all in random
// order, with the back-indices checked after every step.
#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "check.h"
#include "proto/frame_parser.h"
#include "server/connection.h"
#include "server/tcp_transport.h"
#include "server/topics.h"

using corews::server::Connection;
using corews::server::Subscriber;
using corews::server::TopicTable;

namespace {

std::unique_ptr<Connection> conn(uint32_t slot) {
  static const corews::proto::FrameParserOptions options;
  // No socket: the table never touches a connection's bytes.
  return std::make_unique<Connection>(std::make_unique<corews::server::TcpTransport>(-1), slot, 1, options);
}

// Every entry on either side points at its twin.
bool consistent(const TopicTable& t, const std::vector<std::unique_ptr<Connection>>& conns) {
  size_t subscriptions = 0;
  for (const auto& c : conns) {
    for (size_t i = 0; i < c->topics.size(); ++i) {
      const std::vector<Subscriber>* subs = t.subscribers(c->topics[i].topic);
      if (subs == nullptr || c->topics[i].at >= subs->size()) return false;
      const Subscriber& s = (*subs)[c->topics[i].at];
      if (s.c != c.get() || s.at != i) return false;
      ++subscriptions;
    }
  }
  size_t listed = 0;
  for (uint32_t topic = 0; topic < 64; ++topic) {
    if (const std::vector<Subscriber>* subs = t.subscribers(topic)) listed += subs->size();
  }
  return listed == subscriptions;
}

}  // namespace

TEST(topics_follow_a_model_through_random_operations) {
  std::vector<std::unique_ptr<Connection>> conns;
  for (uint32_t i = 0; i < 40; ++i) conns.push_back(conn(i));
  std::map<uint32_t, std::set<Connection*>> model;
  TopicTable t;
  uint32_t seed = 12345;
  auto next = [&](uint32_t n) {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 8) % n;
  };
  for (int step = 0; step < 20000; ++step) {
    Connection* c = conns[next(uint32_t(conns.size()))].get();
    uint32_t topic = next(64);
    switch (next(10)) {
      case 0: {
        t.remove_all(c);
        for (auto& [_, subs] : model) subs.erase(c);
        CHECK(c->topics.empty());
        break;
      }
      case 1:
      case 2:
      case 3:
      case 4:
        CHECK_EQ(t.unsubscribe(c, topic), model[topic].erase(c) == 1);
        break;
      default:
        CHECK_EQ(t.subscribe(c, topic), model[topic].insert(c).second);
        break;
    }
    if (!consistent(t, conns)) {
      FAIL_MSG("back-indices broken at step %d", step);
      break;
    }
  }
  size_t live_topics = 0;
  for (auto& [topic, subs] : model) {
    const std::vector<Subscriber>* got = t.subscribers(topic);
    CHECK_EQ(got ? got->size() : size_t(0), subs.size());
    if (!subs.empty()) ++live_topics;
    if (got) {
      std::set<Connection*> seen;
      for (const Subscriber& s : *got) seen.insert(s.c);
      CHECK(seen == subs);
    }
  }
  CHECK_EQ(t.topic_count(), live_topics);  // no entry outlives its last subscriber
  for (auto& c : conns) t.remove_all(c.get());
  CHECK_EQ(t.topic_count(), size_t(0));
}

TEST(topics_remove_100k_subscribers_of_one_topic_in_random_order) {
  // Each removal is a swap with the last entry: 100,000 subscribers leave in
  // linear time (a search per removal would be 5·10⁹ steps).
  std::vector<std::unique_ptr<Connection>> conns;
  TopicTable t;
  for (uint32_t i = 0; i < 100000; ++i) {
    conns.push_back(conn(i));
    t.subscribe(conns.back().get(), 7);
    t.subscribe(conns.back().get(), 8 + i % 3);
  }
  CHECK_EQ(t.subscribers(7)->size(), size_t(100000));
  std::vector<size_t> order(conns.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  uint32_t seed = 99;
  for (size_t i = order.size() - 1; i > 0; --i) {
    seed = seed * 1103515245u + 12345u;
    std::swap(order[i], order[(seed >> 8) % (i + 1)]);
  }
  for (size_t k = 0; k < order.size(); ++k) {
    Connection* c = conns[order[k]].get();
    if (k % 2) t.remove_all(c);
    else CHECK(t.unsubscribe(c, 7));
  }
  CHECK(t.subscribers(7) == nullptr);
  for (auto& c : conns) t.remove_all(c.get());
  CHECK_EQ(t.topic_count(), size_t(0));
}
