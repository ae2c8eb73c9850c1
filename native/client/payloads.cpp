#include "payloads.h"

#include <cstdio>

namespace corews::client {

namespace {

struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1dull;
  }
  uint32_t below(uint32_t n) { return uint32_t(next() >> 33) % n; }
};

const char* const kSymbols[] = {"AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "AVGO", "ORCL", "AMD",
                                "NFLX", "ADBE", "CRM",  "INTC", "CSCO", "QCOM", "TXN",  "IBM",  "UBER", "SHOP"};
const char* const kTypes[] = {"quote", "trade", "cancel", "fill"};
const char* const kVenues[] = {"XNAS", "XNYS", "ARCX", "BATS", "IEXG"};
const char* const kWords[] = {"order", "filled", "partial", "market", "limit", "open", "close", "halted",
                              "resumed", "auction", "price", "update", "level", "book", "depth", "spread"};

std::string record(Rng& r, uint64_t seq) {
  char buf[320];
  unsigned price = 1000 + r.below(90000);  // cents
  unsigned spread = 1 + r.below(9);
  int n = std::snprintf(buf, sizeof buf,
                        "{\"seq\":%llu,\"type\":\"%s\",\"symbol\":\"%s\",\"bid\":%u.%02u,\"ask\":%u.%02u,\"size\":%u,"
                        "\"venue\":\"%s\",\"ts\":%llu,\"user\":\"user_%04u\"}",
                        static_cast<unsigned long long>(seq), kTypes[r.below(4)], kSymbols[r.below(20)], price / 100,
                        price % 100, (price + spread) / 100, (price + spread) % 100, 100 * (1 + r.below(50)),
                        kVenues[r.below(5)], static_cast<unsigned long long>(1732190000000ull + seq * 37 + r.below(37)),
                        r.below(10000));
  return std::string(buf, size_t(n));
}

}  // namespace

std::vector<std::string> json_like_messages(size_t size, size_t count, uint64_t seed) {
  Rng r{seed | 1};
  uint64_t seq = seed % 100000;
  std::vector<std::string> out;
  out.reserve(count);
  for (size_t k = 0; k < count; ++k) {
    std::string s = "[";
    std::string next = record(r, ++seq);
    // Records while they fit with the closing bracket; then spaces to the size.
    while (s.size() + next.size() + 2 <= size) {
      if (s.size() > 1) s += ',';
      s += next;
      next = record(r, ++seq);
    }
    if (s.size() == 1) {
      // Too small for one record: a prefix of one.
      s += next;
      s.resize(size);
    } else {
      // The rest: a string of words as a last element (spaces when too short for one).
      size_t gap = size - s.size() - 1;
      if (gap >= 4) {
        s += ",\"";
        size_t end = s.size() + gap - 3;
        while (s.size() < end) {
          if (s.size() > end - gap + 3) s += ' ';
          for (const char* w = kWords[r.below(16)]; *w && s.size() < end; ++w) s += *w;
        }
        s += '"';
      } else {
        s.append(gap, ' ');
      }
      s += ']';
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace corews::client
