// Request body framing (which of none, Content-Length, chunked; what is
// refused as smuggling-prone) and the incremental chunked decoder.
#include <cstring>
#include <memory>
#include <string>

#include "check.h"
#include "proto/http_body.h"
#include "proto/http_response.h"

using namespace corews::proto;

namespace {

// The framing of a request made of `head` (request line and fields, no blank line).
struct Framed {
  std::string text;
  HttpRequest req;
  BodyFraming f;
  bool keep = false;
};

std::unique_ptr<Framed> frame(const std::string& head) {
  auto p = std::make_unique<Framed>();
  p->text = head + "\r\n\r\n";
  size_t len = 0;
  if (parse_request_head(p->text.data(), p->text.size(), p->req, len) != HeadStatus::kComplete) {
    p->f.kind = BodyFraming::Kind(255);
    return p;
  }
  p->f = body_framing(p->req);
  p->keep = wants_keep_alive(p->req);
  return p;
}

BodyFraming::Kind kind(const std::string& head) { return frame(head)->f.kind; }

// Decodes `input` fed in pieces of `step` bytes (the unconsumed rest carried
// over, as the worker does), from an exact-size heap copy so ASan sees over-reads.
ChunkedDecoder::Status decode(const std::string& input, size_t step, size_t max_body, std::string& body,
                              size_t& left_over) {
  ChunkedDecoder d;
  std::string pending;
  ChunkedDecoder::Status st = ChunkedDecoder::Status::kIncomplete;
  size_t at = 0;
  while (at < input.size() || at == 0) {
    size_t n = std::min(step, input.size() - at);
    pending.append(input, at, n);
    at += n;
    std::unique_ptr<char[]> copy(new char[pending.size() + 1]);
    std::memcpy(copy.get(), pending.data(), pending.size());
    size_t used = 0;
    st = d.feed(copy.get(), pending.size(), max_body, body, used);
    CHECK(used <= pending.size());
    pending.erase(0, used);
    if (st != ChunkedDecoder::Status::kIncomplete) break;
    if (n == 0) break;
  }
  left_over = pending.size() + (input.size() - at);  // not consumed, or never fed
  return st;
}

}  // namespace

TEST(http_body_framing_none_length_chunked) {
  CHECK_EQ(kind("GET / HTTP/1.1\r\nHost: x"), BodyFraming::kNone);
  CHECK_EQ(kind("POST / HTTP/1.1\r\nContent-Length: 0"), BodyFraming::kNone);
  auto p = frame("POST / HTTP/1.1\r\nContent-Length: 12");
  CHECK_EQ(p->f.kind, BodyFraming::kLength);
  CHECK_EQ(p->f.length, uint64_t(12));
  // Identical repeats, as fields or as a list, are one value (RFC 9110 §8.6).
  CHECK_EQ(frame("POST / HTTP/1.1\r\nContent-Length: 7\r\nContent-Length: 7")->f.length, uint64_t(7));
  CHECK_EQ(frame("POST / HTTP/1.1\r\nContent-Length: 7, 7")->f.kind, BodyFraming::kLength);
  CHECK_EQ(kind("POST / HTTP/1.1\r\nTransfer-Encoding: chunked"), BodyFraming::kChunked);
  CHECK_EQ(kind("POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED"), BodyFraming::kChunked);
  CHECK_EQ(kind("POST / HTTP/1.1\r\nTransfer-Encoding: , chunked"), BodyFraming::kChunked);
}

TEST(http_body_framing_refuses_what_could_be_smuggled) {
  // Both: a proxy may use the one and we the other.
  CHECK_EQ(kind("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked"), BodyFraming::kBad);
  CHECK_EQ(kind("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0"), BodyFraming::kBad);
  CHECK_EQ(kind("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6"), BodyFraming::kBad);
  CHECK_EQ(kind("POST / HTTP/1.1\r\nContent-Length: 5, 6"), BodyFraming::kBad);
  for (const char* bad : {"-1", "+5", "0x10", "5 5", "", "1e3", "5;", "99999999999999999999", "٣"}) {
    CTX("Content-Length: %s", bad);
    CHECK_EQ(kind(std::string("POST / HTTP/1.1\r\nContent-Length: ") + bad), BodyFraming::kBad);
  }
  CHECK_EQ(kind("POST / HTTP/1.1\r\nTransfer-Encoding: gzip"), BodyFraming::kBad);              // chunked not last
  CHECK_EQ(kind("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip"), BodyFraming::kBad);
  CHECK_EQ(kind("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked"), BodyFraming::kBad);
  CHECK_EQ(kind("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"), BodyFraming::kBad);
  CHECK_EQ(kind("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked"), BodyFraming::kBad);
  CHECK_EQ(kind("POST / HTTP/1.1\r\nTransfer-Encoding:"), BodyFraming::kBad);
  CHECK_EQ(kind("POST / HTTP/1.0\r\nTransfer-Encoding: chunked"), BodyFraming::kBad);
  CHECK_EQ(kind("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked"), BodyFraming::kUnsupported);
}

TEST(http_body_keep_alive) {
  CHECK(frame("GET / HTTP/1.1\r\nHost: x")->keep);
  CHECK(!frame("GET / HTTP/1.1\r\nConnection: close")->keep);
  CHECK(!frame("GET / HTTP/1.1\r\nConnection: keep-alive, Close")->keep);
  CHECK(!frame("GET / HTTP/1.0\r\nHost: x")->keep);
  CHECK(frame("GET / HTTP/1.0\r\nConnection: Keep-Alive")->keep);
}

TEST(http_body_chunked_decodes_in_any_split) {
  const std::string input = "5\r\nhello\r\n1;ext=1; q=\"a b\"\r\n \r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\nGET";
  for (size_t step = 1; step <= input.size(); ++step) {
    CTX("step %zu", step);
    std::string body;
    size_t rest = 0;
    CHECK_EQ(decode(input, step, 1024, body, rest), ChunkedDecoder::Status::kComplete);
    CHECK_EQ(body, std::string("hello 0123456789abcdef"));
    CHECK_EQ(rest, size_t(3));  // the next request's bytes are left alone
  }
}

TEST(http_body_chunked_refuses_malformed) {
  const char* bad[] = {
      "5\nhello\r\n0\r\n\r\n",           // bare LF after the size
      "5\r\nhello\n0\r\n\r\n",           // bare LF after the data
      "5\r\nhelloXX0\r\n\r\n",           // data longer than its size
      "g\r\nx\r\n0\r\n\r\n",             // not hex
      "\r\n",                            // no size
      " 5\r\nhello\r\n0\r\n\r\n",        // space before the size
      "5;\r\nhello\r\n0\r\n\r\n",        // extension without a name
      "5;a=\"x\r\nhello\r\n0\r\n\r\n",   // unterminated quoted string
      "5 x\r\nhello\r\n0\r\n\r\n",       // junk after the size
      "5\r\nhello\r\n0\r\nbad trailer\r\n\r\n",
      "5\r\nhello\r\n0\r\n\r\r\n",
  };
  for (const char* b : bad) {
    CTX("input %s", check::escape(b).c_str());
    std::string body;
    size_t rest = 0;
    CHECK_EQ(decode(b, 1 << 20, 1024, body, rest), ChunkedDecoder::Status::kBad);
  }
  // A size line that never ends is cut off at the bound.
  std::string body;
  size_t rest = 0;
  CHECK_EQ(decode("1;" + std::string(kMaxChunkLine + 8, 'a'), 1 << 20, 1024, body, rest), ChunkedDecoder::Status::kBad);
}

TEST(http_body_chunked_bound) {
  std::string body;
  size_t rest = 0;
  CHECK_EQ(decode("400\r\n", 1 << 20, 1023, body, rest), ChunkedDecoder::Status::kTooLarge);
  body.clear();
  CHECK_EQ(decode("200\r\n" + std::string(512, 'a') + "\r\n201\r\n", 1 << 20, 1024, body, rest),
           ChunkedDecoder::Status::kTooLarge);
  body.clear();
  CHECK_EQ(decode("ffffffffffffffffff\r\n", 1 << 20, 1024, body, rest), ChunkedDecoder::Status::kTooLarge);
  body.clear();
  CHECK_EQ(decode("400\r\n" + std::string(1024, 'a') + "\r\n0\r\n\r\n", 7, 1024, body, rest),
           ChunkedDecoder::Status::kComplete);
  CHECK_EQ(body.size(), size_t(1024));
}

TEST(http_response_head_and_chunk_lines) {
  ResponseHead h;
  h.status = 200;
  h.extra_headers = "X-A: 1\r\n";
  h.keep_alive = true;
  h.keep_alive_seconds = 5;
  h.content_length = 3;
  CHECK_EQ(build_response_head(h),
           std::string("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A: 1\r\nContent-Length: 3\r\n\r\n"));
  h.keep_alive = false;
  h.chunked = true;
  h.extra_headers = {};
  CHECK_EQ(build_response_head(h), std::string("HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"));
  h.status = 204;
  CHECK_EQ(build_response_head(h), std::string("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"));
  char line[kMaxChunkHeader];
  CHECK_EQ(std::string(line, write_chunk_header(line, 0)), std::string("0\r\n"));
  CHECK_EQ(std::string(line, write_chunk_header(line, 255)), std::string("ff\r\n"));
  CHECK_EQ(std::string(line, write_chunk_header(line, SIZE_MAX)), std::string("ffffffffffffffff\r\n"));
}
