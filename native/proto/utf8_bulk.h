// Whole-run UTF-8 validators: is p[0, n) well-formed UTF-8 that begins and
// ends on a code point boundary? Utf8Validator (utf8.h) cuts each call's bytes
// so that its middle is such a run and hands that to the fastest body this CPU
// has; the bytes of a sequence split between calls go through its byte-wise
// automaton. Every body gives the same answer for every input (the native
// tests and fuzz_utf8 compare them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "../core/cpu_features.h"

namespace corews::proto::utf8_bulk {

struct Result {
  bool valid;
  bool ascii;  // every byte < 0x80 (meaningful when valid)
};

using Fn = Result (*)(const uint8_t* p, size_t n);

// The byte-wise automaton with an 8-byte ASCII skip: any CPU.
Result scalar(const uint8_t* p, size_t n);

#if COREWS_X86_DISPATCH
// The "lookup" algorithm (Keiser & Lemire, "Validating UTF-8 in less than one
// instruction per byte", 2021) over 16-byte (SSSE3: it needs pshufb), 32-byte
// (AVX2) and 64-byte (AVX-512BW) blocks; utf8_lookup.h explains it.
Result ssse3(const uint8_t* p, size_t n);
Result avx2(const uint8_t* p, size_t n);
Result avx512(const uint8_t* p, size_t n);
#endif

struct Body {
  const char* name;
  Fn fn;
};
// The bodies this CPU can run, slowest first (tests and benchmarks).
std::span<const Body> available();
// The fastest of them, chosen once.
Fn best();

}  // namespace corews::proto::utf8_bulk
