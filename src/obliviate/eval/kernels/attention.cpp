// bf16 attention bit for bit as torch's CPU flash-attention kernel computes one unpadded row alone
// (what the official one-prompt loop runs), for many rows in one call: `decode_attention`, one
// query per row of a left-padded batch (decoding steps), and `prefill_attention`, documents packed
// back to back, each attending causally to itself (prompts' prefill, the likelihood pass).
//
// The reduction orders below were read off torch 2.13 on AVX512 (probes with cancelling values)
// and are checked at load time against the kernel itself (obliviate/eval/exact_attention.py);
// where they do not hold, the caller falls back to torch's kernel, row by row.
//
// Decoding (one query, n keys), ~12x faster per layer on the default target's shapes (46 rows of
// 60-180 keys: 0.23 against 2.9 ms for one torch call per row):
//   q.k      : four interleaved fp32 partial sums over the head dimension, then (s0 + s2) + (s1 + s3)
//   softmax  : scaled scores and their max; exp via Vectorized::fexp_u20 on whole vectors (two
//              accumulators over pairs of vectors, then one, then the lanes) and std::exp on the
//              scalar tail; probabilities rounded to bf16
//   p.v      : blocks of four keys summed as (x0 + x2) + (x1 + x3), blocks added in order, the
//              leftover keys last to first. When the kernel's own loop over heads runs on one
//              thread (a single head) its p.v gemm splits the keys over two threads instead:
//              halves [0, ceil(n/2)) and the rest, each summed so, then added (`split_halves`).
//   output   : (p.v) * (1 / sum), rounded to bf16
// Those are torch's own gemm; a prefill's query blocks of 4+ rows take oneDNN's instead (below).
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <ATen/native/cpu/utils.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "bf16_loads.h"

namespace {

using at::BFloat16;
using Vec = at::vec::Vectorized<float>;
constexpr int64_t kMaxKeys = 512;  // the kernel's kv block: beyond it, it rescales across blocks
constexpr int kMaxGroup = 16;     // query heads per key head
constexpr int64_t kMinPrefill = 16;  // shorter documents: torch's kernel (tiny matmuls take its own gemm)

// (s0 + s2) + (s1 + s3) of a 4-lane partial sum
inline float finish_dot(__m128 s) {
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// 4x4 transpose of 128-bit lanes: out[u] holds lane u of in[0..3], in that order
inline void transpose_lanes(const __m512* in, __m512* out) {
  const __m512 t0 = _mm512_shuffle_f32x4(in[0], in[1], 0x44);  // in0.l0 in0.l1 in1.l0 in1.l1
  const __m512 t1 = _mm512_shuffle_f32x4(in[0], in[1], 0xEE);  // in0.l2 in0.l3 in1.l2 in1.l3
  const __m512 t2 = _mm512_shuffle_f32x4(in[2], in[3], 0x44);
  const __m512 t3 = _mm512_shuffle_f32x4(in[2], in[3], 0xEE);
  out[0] = _mm512_shuffle_f32x4(t0, t2, 0x88);  // in0.l0 in1.l0 in2.l0 in3.l0
  out[1] = _mm512_shuffle_f32x4(t0, t2, 0xDD);
  out[2] = _mm512_shuffle_f32x4(t1, t3, 0x88);
  out[3] = _mm512_shuffle_f32x4(t1, t3, 0xDD);
}

// scores[h][j] = q_h . k_j for the heads sharing one key head, n keys (stride ks between keys),
// head dimension D (a multiple of 16, at most 256). Four keys share a vector: lane group t holds
// key t's four partial sums, so each step is one multiply and one add for four keys, and the keys
// are converted once for all heads.
void dot_products(const BFloat16* const* q, int64_t heads, const BFloat16* k, int64_t ks, int64_t n, int64_t D,
                  float* const* scores) {
  constexpr int kHeads = 4;  // heads per pass over the keys
  constexpr int kTiles = 2;  // groups of four keys in flight (independent chains of adds)
  const int64_t steps = D / 4, chunks = D / 16;
  for (int64_t h0 = 0; h0 < heads; h0 += kHeads) {
    const int64_t hn = std::min<int64_t>(kHeads, heads - h0);
    alignas(64) float qb[kHeads][64][16];  // q_h[4s..4s+3] repeated in the four lane groups
    for (int64_t h = 0; h < hn; ++h)
      for (int64_t s = 0; s < steps; ++s)
        _mm512_store_ps(qb[h][s], _mm512_broadcast_f32x4(load4(q[h0 + h] + 4 * s)));
    int64_t j = 0;
    for (; j + 4 * kTiles <= n; j += 4 * kTiles) {
      __m512 acc[kHeads][kTiles];
      for (int64_t h = 0; h < kHeads; ++h)
        for (int t = 0; t < kTiles; ++t) acc[h][t] = _mm512_setzero_ps();
      for (int64_t c = 0; c < chunks; ++c) {
        __m512 kt[kTiles][4];
        for (int t = 0; t < kTiles; ++t) {
          __m512 rows[4];
          for (int r = 0; r < 4; ++r) rows[r] = load16(k + (j + 4 * t + r) * ks + 16 * c);
          transpose_lanes(rows, kt[t]);  // kt[t][u]: step 4c+u of keys j+4t .. j+4t+3
        }
        for (int u = 0; u < 4; ++u)
          for (int64_t h = 0; h < hn; ++h) {
            const __m512 qs = _mm512_load_ps(qb[h][4 * c + u]);
            for (int t = 0; t < kTiles; ++t) acc[h][t] = _mm512_add_ps(acc[h][t], _mm512_mul_ps(qs, kt[t][u]));
          }
      }
      for (int64_t h = 0; h < hn; ++h)
        for (int t = 0; t < kTiles; ++t) {
          // per lane group: (s0 + s2) + (s1 + s3) in its first lane
          const __m512 a = acc[h][t];
          const __m512 pairs = _mm512_add_ps(a, _mm512_permute_ps(a, 0x4E));
          const __m512 total = _mm512_add_ps(pairs, _mm512_permute_ps(pairs, 0xB1));
          alignas(64) float lanes[16];
          _mm512_store_ps(lanes, total);
          for (int r = 0; r < 4; ++r) scores[h0 + h][j + 4 * t + r] = lanes[4 * r];
        }
    }
    for (; j < n; ++j)
      for (int64_t h = 0; h < hn; ++h) {
        __m128 acc = _mm_setzero_ps();
        for (int64_t s = 0; s < steps; ++s) acc = _mm_add_ps(acc, _mm_mul_ps(load4(q[h0 + h] + 4 * s), load4(k + j * ks + 4 * s)));
        scores[h0 + h][j] = finish_dot(acc);
      }
  }
}

// In place: scores -> bf16 probabilities p (unnormalized); returns their fp32 sum
float softmax_terms(float* scores, int64_t n, float scale, BFloat16* p) {
  const int64_t vs = Vec::size(), whole = vs * (n / vs);
  float mx = -std::numeric_limits<float>::infinity();
  Vec vmax(mx);
  const Vec vscale(scale);
  int64_t i = 0;
  for (; i < whole; i += vs) {
    const Vec t = Vec::loadu(scores + i) * vscale;
    vmax = at::vec::maximum(vmax, t);
    t.store(scores + i);
  }
  for (; i < n; ++i) {
    scores[i] = scores[i] * scale;
    mx = std::max(mx, scores[i]);
  }
  mx = std::max(mx, at::vec::vec_reduce_all<float>([](Vec& x, Vec& y) { return at::vec::maximum(x, y); }, vmax));
  const Vec vm(mx);
  Vec sum0(0.f), sum1(0.f);
  i = 0;
  for (; i + 2 * vs <= whole; i += 2 * vs) {
    const Vec e0 = (Vec::loadu(scores + i) - vm).fexp_u20();
    const Vec e1 = (Vec::loadu(scores + i + vs) - vm).fexp_u20();
    sum0 += e0;
    sum1 += e1;
    at::native::_store(p + i, e0);
    at::native::_store(p + i + vs, e1);
  }
  for (; i < whole; i += vs) {
    const Vec e = (Vec::loadu(scores + i) - vm).fexp_u20();
    sum0 += e;
    at::native::_store(p + i, e);
  }
  float sum = at::vec::vec_reduce_all<float>([](Vec& x, Vec& y) { return x + y; }, sum0 + sum1);
  for (; i < n; ++i) {
    const float e = std::exp(scores[i] - mx);
    sum += e;
    p[i] = BFloat16(e);
  }
  return sum;
}

// acc[h] (D floats as D/16 vectors) = sum over keys [begin, end) of p[h][j] * v_j in the kernel's
// order (see the top), for the heads sharing one value head; false when the range is empty
bool weighted_values(const BFloat16* const* p, int64_t heads, const BFloat16* v, int64_t vstride, int64_t begin,
                     int64_t end, int64_t D, __m512 (*acc)[16]) {
  const int64_t chunks = D / 16;
  bool started = false;
  int64_t j = begin;
  for (; j + 4 <= end; j += 4) {
    for (int64_t c = 0; c < chunks; ++c) {
      __m512 vc[4];
      for (int t = 0; t < 4; ++t) vc[t] = load16(v + (j + t) * vstride + 16 * c);
      for (int64_t h = 0; h < heads; ++h) {
        __m512 x[4];
        for (int t = 0; t < 4; ++t) x[t] = _mm512_mul_ps(_mm512_set1_ps(static_cast<float>(p[h][j + t])), vc[t]);
        const __m512 block = _mm512_add_ps(_mm512_add_ps(x[0], x[2]), _mm512_add_ps(x[1], x[3]));
        acc[h][c] = started ? _mm512_add_ps(acc[h][c], block) : block;
      }
    }
    started = true;
  }
  for (int64_t r = end - 1; r >= j; --r) {
    for (int64_t c = 0; c < chunks; ++c) {
      const __m512 vc = load16(v + r * vstride + 16 * c);
      for (int64_t h = 0; h < heads; ++h) {
        const __m512 x = _mm512_mul_ps(_mm512_set1_ps(static_cast<float>(p[h][r])), vc);
        acc[h][c] = started ? _mm512_add_ps(acc[h][c], x) : x;
      }
    }
    started = true;
  }
  return started;
}

// out = bf16(total * (1 / sum)), as torch's kernel finishes a row
inline void store_row(const __m512* total, float sum, int64_t D, BFloat16* out) {
  float dst[256];
  for (int64_t c = 0; c < D / 16; ++c) _mm512_storeu_ps(dst + 16 * c, total[c]);
  const float r = 1 / sum;
  at::vec::map<BFloat16>([r](Vec x) { return x * Vec(r); }, out, dst, D);
}

}  // namespace

// query (B, H, 1, D); key, value (B, Hk, W, D), each row's n keys at the end (left padding);
// lengths (B,) int64, 0 skips the row (zeros). Returns (B, 1, H, D) like transformers' attention.
torch::Tensor decode_attention(const torch::Tensor& query, const torch::Tensor& key, const torch::Tensor& value,
                               const torch::Tensor& lengths, double scale, bool split_halves) {
  TORCH_CHECK(query.scalar_type() == at::kBFloat16 && key.scalar_type() == at::kBFloat16 &&
              value.scalar_type() == at::kBFloat16, "decode_attention: bf16 only");
  TORCH_CHECK(query.dim() == 4 && query.size(2) == 1, "decode_attention: one query per row");
  const int64_t B = query.size(0), H = query.size(1), D = query.size(3);
  const int64_t Hk = key.size(1), W = key.size(2);
  TORCH_CHECK(D % 16 == 0 && D <= 256 && H % Hk == 0, "decode_attention: unsupported head layout");
  TORCH_CHECK(query.stride(3) == 1 && key.stride(3) == 1 && value.stride(3) == 1,
              "decode_attention: head dimension must be contiguous");
  const auto len = lengths.contiguous();
  const int64_t* n_of = len.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) TORCH_CHECK(n_of[b] >= 0 && n_of[b] <= std::min(W, kMaxKeys), "decode_attention: row length");
  auto out = torch::zeros({B, 1, H, D}, query.options());
  const BFloat16* qd = query.const_data_ptr<BFloat16>();
  const BFloat16* kd = key.const_data_ptr<BFloat16>();
  const BFloat16* vd = value.const_data_ptr<BFloat16>();
  BFloat16* od = out.data_ptr<BFloat16>();
  const int64_t group = H / Hk;
  const float sc = static_cast<float>(scale);
  TORCH_CHECK(group <= kMaxGroup, "decode_attention: too many query heads per key head");
  at::parallel_for(0, B * Hk, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> score_buf(kMaxGroup * kMaxKeys);
    std::vector<BFloat16> p_buf(kMaxGroup * kMaxKeys);
    float* scores[kMaxGroup];
    BFloat16* p[kMaxGroup];
    const BFloat16* q[kMaxGroup];
    for (int64_t h = 0; h < group; ++h) {
      scores[h] = score_buf.data() + h * kMaxKeys;
      p[h] = p_buf.data() + h * kMaxKeys;
    }
    __m512 acc[kMaxGroup][16], half2[kMaxGroup][16];
    float sums[kMaxGroup];
    for (int64_t w = begin; w < end; ++w) {
      const int64_t b = w / Hk, g = w % Hk, n = n_of[b];
      if (n == 0) continue;
      for (int64_t h = 0; h < group; ++h) q[h] = qd + b * query.stride(0) + (g * group + h) * query.stride(1);
      const BFloat16* k = kd + b * key.stride(0) + g * key.stride(1) + (W - n) * key.stride(2);
      const BFloat16* v = vd + b * value.stride(0) + g * value.stride(1) + (W - n) * value.stride(2);
      dot_products(q, group, k, key.stride(2), n, D, scores);
      for (int64_t h = 0; h < group; ++h) sums[h] = softmax_terms(scores[h], n, sc, p[h]);
      const int64_t split = split_halves ? (n + 1) / 2 : n;
      weighted_values(p, group, v, value.stride(2), 0, split, D, acc);
      if (weighted_values(p, group, v, value.stride(2), split, n, D, half2))
        for (int64_t h = 0; h < group; ++h)
          for (int64_t c = 0; c < D / 16; ++c) acc[h][c] = _mm512_add_ps(acc[h][c], half2[h][c]);
      for (int64_t h = 0; h < group; ++h) store_row(acc[h], sums[h], D, od + (b * H + g * group + h) * D);
    }
  });
  return out;
}


namespace {

// torch's K blocks of the p.v product for query blocks of four rows or more (oneDNN's bf16 matmul,
// read off with cancelling probes): up to 192 keys one block; below 384 two blocks of floor(n / 2)
// and, for odd n, the last key alone; else blocks of 192 and the rest. A block's sum starts from
// zero and is added to the total, blocks in order. Returns the number of blocks; starts[count] = n.
int value_blocks(int64_t n, int64_t* starts) {
  int count = 0;
  starts[count++] = 0;
  if (n > 192 && n < 384) {
    starts[count++] = n / 2;
    if (n % 2) starts[count++] = n - 1;
  } else if (n >= 384) {
    for (int64_t b = 192; b < n; b += 192) starts[count++] = b;
  }
  starts[count] = n;
  return count;
}

// scores[r][j] = q_r . k_j for keys j < nk: one fp32 chain per score over the head dimension, in
// order, from zero (a product of two bf16 is exact in fp32, so a fused multiply-add rounds as the
// add alone). q: R rows of D floats; kt: the keys by 16, [n / 16][D][16] floats.
template <int R>
void chain_scores(const float* q, const float* kt, int64_t D, int64_t nk, float* const* scores) {
  const int64_t blocks = (nk + 15) / 16;
  int64_t jb = 0;
  for (; jb + 2 <= blocks; jb += 2) {
    __m512 acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const float* k0 = kt + jb * D * 16;
    const float* k1 = k0 + D * 16;
    for (int64_t d = 0; d < D; ++d) {
      const __m512 a = _mm512_loadu_ps(k0 + 16 * d), b = _mm512_loadu_ps(k1 + 16 * d);
      for (int r = 0; r < R; ++r) {
        const __m512 qs = _mm512_set1_ps(q[r * D + d]);
        acc[r][0] = _mm512_fmadd_ps(qs, a, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(qs, b, acc[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm512_storeu_ps(scores[r] + 16 * jb, acc[r][0]);
      _mm512_storeu_ps(scores[r] + 16 * jb + 16, acc[r][1]);
    }
  }
  if (jb < blocks) {
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    const float* k0 = kt + jb * D * 16;
    for (int64_t d = 0; d < D; ++d) {
      const __m512 a = _mm512_loadu_ps(k0 + 16 * d);
      for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(q[r * D + d]), a, acc[r]);
    }
    for (int r = 0; r < R; ++r) _mm512_storeu_ps(scores[r] + 16 * jb, acc[r]);
  }
}

// torch's softmax terms for a row of n scores of which the first `valid` are unmasked (its causal
// mask fills the rest with -inf, whose exp is 0): `softmax_terms` above with the vectors that hold
// only masked scores skipped, as they add zeros. Scores are scaled in place; p gets the bf16
// probabilities and pf the same as floats, both zero for 32 keys past `valid`. Returns their sum.
float causal_softmax(float* scores, int64_t n, int64_t valid, float scale, BFloat16* p, float* pf) {
  constexpr int64_t vs = 16;
  const int64_t whole = vs * (n / vs), span = std::min(whole, vs * ((valid + vs - 1) / vs));
  const float minus_inf = -std::numeric_limits<float>::infinity();
  const __m512 vscale = _mm512_set1_ps(scale);
  __m512 vmax = _mm512_set1_ps(minus_inf);
  for (int64_t i = 0; i < span; i += vs) {
    const __mmask16 masked = valid - i >= vs ? 0 : static_cast<__mmask16>(0xFFFFu << (valid - i));
    const __m512 x = _mm512_mask_mov_ps(_mm512_mul_ps(_mm512_loadu_ps(scores + i), vscale), masked,
                                        _mm512_set1_ps(minus_inf));
    _mm512_storeu_ps(scores + i, x);
    vmax = _mm512_max_ps(vmax, x);
  }
  float mx = _mm512_reduce_max_ps(vmax);
  for (int64_t i = whole; i < valid; ++i) {
    scores[i] = scores[i] * scale;
    mx = std::max(mx, scores[i]);
  }
  const Vec vm(mx);
  Vec sum0(0.f), sum1(0.f);
  for (int64_t i = 0, v = 0; i < span; i += vs, ++v) {
    const Vec e = (Vec::loadu(scores + i) - vm).fexp_u20();
    if (v % 2 == 0) {
      sum0 += e;
    } else {
      sum1 += e;
    }
    at::native::_store(p + i, e);
  }
  float sum = at::vec::vec_reduce_all<float>([](Vec& x, Vec& y) { return x + y; }, sum0 + sum1);
  for (int64_t i = whole; i < valid; ++i) {
    const float e = std::exp(scores[i] - mx);
    sum += e;
    p[i] = BFloat16(e);
  }
  for (int64_t i = valid; i < valid + 32; ++i) p[i] = BFloat16(0.f);
  for (int64_t i = 0; i < valid + 32; i += vs) _mm512_storeu_ps(pf + i, load16(p + i));
  return sum;
}

// total[r] (4 vectors: 64 dimensions from `dims`) gets p_r . v over keys [b0, b1): one fp32 chain per
// output over the keys in order, from zero, then added to the total (`first`: the total). pf: R rows
// of probabilities (stride ps); vf: the values, [n][D] floats. Not inlined: inlined, the totals
// held in registers left no room for the four value vectors, and every multiply-add re-read its
// value from memory (16 loads a key instead of 4): 10% of the kernel's time.
template <int R>
__attribute__((noinline)) void chain_values(const float* pf, int64_t ps, const float* vf, int64_t D, int64_t dims,
                                            int64_t b0, int64_t b1, bool first, __m512 (*total)[4]) {
  __m512 acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t j = b0; j < b1; ++j) {
    const float* row = vf + j * D + dims;
    const __m512 v0 = _mm512_loadu_ps(row), v1 = _mm512_loadu_ps(row + 16);
    const __m512 v2 = _mm512_loadu_ps(row + 32), v3 = _mm512_loadu_ps(row + 48);
    for (int r = 0; r < R; ++r) {
      const __m512 pj = _mm512_set1_ps(pf[r * ps + j]);
      acc[r][0] = _mm512_fmadd_ps(pj, v0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(pj, v1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(pj, v2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(pj, v3, acc[r][3]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < 4; ++c) total[r][c] = first ? acc[r][c] : _mm512_add_ps(total[r][c], acc[r][c]);
}

constexpr int64_t kRowSpan = kMaxKeys + 64;  // a row's scores / probabilities, with room past the end

// One document and query head: R query rows [first, first + R) of a query block of `block_rows`
// rows (torch's split: its matmuls take other paths for fewer than four rows), attending causally to
// the document's n keys. q: the rows (stride qs); k, v: the bf16 keys / values (strides ks, vs);
// kt, vf: the same packed as floats. Writes each row's output at out + row * ostride.
template <int R>
void query_rows(const BFloat16* q, int64_t qs, const BFloat16* k, int64_t ks, const float* kt, const float* vf,
                int64_t n, int64_t D, int64_t first, int64_t block_rows, float scale, float* work, BFloat16* pwork,
                BFloat16* out, int64_t ostride) {
  const int64_t last = first + R - 1;
  float* qf = work;                     // R x D
  float* scores_buf = qf + R * D;       // R x kRowSpan
  float* pf = scores_buf + R * kRowSpan;  // R x kRowSpan
  float* scores[R];
  for (int r = 0; r < R; ++r) scores[r] = scores_buf + r * kRowSpan;
  for (int r = 0; r < R; ++r)  // the next rows' queries: far apart in memory (stride H x D)
    for (int64_t d = 0; d < D; d += 32) _mm_prefetch(reinterpret_cast<const char*>(q + (last + 1 + r) * qs + d), _MM_HINT_T0);
  if (block_rows >= 4) {
    for (int r = 0; r < R; ++r)
      for (int64_t d = 0; d < D; ++d) qf[r * D + d] = static_cast<float>(q[(first + r) * qs + d]);
    chain_scores<R>(qf, kt, D, last + 1, scores);
  } else {  // torch's own gemm: the decode kernel's dot products
    for (int r = 0; r < R; ++r) {
      const BFloat16* row = q + (first + r) * qs;
      dot_products(&row, 1, k, ks, first + r + 1, D, &scores[r]);
    }
  }
  float sums[R];
  for (int r = 0; r < R; ++r)
    sums[r] = causal_softmax(scores[r], n, first + r + 1, scale, pwork + r * kRowSpan, pf + r * kRowSpan);
  int64_t starts[8] = {0, last + 1};
  const int count = block_rows >= 4 ? value_blocks(n, starts) : 1;  // fewer rows: one chain
  for (int64_t dims = 0; dims < D; dims += 64) {
    __m512 total[R][4];
    for (int b = 0; b < count && starts[b] <= last; ++b)
      chain_values<R>(pf, kRowSpan, vf, D, dims, starts[b], std::min(starts[b + 1], last + 1), b == 0, total);
    for (int r = 0; r < R; ++r) store_row(total[r], sums[r], 64, out + (first + r) * ostride + dims);
  }
}

}  // namespace

// Packed documents' causal attention (a forward's documents back to back, each attending to itself
// only), each document bit for bit as torch's CPU flash kernel computes it alone in bf16, ~2.5x
// faster than one torch call per document (8 documents of 150-420 tokens, 9 / 3 heads of 64:
// 7.1-7.2 against 17.5-17.8 ms a layer, two threads). Torch splits a document's queries into blocks of 32 rows (64
// from 192 tokens; documents here have at most 512, one kv block) and runs two matmuls per block:
//   blocks of 4+ rows, oneDNN's bf16 matmul:
//     q.k    : one fp32 chain per score over the head dimension, in order
//     p.v    : one fp32 chain per output over the keys, in order, in K blocks (`value_blocks`)
//              whose sums are added in order
//   blocks of 2-3 rows, torch's own gemm: q.k as decoding's; p.v one chain over the keys
//   a block of 1 row (the document's last query): decoding's orders over all its keys
//   softmax  : decoding's, over the whole row with the masked scores at -inf (their exp is 0, so
//              vectors of masked scores are skipped); output as decoding's.
// Query (1, H, T, D), key / value (1, Hk, T, D), head dimension a multiple of 64; lengths: the
// documents' token counts (summing to T). Documents of 16-512 tokens are computed here (shorter
// ones' tiny matmuls take other paths); others are left zero for the caller (torch's kernel).
// Returns (1, T, H, D).
torch::Tensor prefill_attention(const torch::Tensor& query, const torch::Tensor& key, const torch::Tensor& value,
                                const torch::Tensor& lengths, double scale) {
  TORCH_CHECK(query.scalar_type() == at::kBFloat16 && key.scalar_type() == at::kBFloat16 &&
              value.scalar_type() == at::kBFloat16, "prefill_attention: bf16 only");
  TORCH_CHECK(query.dim() == 4 && query.size(0) == 1, "prefill_attention: one packed row");
  const int64_t H = query.size(1), T = query.size(2), D = query.size(3), Hk = key.size(1);
  TORCH_CHECK(D % 64 == 0 && D <= 256 && H % Hk == 0, "prefill_attention: head layout");
  TORCH_CHECK(query.stride(3) == 1 && key.stride(3) == 1 && value.stride(3) == 1,
              "prefill_attention: head dimension must be contiguous");
  const auto len = lengths.contiguous();
  const int64_t* n_of = len.data_ptr<int64_t>();
  const int64_t S = len.numel();
  std::vector<int64_t> start(S + 1, 0);
  for (int64_t s = 0; s < S; ++s) start[s + 1] = start[s] + n_of[s];
  TORCH_CHECK(start[S] == T, "prefill_attention: lengths must sum to the row's tokens");
  auto out = torch::zeros({1, T, H, D}, query.options());
  const int64_t group = H / Hk;
  const float sc = static_cast<float>(scale);
  const BFloat16* qd = query.const_data_ptr<BFloat16>();
  const BFloat16* kd = key.const_data_ptr<BFloat16>();
  const BFloat16* vd = value.const_data_ptr<BFloat16>();
  BFloat16* od = out.data_ptr<BFloat16>();
  const int64_t qs2 = query.stride(2), qs1 = query.stride(1), ks2 = key.stride(2), ks1 = key.stride(1);
  const int64_t vs2 = value.stride(2), vs1 = value.stride(1);
  auto computed = [&](int64_t s) { return n_of[s] >= kMinPrefill && n_of[s] <= kMaxKeys; };

  // per (document, key head): the keys by 16, [n / 16][D][16], and the values, [n][D], as floats
  std::vector<int64_t> kofs(S * Hk + 1, 0), vofs(S * Hk + 1, 0);
  for (int64_t s = 0; s < S; ++s)
    for (int64_t g = 0; g < Hk; ++g) {
      const int64_t n = computed(s) ? n_of[s] : 0;
      kofs[s * Hk + g + 1] = kofs[s * Hk + g] + (n + 15) / 16 * 16 * D;
      vofs[s * Hk + g + 1] = vofs[s * Hk + g] + n * D;
    }
  std::vector<float> kpack(kofs.back()), vpack(vofs.back());
  at::parallel_for(0, S * Hk, 1, [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w) {
      const int64_t s = w / Hk, g = w % Hk, n = n_of[s];
      if (!computed(s)) continue;
      const BFloat16* k = kd + g * ks1 + start[s] * ks2;
      const BFloat16* v = vd + g * vs1 + start[s] * vs2;
      float* kt = kpack.data() + kofs[w];
      for (int64_t j = 0; j < (n + 15) / 16 * 16; ++j)
        for (int64_t d = 0; d < D; ++d) kt[((j / 16) * D + d) * 16 + j % 16] = j < n ? static_cast<float>(k[j * ks2 + d]) : 0.f;
      float* vf = vpack.data() + vofs[w];
      for (int64_t j = 0; j < n; ++j)
        for (int64_t d = 0; d < D; ++d) vf[j * D + d] = static_cast<float>(v[j * vs2 + d]);
    }
  });

  // work items: (document, query head, query block) as torch's kernel splits them, the costliest
  // first, handed out one at a time (their costs differ by the block's place in its document)
  struct Item { int64_t s, h, m, rows, cost; };
  std::vector<Item> items;
  for (int64_t s = 0; s < S; ++s) {
    if (!computed(s)) continue;
    const int64_t n = n_of[s], qsplit = n >= 768 ? 256 : n >= 192 ? 64 : 32;
    for (int64_t h = 0; h < H; ++h)
      for (int64_t m = 0; m < n; m += qsplit) {
        const int64_t rows = std::min(qsplit, n - m);
        items.push_back({s, h, m, rows, rows * (m + rows)});
      }
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.cost > b.cost; });
  std::atomic<int64_t> next{0};
  const int64_t workers = std::min<int64_t>(at::get_num_threads(), static_cast<int64_t>(items.size()));
  at::parallel_for(0, workers, 1, [&](int64_t, int64_t) {
    std::vector<float> work(4 * D + 2 * 4 * kRowSpan + 64);
    std::vector<BFloat16> pwork(4 * kRowSpan);
    for (int64_t w = next++; w < static_cast<int64_t>(items.size()); w = next++) {
      const Item it = items[w];
      const int64_t n = n_of[it.s], g = it.h / group, kv = it.s * Hk + g;
      const BFloat16* k = kd + g * ks1 + start[it.s] * ks2;
      const BFloat16* v = vd + g * vs1 + start[it.s] * vs2;
      const BFloat16* q = qd + it.h * qs1 + start[it.s] * qs2;
      BFloat16* o = od + (start[it.s] * H + it.h) * D;
      const float* kt = kpack.data() + kofs[kv];
      const float* vf = vpack.data() + vofs[kv];
      if (it.rows == 1) {  // torch's own gemm (the decode kernel's orders): the row sees all n keys
        const BFloat16* row = q + it.m * qs2;
        float* scores = work.data();
        BFloat16* p = pwork.data();
        dot_products(&row, 1, k, ks2, n, D, &scores);
        const float sum = softmax_terms(scores, n, sc, p);
        __m512 acc[1][16];
        weighted_values(&p, 1, v, vs2, 0, n, D, acc);
        store_row(acc[0], sum, D, o + it.m * H * D);
        continue;
      }
      int64_t r0 = 0;
      for (; r0 + 4 <= it.rows; r0 += 4)
        query_rows<4>(q, qs2, k, ks2, kt, vf, n, D, it.m + r0, it.rows, sc, work.data(), pwork.data(), o, H * D);
      switch (it.rows - r0) {
        case 3: query_rows<3>(q, qs2, k, ks2, kt, vf, n, D, it.m + r0, it.rows, sc, work.data(), pwork.data(), o, H * D); break;
        case 2: query_rows<2>(q, qs2, k, ks2, kt, vf, n, D, it.m + r0, it.rows, sc, work.data(), pwork.data(), o, H * D); break;
        case 1: query_rows<1>(q, qs2, k, ks2, kt, vf, n, D, it.m + r0, it.rows, sc, work.data(), pwork.data(), o, H * D); break;
        default: break;
      }
    }
  });
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("decode_attention", &decode_attention, "exact batched bf16 decode attention (see the file's top)");
  m.def("prefill_attention", &prefill_attention, "exact packed causal bf16 attention (see prefill_attention)");
}
