// bf16 values widened to fp32 (a bf16 is the high half of the fp32 with the same bits), shared by
// the kernels of this directory (obliviate/eval/exact_attention.py's `build` rebuilds them when it
// changes)
#pragma once

#include <c10/util/BFloat16.h>
#include <immintrin.h>

inline __m128 load4(const at::BFloat16* p) {
  const __m128i x = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  return _mm_castsi128_ps(_mm_slli_epi32(_mm_cvtepu16_epi32(x), 16));
}

inline __m256 load8(const at::BFloat16* p) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(x), 16));
}

inline __m512 load16(const at::BFloat16* p) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(x), 16));
}
