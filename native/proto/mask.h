// Masking (RFC 6455 §5.3): octet i of the payload is XORed with octet i % 4 of
// the key. `offset` is how many payload octets came before `p`, so a payload
// that arrives in pieces unmasks piece by piece.
//
// Every payload byte a client sends passes through here, so the bulk runs in
// vectors: on x86-64 SSE2 (the baseline, always there) or AVX2 when the CPU has
// it (chosen at run time; the AVX2 body is compiled with a target attribute,
// so the build needs no -mavx2 and the binary runs on any x86-64), on arm64
// NEON. The key has period 4, which divides every vector width, so one
// key vector serves the whole run once the destination is aligned.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../core/cpu_features.h"

#if COREWS_X86_DISPATCH
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace corews::proto {

// The key pattern `k64` (a word whose first octet in memory is the key octet
// due at that byte) advanced by `skip` payload octets.
inline uint64_t rotate_mask(uint64_t k64, size_t skip) {
  int shift = int(skip & 3) * 8;
  if constexpr (std::endian::native == std::endian::little) return std::rotr(k64, shift);
  return std::rotl(k64, shift);
}

// The key repeated over a 64-bit word whose first octet in memory is
// key[offset % 4]. Built with a rotate, not byte stores: a word load right
// after byte stores to the same place stalls store forwarding, and this runs
// for every frame.
inline uint64_t mask_word(const uint8_t key[4], size_t offset) {
  uint32_t k32;
  std::memcpy(&k32, key, 4);
  uint64_t k64 = uint64_t(k32) | uint64_t(k32) << 32;
  return rotate_mask(k64, offset);
}

namespace mask_impl {

// Word at a time (and what the vector bodies leave, under 16 bytes).
inline void scalar(uint8_t* dst, const uint8_t* src, size_t n, uint64_t k64) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, src + i, 8);
    w ^= k64;
    std::memcpy(dst + i, &w, 8);
  }
  uint8_t k[8];
  std::memcpy(k, &k64, 8);
  for (; i < n; ++i) dst[i] = src[i] ^ k[i & 7];
}

#if COREWS_X86_DISPATCH
inline void sse2(uint8_t* dst, const uint8_t* src, size_t n, uint64_t k64) {
  const __m128i k = _mm_set1_epi64x(int64_t(k64));
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 16));
    __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 32));
    __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 48));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_xor_si128(a, k));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i + 16), _mm_xor_si128(b, k));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i + 32), _mm_xor_si128(c, k));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i + 48), _mm_xor_si128(d, k));
  }
  for (; i + 16 <= n; i += 16) {
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_xor_si128(a, k));
  }
  scalar(dst + i, src + i, n - i, k64);
}

__attribute__((target("avx2"))) inline void avx2(uint8_t* dst, const uint8_t* src, size_t n, uint64_t k64) {
  const __m256i k = _mm256_set1_epi64x(int64_t(k64));
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 32));
    __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 64));
    __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 96));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_xor_si256(a, k));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 32), _mm256_xor_si256(b, k));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 64), _mm256_xor_si256(c, k));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 96), _mm256_xor_si256(d, k));
  }
  for (; i + 32 <= n; i += 32) {
    __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_xor_si256(a, k));
  }
  // Under 32 left: one 16-byte step, then words (no AVX-SSE transition cost
  // on the 128-bit ops: the compiler emits their VEX forms here).
  if (i + 16 <= n) {
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_xor_si128(a, _mm256_castsi256_si128(k)));
    i += 16;
  }
  scalar(dst + i, src + i, n - i, k64);
}
#elif defined(__aarch64__)
inline void neon(uint8_t* dst, const uint8_t* src, size_t n, uint64_t k64) {
  const uint8x16_t k = vreinterpretq_u8_u64(vdupq_n_u64(k64));
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    uint8x16_t a = vld1q_u8(src + i), b = vld1q_u8(src + i + 16);
    uint8x16_t c = vld1q_u8(src + i + 32), d = vld1q_u8(src + i + 48);
    vst1q_u8(dst + i, veorq_u8(a, k));
    vst1q_u8(dst + i + 16, veorq_u8(b, k));
    vst1q_u8(dst + i + 32, veorq_u8(c, k));
    vst1q_u8(dst + i + 48, veorq_u8(d, k));
  }
  for (; i + 16 <= n; i += 16) vst1q_u8(dst + i, veorq_u8(vld1q_u8(src + i), k));
  scalar(dst + i, src + i, n - i, k64);
}
#endif

// Below this a payload goes word at a time: aligning and setting up vectors
// would cost more than they save.
inline constexpr size_t kVectorMin = 64;

}  // namespace mask_impl

// dst[i] = src[i] ^ key octet, in one pass; dst may equal src (not overlap
// otherwise). k64 is the pattern for dst[0] (mask_word()).
inline void mask_copy(uint8_t* dst, const uint8_t* src, size_t n, uint64_t k64) {
#if COREWS_X86_DISPATCH || defined(__aarch64__)
  if (n >= mask_impl::kVectorMin) {
    // Bring dst to a 32-byte boundary word-wise first, so no vector store
    // splits a cache line; the key turns by the bytes done.
    size_t head = size_t(-reinterpret_cast<uintptr_t>(dst)) & 31;
    mask_impl::scalar(dst, src, head, k64);
    dst += head;
    src += head;
    n -= head;
    k64 = rotate_mask(k64, head);
#if COREWS_X86_DISPATCH
    if (core::cpu_features().avx2) return mask_impl::avx2(dst, src, n, k64);
    return mask_impl::sse2(dst, src, n, k64);
#else
    return mask_impl::neon(dst, src, n, k64);
#endif
  }
#endif
  mask_impl::scalar(dst, src, n, k64);
}

inline void apply_mask(uint8_t* p, size_t n, const uint8_t key[4], size_t offset) {
  mask_copy(p, p, n, mask_word(key, offset));
}

}  // namespace corews::proto
