// Llama's RMSNorm, rotary embedding and MLP gate in bf16, each one pass over its input, bit for bit
// as transformers computes them through a chain of torch ops (8, 10 and 2 ops, each a pass over
// memory and ~5 µs of dispatch; the norm's and rotary's were half of a likelihood pass's
// elementwise time and ~8% of a decoding step).
//
// Every op of those chains rounds per element, except RMSNorm's mean, so each is reproduced as
// written: a bf16 op computes in fp32 and rounds to nearest even (NaN to 0xffff, as torch's
// vectorized conversion does). The mean's sum follows torch 2.13's SumKernel.cpp on this CPU: its
// float sum runs 8 lanes wide, four vectors interleaved (`row_sum`, ilp 4) through the cascade of
// `multi_row_sum`, then the scalar tail, then the 8 lanes in order; the mean divides by n. The
// gate's SiLU is a function of a bf16 value, so it is looked up in a table of torch's own results
// for all 65536 of them.
// obliviate/eval/exact_elementwise.py checks each against transformers' own modules before use.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "bf16_loads.h"

namespace {

using at::BFloat16;

// fp32 -> bf16, round to nearest even; NaN -> 0xffff (torch's vectorized cvtfp32_bf16)
inline __m256i round16(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i bias = _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(bits, bias), 16);
  r = _mm512_mask_blend_epi32(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), _mm512_set1_epi32(0xffff), r);
  return _mm512_cvtepi32_epi16(r);
}

inline __m512 as_bf16(__m512 v) {  // v rounded to bf16, back in fp32
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(round16(v)), 16));
}

inline uint16_t round_bits(float x) {  // scalar twin of round16
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return std::isnan(x) ? 0xffff : static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

inline float bf16_value(float x) {  // scalar twin of as_bf16
  const uint32_t bits = static_cast<uint32_t>(round_bits(x)) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

inline int64_t ceil_log2(int64_t x) {  // c10's CeilLog2
  if (x <= 2) return 1;
  return 64 - __builtin_clzll(static_cast<uint64_t>(x - 1));
}

// torch's sum of float(x_i)^2 over a row of n bf16 values (SumKernel.cpp's vectorized_inner_sum of
// the pow(2) tensor, 8 lanes)
float sum_of_squares(const BFloat16* x, int64_t n) {
  constexpr int kLevels = 4, kIlp = 4;
  const int64_t vectors = n / 8, size = vectors / kIlp;
  const int64_t level_power = std::max<int64_t>(4, ceil_log2(size) / kLevels);
  const int64_t level_step = int64_t(1) << level_power, level_mask = level_step - 1;
  auto square = [&](int64_t v) {
    const __m256 h = load8(x + 8 * v);
    return _mm256_mul_ps(h, h);
  };
  __m256 acc[kLevels][kIlp];
  for (auto& level : acc)
    for (auto& a : level) a = _mm256_setzero_ps();
  int64_t i = 0;
  while (i + level_step <= size) {
    for (int64_t j = 0; j < level_step; ++j, ++i)
      for (int k = 0; k < kIlp; ++k) acc[0][k] = _mm256_add_ps(acc[0][k], square(kIlp * i + k));
    for (int j = 1; j < kLevels; ++j) {
      for (int k = 0; k < kIlp; ++k) {
        acc[j][k] = _mm256_add_ps(acc[j][k], acc[j - 1][k]);
        acc[j - 1][k] = _mm256_setzero_ps();
      }
      if (i & (level_mask << (j * level_power))) break;
    }
  }
  for (; i < size; ++i)
    for (int k = 0; k < kIlp; ++k) acc[0][k] = _mm256_add_ps(acc[0][k], square(kIlp * i + k));
  for (int j = 1; j < kLevels; ++j)
    for (int k = 0; k < kIlp; ++k) acc[0][k] = _mm256_add_ps(acc[0][k], acc[j][k]);
  for (int64_t v = size * kIlp; v < vectors; ++v) acc[0][0] = _mm256_add_ps(acc[0][0], square(v));
  for (int k = 1; k < kIlp; ++k) acc[0][0] = _mm256_add_ps(acc[0][0], acc[0][k]);
  float total = 0.f;
  for (int64_t t = vectors * 8; t < n; ++t) {
    const float h = static_cast<float>(x[t]);
    total += h * h;
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc[0][0]);
  for (float lane : lanes) total += lane;
  return total;
}

}  // namespace

// x (R, n) bf16 contiguous, weight (n,) bf16: weight * bf16(x * rsqrt(mean(x^2) + eps)), every
// step in fp32 as transformers' LlamaRMSNorm computes it
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  TORCH_CHECK(x.scalar_type() == at::kBFloat16 && weight.scalar_type() == at::kBFloat16, "rms_norm: bf16 only");
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous() && weight.is_contiguous() && weight.numel() == x.size(1),
              "rms_norm: (rows, n) contiguous input and an (n,) weight");
  const int64_t rows = x.size(0), n = x.size(1), whole = n - n % 16;
  auto out = torch::empty_like(x);
  const BFloat16* xd = x.const_data_ptr<BFloat16>();
  const BFloat16* wd = weight.const_data_ptr<BFloat16>();
  BFloat16* od = out.data_ptr<BFloat16>();
  const float epsilon = static_cast<float>(eps), count = static_cast<float>(n);
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const BFloat16* row = xd + r * n;
      const float scale = 1.f / std::sqrt(sum_of_squares(row, n) / count + epsilon);
      const __m512 vscale = _mm512_set1_ps(scale);
      BFloat16* o = od + r * n;
      int64_t i = 0;
      for (; i < whole; i += 16) {
        const __m512 y = as_bf16(_mm512_mul_ps(load16(row + i), vscale));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + i), round16(_mm512_mul_ps(load16(wd + i), y)));
      }
      for (; i < n; ++i) {
        const float y = bf16_value(static_cast<float>(row[i]) * scale);
        o[i] = BFloat16(round_bits(static_cast<float>(wd[i]) * y), BFloat16::from_bits());
      }
    }
  });
  return out;
}

// x (B, H, T, D) bf16 with a contiguous head dimension, cos / sin (B, T, D) bf16 (any strides
// before the last): bf16(bf16(x * cos) + bf16(rotate_half(x) * sin)), rotate_half(x) =
// cat(-x[D/2:], x[:D/2]), as transformers' apply_rotary_pos_emb. Returns x's layout.
torch::Tensor rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  TORCH_CHECK(x.scalar_type() == at::kBFloat16 && cos.scalar_type() == at::kBFloat16 &&
              sin.scalar_type() == at::kBFloat16, "rotary: bf16 only");
  TORCH_CHECK(x.dim() == 4 && cos.dim() == 3 && sin.dim() == 3, "rotary: x (B, H, T, D), cos / sin (B, T, D)");
  const int64_t B = x.size(0), H = x.size(1), T = x.size(2), D = x.size(3), half = D / 2;
  TORCH_CHECK(D % 32 == 0 && x.stride(3) == 1 && cos.stride(2) == 1 && sin.stride(2) == 1,
              "rotary: head dimension a multiple of 32, contiguous");
  TORCH_CHECK(cos.size(0) == B && cos.size(1) == T && cos.size(2) == D && sin.sizes() == cos.sizes(),
              "rotary: cos / sin must be (B, T, D)");
  auto out = torch::empty_like(x);
  const BFloat16* xd = x.const_data_ptr<BFloat16>();
  const BFloat16* cd = cos.const_data_ptr<BFloat16>();
  const BFloat16* sd = sin.const_data_ptr<BFloat16>();
  BFloat16* od = out.data_ptr<BFloat16>();
  const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(0x80000000u)));
  at::parallel_for(0, B * T, 64, [&](int64_t begin, int64_t end) {
    for (int64_t bt = begin; bt < end; ++bt) {
      const int64_t b = bt / T, t = bt % T;
      const BFloat16* c = cd + b * cos.stride(0) + t * cos.stride(1);
      const BFloat16* s = sd + b * sin.stride(0) + t * sin.stride(1);
      for (int64_t h = 0; h < H; ++h) {
        const BFloat16* in = xd + b * x.stride(0) + h * x.stride(1) + t * x.stride(2);
        BFloat16* o = od + b * out.stride(0) + h * out.stride(1) + t * out.stride(2);
        for (int64_t i = 0; i < half; i += 16) {
          const __m512 lo = load16(in + i), hi = load16(in + half + i);
          // first half: x * cos + (-x_hi) * sin; second half: x * cos + x_lo * sin
          const __m512 a0 = as_bf16(_mm512_mul_ps(lo, load16(c + i)));
          const __m512 b0 = as_bf16(_mm512_mul_ps(_mm512_xor_ps(hi, sign), load16(s + i)));
          const __m512 a1 = as_bf16(_mm512_mul_ps(hi, load16(c + half + i)));
          const __m512 b1 = as_bf16(_mm512_mul_ps(lo, load16(s + half + i)));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + i), round16(_mm512_add_ps(a0, b0)));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + half + i), round16(_mm512_add_ps(a1, b1)));
        }
      }
    }
  });
  return out;
}

// gate, up (R, n) bf16 contiguous; table (65537,) bf16: torch's SiLU of every bf16 bit pattern
// (plus one entry, so the gather's 4-byte read of the last stays inside). bf16(float(silu(gate)) *
// float(up)): LlamaMLP's `act_fn(gate_proj(x)) * up_proj(x)`, its two ops in one pass
torch::Tensor silu_gate(const torch::Tensor& gate, const torch::Tensor& up, const torch::Tensor& table) {
  TORCH_CHECK(gate.scalar_type() == at::kBFloat16 && up.scalar_type() == at::kBFloat16 &&
                  table.scalar_type() == at::kBFloat16,
              "silu_gate: bf16 only");
  TORCH_CHECK(gate.sizes() == up.sizes() && gate.is_contiguous() && up.is_contiguous(),
              "silu_gate: gate and up of one shape, contiguous");
  TORCH_CHECK(table.dim() == 1 && table.numel() == 65537 && table.is_contiguous(),
              "silu_gate: a table of 65537 values");
  auto out = torch::empty_like(gate);
  const int64_t total = gate.numel(), vectors = total / 16;
  const uint16_t* g = reinterpret_cast<const uint16_t*>(gate.const_data_ptr<BFloat16>());
  const BFloat16* u = up.const_data_ptr<BFloat16>();
  const BFloat16* t = table.const_data_ptr<BFloat16>();
  BFloat16* o = out.data_ptr<BFloat16>();
  const __m512i low16 = _mm512_set1_epi32(0xffff);
  // a gather of 16 table entries beats computing them (Sleef's exp and a division: 1.2 against
  // 0.8 ms for 1771 x 1536 values on two threads; torch's two ops 1.1 ms)
  at::parallel_for(0, vectors, 2048, [&](int64_t begin, int64_t end) {
    for (int64_t v = begin; v < end; ++v) {
      const int64_t i = 16 * v;
      const __m512i index = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + i)));
      const __m512i pair = _mm512_i32gather_epi32(index, t, 2);  // table[index] in the low half
      const __m512 silu = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_and_si512(pair, low16), 16));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + i), round16(_mm512_mul_ps(silu, load16(u + i))));
    }
  });
  for (int64_t i = 16 * vectors; i < total; ++i) {
    const float silu = static_cast<float>(t[g[i]]);
    o[i] = BFloat16(round_bits(silu * static_cast<float>(u[i])), BFloat16::from_bits());
  }
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("rms_norm", &rms_norm, "Llama RMSNorm in bf16, as transformers computes it (see the file's top)");
  m.def("rotary", &rotary, "Llama rotary embedding in bf16, as transformers computes it");
  m.def("silu_gate", &silu_gate, "LlamaMLP's silu(gate) * up in bf16, as transformers computes it");
}
