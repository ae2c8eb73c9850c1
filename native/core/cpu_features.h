// What the CPU this process runs on can do, asked once. The addon is built for
// the baseline of its architecture (x86-64: SSE2; arm64: NEON) so that one
// binary runs everywhere; the few hot loops that gain from wider vectors have
// a second body compiled with __attribute__((target(...))) and pick it at run
// time through these flags.
#pragma once

namespace corews::core {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define COREWS_X86_DISPATCH 1

struct CpuFeatures {
  bool ssse3;
  bool avx2;
  bool avx512bw;  // and AVX512F, which it implies
};

// Read once (a function-local static: thread-safe; later calls cost a load
// and a predictable branch). Tests call each body directly, whatever this says.
inline const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    __builtin_cpu_init();
    return CpuFeatures{__builtin_cpu_supports("ssse3") != 0, __builtin_cpu_supports("avx2") != 0,
                       __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512bw") != 0};
  }();
  return f;
}

#else
#define COREWS_X86_DISPATCH 0
#endif

}  // namespace corews::core
