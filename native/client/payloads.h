// Message bodies the load generator sends.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace corews::client {

// `count` distinct JSON-like texts of exactly `size` bytes each (ASCII):
// arrays of market-data records ({"seq":…,"type":"quote","symbol":"NVDA",
// "bid":612.37,…}) whose keys repeat and whose values vary, the kind of
// traffic permessage-deflate is for. The same seed gives the same texts, so
// every server under test gets the same bytes. From about 40 bytes up the
// text is valid JSON (padded with spaces to the size); below that it is a
// prefix of one.
std::vector<std::string> json_like_messages(size_t size, size_t count, uint64_t seed);

}  // namespace corews::client
