// Fuzzes request body framing and the chunked decoder (proto/http_body.h).
//
// Input: bytes as a client sends them: a head, then whatever follows it.
// Checks:
//   - body_framing agrees with a reference written here from RFC 9112 §6:
//     no Content-Length or Transfer-Encoding → none; both → bad; a
//     Transfer-Encoding whose codings are exactly "chunked" (HTTP/1.1) →
//     chunked; Content-Length values that are all the same digits → that
//     length; so no request has two readings (smuggling).
//   - the chunked decoder, fed what follows the head whole and in pieces at
//     random split points (the unconsumed rest carried over, as the worker
//     does), gives the same status, body and bytes consumed; `used` never
//     passes the input; the body never passes the bound; on kComplete, the
//     body re-encoded as chunks of random sizes decodes to itself, ending
//     exactly at the end of that encoding.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "proto/http_body.h"
#include "proto/http_request.h"
#include "proto/http_response.h"

using namespace corews::proto;
using std::string_view;

namespace {

bool ref_ieq(string_view a, string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x + 32);
    if (y >= 'A' && y <= 'Z') y = char(y + 32);
    if (x != y) return false;
  }
  return true;
}

string_view ref_trim(string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The reference framing decision, from the RFC's rules rather than the code.
BodyFraming::Kind ref_framing(const HttpRequest& r, uint64_t& length) {
  bool cl = false, te = false, cl_ok = true;
  std::string codings;  // non-empty elements, lower-cased, joined by ","
  size_t elements = 0;
  length = 0;
  bool have_value = false;
  for (size_t i = 0; i < r.header_count; ++i) {
    string_view v = r.headers[i].value;
    if (ref_ieq(r.headers[i].name, "content-length")) {
      cl = true;
      size_t start = 0;
      for (size_t j = 0; j <= v.size(); ++j) {
        if (j < v.size() && v[j] != ',') continue;
        string_view e = ref_trim(v.substr(start, j - start));
        start = j + 1;
        bool digits = !e.empty() && e.size() <= 15;
        uint64_t n = 0;
        for (char c : e) {
          if (c < '0' || c > '9') digits = false;
          else n = n * 10 + uint64_t(c - '0');
        }
        if (!digits || (have_value && n != length)) cl_ok = false;
        length = n;
        have_value = true;
      }
    } else if (ref_ieq(r.headers[i].name, "transfer-encoding")) {
      te = true;
      size_t start = 0;
      for (size_t j = 0; j <= v.size(); ++j) {
        if (j < v.size() && v[j] != ',') continue;
        string_view e = ref_trim(v.substr(start, j - start));
        start = j + 1;
        if (e.empty()) continue;
        if (elements++) codings += ',';
        codings += ref_ieq(e, "chunked") ? "chunked" : "other";
      }
    }
  }
  if (te) {
    if (cl || r.version_major != 1 || r.version_minor == 0) return BodyFraming::kBad;
    if (codings == "chunked") return BodyFraming::kChunked;
    // chunked last and only once, after other codings: understood but not supported.
    string_view c = codings;
    if (c.size() > 8 && c.substr(c.size() - 8) == ",chunked" && c.substr(0, c.size() - 8).find("chunked") == string_view::npos) {
      return BodyFraming::kUnsupported;
    }
    return BodyFraming::kBad;
  }
  if (!cl_ok) return BodyFraming::kBad;
  return cl && length > 0 ? BodyFraming::kLength : BodyFraming::kNone;
}

struct Decoded {
  ChunkedDecoder::Status status = ChunkedDecoder::Status::kIncomplete;
  std::string body;
  size_t consumed = 0;  // input bytes consumed in all
};

// Feeds `in` in pieces ending at the given split points, as the worker does.
Decoded decode(string_view in, size_t max_body, fuzz::Rng* rng) {
  Decoded d;
  ChunkedDecoder dec;
  std::string pending;
  size_t at = 0;
  while (true) {
    size_t n = in.size() - at;
    if (rng != nullptr && n > 1) n = 1 + size_t(rng->next() % n);
    pending.append(in.substr(at, n));
    at += n;
    std::string copy(pending);  // an exact-size buffer each time, so ASan sees over-reads
    size_t used = 0;
    size_t before = d.body.size();
    d.status = dec.feed(copy.data(), copy.size(), max_body, d.body, used);
    FUZZ_CHECK(used <= copy.size());
    FUZZ_CHECK(d.body.size() >= before && d.body.size() <= max_body);
    pending.erase(0, used);
    d.consumed += used;
    if (d.status != ChunkedDecoder::Status::kIncomplete || at == in.size()) return d;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  string_view in(reinterpret_cast<const char*>(data), size);
  HttpRequest req;
  size_t head_len = 0;
  if (parse_request_head(in.data(), in.size(), req, head_len) == HeadStatus::kComplete) {
    BodyFraming f = body_framing(req);
    uint64_t length = 0;
    BodyFraming::Kind want = ref_framing(req, length);
    FUZZ_CHECK_MSG(f.kind == want, "framing %d, reference %d", int(f.kind), int(want));
    if (f.kind == BodyFraming::kLength) FUZZ_CHECK(f.length == length);
    in.remove_prefix(head_len);
  }
  // Whatever follows (or the whole input) as a chunked body, under a bound from the input.
  size_t max_body = size > 0 ? size_t(data[0]) * 16 : 0;
  Decoded whole = decode(in, max_body, nullptr);
  fuzz::Rng rng(size > 1 ? uint64_t(data[1]) * 131 + size : size);
  Decoded split = decode(in, max_body, &rng);
  FUZZ_CHECK(whole.status == split.status);
  if (whole.status != ChunkedDecoder::Status::kBad && whole.status != ChunkedDecoder::Status::kTooLarge) {
    FUZZ_CHECK(whole.body == split.body);
    FUZZ_CHECK(whole.consumed == split.consumed);
  }
  if (whole.status == ChunkedDecoder::Status::kComplete) {
    // Re-encoded in chunks of random sizes, it decodes to itself and ends where the encoding does.
    std::string enc;
    size_t pos = 0;
    while (pos < whole.body.size()) {
      size_t n = 1 + size_t(rng.next() % (whole.body.size() - pos));
      char line[kMaxChunkHeader];
      enc.append(line, write_chunk_header(line, n));
      enc.append(whole.body, pos, n);
      enc += "\r\n";
      pos += n;
    }
    enc += "0\r\n\r\n";
    Decoded again = decode(enc, whole.body.size(), &rng);
    FUZZ_CHECK(again.status == ChunkedDecoder::Status::kComplete);
    FUZZ_CHECK(again.body == whole.body);
    FUZZ_CHECK(again.consumed == enc.size());
  }
  return 0;
}
