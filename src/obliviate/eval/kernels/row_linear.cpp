// A bf16 linear layer (no bias) for a few one-token rows, each row computed bit for bit as torch
// computes that row alone (the one-row matmul the official one-prompt loop decodes with), but with
// the weight read once for all rows, from a copy packed for the dot-product instruction.
//
// The order reproduced was read off torch 2.13 on an AVX512-BF16 CPU (probes with cancelling
// values) and is checked at load time against torch itself (obliviate/eval/exact_linear.py):
//   each output sums its inputs in blocks of 512: a block's pairs (k, k + 1) one `vdpbf16ps` at a
//   time (k + 1 first, as the instruction does), from zero; the blocks' sums are added in order;
//   the total is rounded to bf16 (to nearest even).
// Torch's one-row kernel reads its weight at ~7 GB/s on this project's CPU (one thread); this one
// streams the packed copy, and the rows of a decoding step share the read.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace {

constexpr int64_t kBlock = 512;  // inputs summed together before a block's sum joins the total
constexpr int64_t kTile = 16;    // outputs per vector
constexpr int64_t kRows = 8;     // rows that share one pass over a tile's weights
constexpr int kPrefetchFrom = 5;  // rows from which the weights are prefetched in software

// Rows [0, R) of x (int32 pairs of bf16, `pairs` a row) times tiles [begin, end) of packed weights
// (each `pairs` vectors of 16 pairs): each row's 16 outputs of a tile, rounded, at
// y + r * n + t * 16.
template <int R>
void rows_tiles(const int32_t* x, int64_t pairs, const __m512i* packed, uint16_t* y, int64_t n, int64_t begin,
                int64_t end) {
  for (int64_t t = begin; t < end; ++t) {
    const __m512i* tile = packed + t * pairs;
    __m512 total[R];
    for (int64_t start = 0; start < pairs; start += kBlock / 2) {
      const int64_t stop = std::min(pairs, start + kBlock / 2);
      __m512 sum[R];
      for (int r = 0; r < R; ++r) sum[r] = _mm512_setzero_ps();
      for (int64_t p = start; p < stop; ++p) {
        // With several rows the instruction and the weights' read take turns; asking for the
        // weights 2 KB ahead overlaps them (8 rows of 1536 x 576: 114 -> 87 µs, one thread). One to
        // four rows read fastest on the hardware prefetcher alone. (A prefetch past the end of the
        // weights does not fault.)
        if constexpr (R >= kPrefetchFrom) _mm_prefetch(reinterpret_cast<const char*>(tile + p + 32), _MM_HINT_T0);
        const __m512bh w = (__m512bh)_mm512_loadu_si512(tile + p);
        for (int r = 0; r < R; ++r) {  // the row's inputs (k, k + 1) broadcast to all 16 outputs
          sum[r] = _mm512_dpbf16_ps(sum[r], w, (__m512bh)_mm512_set1_epi32(x[r * pairs + p]));
        }
      }
      for (int r = 0; r < R; ++r) total[r] = start == 0 ? sum[r] : _mm512_add_ps(total[r], sum[r]);
    }
    for (int r = 0; r < R; ++r) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + r * n + t * kTile), (__m256i)_mm512_cvtneps_pbh(total[r]));
    }
  }
}

void row_group(const int32_t* x, int64_t rows, int64_t pairs, const __m512i* packed, uint16_t* y, int64_t n,
               int64_t begin, int64_t end) {
  switch (rows) {
    case 1: return rows_tiles<1>(x, pairs, packed, y, n, begin, end);
    case 2: return rows_tiles<2>(x, pairs, packed, y, n, begin, end);
    case 3: return rows_tiles<3>(x, pairs, packed, y, n, begin, end);
    case 4: return rows_tiles<4>(x, pairs, packed, y, n, begin, end);
    case 5: return rows_tiles<5>(x, pairs, packed, y, n, begin, end);
    case 6: return rows_tiles<6>(x, pairs, packed, y, n, begin, end);
    case 7: return rows_tiles<7>(x, pairs, packed, y, n, begin, end);
    default: return rows_tiles<8>(x, pairs, packed, y, n, begin, end);
  }
}

}  // namespace

// x (M, K) bf16, packed (N / 16, K / 2, 16) int32 pairs (exact_linear.pack): y (M, N) bf16.
torch::Tensor row_linear(torch::Tensor x, torch::Tensor packed) {
  TORCH_CHECK(x.scalar_type() == at::kBFloat16 && x.dim() == 2 && x.is_contiguous(), "row_linear: x (M, K) bf16");
  TORCH_CHECK(packed.scalar_type() == at::kInt && packed.dim() == 3 && packed.size(2) == kTile &&
                  packed.is_contiguous(),
              "row_linear: packed weights (N / 16, K / 2, 16) int32");
  const int64_t M = x.size(0), K = x.size(1), pairs = packed.size(1), n = packed.size(0) * kTile;
  TORCH_CHECK(K == 2 * pairs, "row_linear: x has ", K, " inputs, the weights ", 2 * pairs);
  auto y = torch::empty({M, n}, x.options());
  const auto* xs = reinterpret_cast<const int32_t*>(x.data_ptr<at::BFloat16>());
  const auto* ws = reinterpret_cast<const __m512i*>(packed.data_ptr<int32_t>());
  auto* ys = reinterpret_cast<uint16_t*>(y.data_ptr<at::BFloat16>());
  // Threads take chunks of tiles; a chunk's weights are read from memory once, and again from
  // cache for each further group of rows (groups of at most kRows, as even as can be).
  const int64_t groups = (M + kRows - 1) / kRows, chunk = 6;
  at::parallel_for(0, packed.size(0), 2 * chunk, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; t += chunk) {
      const int64_t stop = std::min(end, t + chunk);
      for (int64_t g = 0, r = 0; g < groups; ++g) {
        const int64_t rows = (M - r) / (groups - g);
        row_group(xs + r * pairs, rows, pairs, ws, ys + r * n, n, t, stop);
        r += rows;
      }
    }
  });
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("row_linear", &row_linear, "exact bf16 linear of one-token rows (see the file's top)");
}
