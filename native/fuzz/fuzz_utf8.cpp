// Fuzzes proto::Utf8Validator and proto::is_valid_utf8 against the reference
// decoder in fuzz_util.h.
//
// Input: byte 0 seeds the split points; the rest is the text. The text is
// fed (a) in one call, (b) one byte per call, (c) in pieces of random sizes,
// each piece in its own exact-size allocation. In every case the validator
// must fail exactly at the reference's first bad byte (no earlier, no later),
// stay failed afterwards, and report complete() / ascii() as the reference
// does for the prefix fed so far. Feeding goes through the dispatched body
// (the fastest this CPU runs); then every body (utf8_bulk::available():
// scalar, SSSE3, AVX2, AVX-512) is checked alone on the whole text and inside a
// validator fed in random pieces.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "proto/utf8.h"

using corews::proto::is_valid_utf8;
using corews::proto::Utf8Validator;

namespace {

// One-shot: feed everything in one call.
void one_shot(Utf8Validator& v, const uint8_t* s, size_t n, const fuzz::RefUtf8& ref) {
  fuzz::ExactBuf buf(s, n);
  bool ok = v.feed(buf.p, buf.n);
  FUZZ_CHECK_MSG(ok == (ref.bad_at == fuzz::npos), "one-shot feed=%d, reference first bad byte %zd", ok,
                 ref.bad_at == fuzz::npos ? ssize_t(-1) : ssize_t(ref.bad_at));
  if (ok) {
    FUZZ_CHECK(v.complete() == ref.complete);
    FUZZ_CHECK(v.ascii() == bool(ref.ascii[n]));
  }
  // Once failed, it stays failed; an empty feed changes nothing.
  bool again = v.feed(buf.p, 0);
  FUZZ_CHECK(again == ok);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t seed = data[0];
  const uint8_t* s = data + 1;
  const size_t n = size - 1;

  const fuzz::RefUtf8 ref = fuzz::ref_utf8(s, n);
  FUZZ_CHECK(ref.valid == (ref.bad_at == fuzz::npos && ref.complete));

  // is_valid_utf8 (whole buffer).
  {
    fuzz::ExactBuf buf(s, n);
    FUZZ_CHECK_MSG(is_valid_utf8(buf.p, buf.n) == ref.valid, "is_valid_utf8 != reference (%d)", ref.valid);
  }

  // (a) one call, then again after reset() on the same validator.
  Utf8Validator v;
  one_shot(v, s, n, ref);
  v.reset();
  FUZZ_CHECK(v.complete() && v.ascii());
  one_shot(v, s, n, ref);

  // (b) one byte per call: the first false is at the reference's bad byte.
  {
    Utf8Validator b;
    size_t failed_at = fuzz::npos;
    for (size_t i = 0; i < n; ++i) {
      fuzz::ExactBuf one(s + i, 1);
      bool ok = b.feed(one.p, 1);
      if (failed_at != fuzz::npos) {
        FUZZ_CHECK_MSG(!ok, "validator recovered at byte %zu after failing at %zu", i, failed_at);
        continue;
      }
      if (!ok) {
        failed_at = i;
        continue;
      }
      FUZZ_CHECK_MSG(b.complete() == bool(ref.boundary[i + 1]), "complete() wrong after %zu bytes", i + 1);
      FUZZ_CHECK_MSG(b.ascii() == bool(ref.ascii[i + 1]), "ascii() wrong after %zu bytes", i + 1);
    }
    FUZZ_CHECK_MSG(failed_at == ref.bad_at, "byte-wise failure at %zd, reference %zd",
                   failed_at == fuzz::npos ? ssize_t(-1) : ssize_t(failed_at),
                   ref.bad_at == fuzz::npos ? ssize_t(-1) : ssize_t(ref.bad_at));
  }

  // (c) random pieces; the mode in the seed's low bits picks the piece sizes
  // (up to 3, up to 9, up to 17 — around the 8-byte ASCII fast path —, up to
  // 40, 70 or 140 — around the 32-byte threshold of the vector bodies and
  // their 16/32-byte blocks —, or any), once per body.
  for (const corews::proto::utf8_bulk::Body& body : corews::proto::utf8_bulk::available()) {
    {
      fuzz::ExactBuf buf(s, n);
      corews::proto::utf8_bulk::Result r = body.fn(buf.p, buf.n);
      FUZZ_CHECK_MSG(r.valid == ref.valid, "%s: valid=%d, reference %d", body.name, r.valid, ref.valid);
      if (r.valid) FUZZ_CHECK_MSG(r.ascii == bool(ref.ascii[n]), "%s: ascii wrong", body.name);
    }
    fuzz::Rng rng(seed);
    static const size_t kMaxPiece[8] = {3, 9, 17, 0, 40, 70, 140, 0};
    size_t max_piece = kMaxPiece[seed & 7];
    Utf8Validator c;
    bool failed = false;
    size_t pos = 0;
    while (pos < n) {
      size_t left = n - pos;
      size_t len = 1 + rng.below(max_piece ? (max_piece < left ? max_piece : left) : left);
      if (rng.below(8) == 0) {  // an empty feed now and then
        fuzz::ExactBuf none(s + pos, 0);
        bool ok = c.feed_with(body.fn, none.p, 0);
        FUZZ_CHECK(ok == !failed);
      }
      fuzz::ExactBuf piece(s + pos, len);
      bool ok = c.feed_with(body.fn, piece.p, piece.n);
      bool bad_here = ref.bad_at != fuzz::npos && ref.bad_at < pos + len;
      if (failed) {
        FUZZ_CHECK(!ok);
      } else {
        FUZZ_CHECK_MSG(ok == !bad_here, "%s: piece [%zu, %zu): feed=%d, reference first bad byte %zd", body.name,
                       pos, pos + len, ok, ref.bad_at == fuzz::npos ? ssize_t(-1) : ssize_t(ref.bad_at));
        if (ok) {
          FUZZ_CHECK(c.complete() == bool(ref.boundary[pos + len]));
          FUZZ_CHECK(c.ascii() == bool(ref.ascii[pos + len]));
        }
        failed = !ok;
      }
      pos += len;
    }
  }
  return 0;
}
