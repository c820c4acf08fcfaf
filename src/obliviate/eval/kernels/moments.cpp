// Min-K%++'s moments of log p under p, one pass over each row of fp32 log-probs (R, V):
// mu = sum p log p and sigma^2 = sum p (log p - mu)^2, p = exp(log p).
//
// torch computes them as six passes over the row (exp, two products, a square, two sums): ~0.7 s
// of a likelihood pass over LUME's 68 validation MIA documents on this project's 2-core CPU, most
// of it MKL's exp. Here p comes from a polynomial exp (Cephes' expf: range reduction by ln 2, a
// degree-6 minimax polynomial, within 2 ulp over the range that matters) and every product and sum
// is in float64 (p log p is exact there), so the sums are closer to the float64 reference
// (`eval.metrics.mia.token_moments`) than torch's fp32 cascade. A row's arithmetic is one fixed
// order whatever rows are beside it and whatever the thread count.
//
// A zero probability (log p = -inf, or below exp's range) adds exactly 0, as the reference takes
// p log p -> 0; a NaN log-prob makes its row's moments NaN.
//
// `logit_statistics` starts from the logits instead: each row's log-probs are torch's
// `logits.float().log_softmax(-1)`, computed by torch's own vector code (the max and the sum of
// exp(x - max) of ATen/native/cpu/LogSoftmaxKernelImpl.h, Sleef's exp and log from libtorch) but
// never written out: each vector of them goes straight into the moments' sums, and the target's is
// kept. It saves the fp32 copy of the logits, the log-softmax's write of the row and the moments'
// read of it.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <immintrin.h>

#include <cfloat>
#include <cmath>
#include <vector>

#include "bf16_loads.h"

namespace {

// Cephes' expf on 16 lanes; 0 below -103.9 (under exp's smallest denormal) and for -inf
inline __m512 exp16(__m512 x) {
  const __m512 zero_below = _mm512_set1_ps(-103.9f);
  const __mmask16 vanishes = _mm512_cmp_ps_mask(x, zero_below, _CMP_LT_OQ);
  x = _mm512_min_ps(_mm512_max_ps(x, zero_below), _mm512_set1_ps(88.7f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);  // ln 2 in two parts, exact first
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~vanishes), _mm512_scalef_ps(p, n));
}

// float64 sums of p, p log p and p (log p)^2 over 16 values, 8 lanes each (low and high halves)
struct Sums {
  __m512d p[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
  __m512d pl[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
  __m512d pll[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};

  inline void add(__m512 log_p) {
    const __m512 p16 = exp16(log_p);
    // -inf -> -FLT_MAX, whose product with p = 0 is 0 (a NaN stays: max returns its 2nd operand)
    const __m512 l16 = _mm512_max_ps(_mm512_set1_ps(-FLT_MAX), log_p);
    const __m512d ps[2] = {_mm512_cvtps_pd(_mm512_castps512_ps256(p16)),
                           _mm512_cvtps_pd(_mm512_extractf32x8_ps(p16, 1))};
    const __m512d ls[2] = {_mm512_cvtps_pd(_mm512_castps512_ps256(l16)),
                           _mm512_cvtps_pd(_mm512_extractf32x8_ps(l16, 1))};
    for (int h = 0; h < 2; ++h) {
      const __m512d product = _mm512_mul_pd(ps[h], ls[h]);  // exact: 24 x 24 bits
      p[h] = _mm512_add_pd(p[h], ps[h]);
      pl[h] = _mm512_add_pd(pl[h], product);
      pll[h] = _mm512_fmadd_pd(product, ls[h], pll[h]);
    }
  }
};

inline double lanes_sum(__m512d v) {  // the 8 lanes in order
  alignas(64) double lanes[8];
  _mm512_store_pd(lanes, v);
  double s = 0;
  for (double x : lanes) s += x;
  return s;
}

// a row's (mu, sigma) from its sums
inline void finish(const Sums& sums, float* mu, float* sigma) {
  const double total = lanes_sum(sums.p[0]) + lanes_sum(sums.p[1]);
  const double mean = lanes_sum(sums.pl[0]) + lanes_sum(sums.pl[1]);
  const double second = lanes_sum(sums.pll[0]) + lanes_sum(sums.pll[1]);
  // the centred sum of p (log p - mu)^2, expanded: the probabilities' rounding leaves their total
  // a little off 1, and E[(log p)^2] - mu^2 would turn that into a variance (~3e-4 in sigma for
  // a uniform row)
  const double variance = second - mean * mean * (2 - total);
  *mu = static_cast<float>(mean);
  *sigma = static_cast<float>(std::sqrt(variance < 0 ? 0.0 : variance));  // NaN stays NaN
}

using Vec = at::vec::Vectorized<float>;

// torch's log-softmax of one fp32 row (serial_vec_log_softmax_lastdim_range) up to its last step:
// the row's max and the log of its sum of exp(x - max), with torch's reductions and Sleef's exp
inline void max_and_log_sum(const float* x, int64_t n, float* row_max, float* log_sum) {
  *row_max = at::vec::reduce_all<float>([](Vec& a, Vec& b) { return at::vec::maximum(a, b); }, x, n);
  const Vec shift(*row_max);
  const float sum = at::vec::map_reduce_all<float>(
      [shift](Vec v) { return (v - shift).exp(); }, [](Vec a, Vec b) { return a + b; }, x, n);
  at::vec::map([](Vec v) { return v.log(); }, log_sum, &sum, 1);  // torch's vector log, one lane
}

}  // namespace

std::vector<torch::Tensor> logp_moments(torch::Tensor log_p) {
  TORCH_CHECK(log_p.dim() == 2 && log_p.scalar_type() == torch::kFloat && log_p.is_contiguous() &&
                  log_p.device().is_cpu(),
              "logp_moments takes contiguous fp32 (rows, vocabulary) log-probs on the CPU");
  const int64_t rows = log_p.size(0), n = log_p.size(1);
  auto mu = torch::empty({rows}, log_p.options());
  auto sigma = torch::empty({rows}, log_p.options());
  const float* in = log_p.data_ptr<float>();
  float* mu_out = mu.data_ptr<float>();
  float* sigma_out = sigma.data_ptr<float>();
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = in + r * n;
      Sums sums;
      int64_t i = 0;
      for (; i + 16 <= n; i += 16) sums.add(_mm512_loadu_ps(row + i));
      if (i < n) {  // the tail's missing lanes read as -inf: p = 0, nothing added
        const __mmask16 valid = static_cast<__mmask16>((1u << (n - i)) - 1);
        sums.add(_mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), valid, row + i));
      }
      finish(sums, mu_out + r, sigma_out + r);
    }
  });
  return {mu, sigma};
}

// (log p of each row's target, mu, sigma) from logits (R, V), bf16 or fp32, and targets (R,):
// `logp_moments` of torch's `logits.float().log_softmax(-1)`, and that log-softmax at the target
std::vector<torch::Tensor> logit_statistics(torch::Tensor logits, torch::Tensor targets) {
  const bool bf16 = logits.scalar_type() == torch::kBFloat16;
  TORCH_CHECK(logits.dim() == 2 && (bf16 || logits.scalar_type() == torch::kFloat) &&
                  logits.is_contiguous() && logits.device().is_cpu() && logits.size(1) > 0,
              "logit_statistics takes contiguous bf16 or fp32 (rows, vocabulary) logits on the CPU");
  TORCH_CHECK(targets.dim() == 1 && targets.size(0) == logits.size(0) &&
                  targets.scalar_type() == torch::kLong && targets.is_contiguous() &&
                  targets.device().is_cpu(),
              "logit_statistics takes one int64 target per row");
  const int64_t rows = logits.size(0), n = logits.size(1);
  const int64_t* target = targets.data_ptr<int64_t>();
  for (int64_t r = 0; r < rows; ++r)
    TORCH_CHECK(0 <= target[r] && target[r] < n, "target ", target[r], " outside the vocabulary of ", n);
  auto options = logits.options().dtype(torch::kFloat);
  auto logp = torch::empty({rows}, options), mu = torch::empty({rows}, options);
  auto sigma = torch::empty({rows}, options);
  float* logp_out = logp.data_ptr<float>();
  float* mu_out = mu.data_ptr<float>();
  float* sigma_out = sigma.data_ptr<float>();
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> widened(bf16 ? n : 0);  // a bf16 row in fp32, as `.float()` makes it
    for (int64_t r = begin; r < end; ++r) {
      const float* x;
      if (bf16) {
        const at::BFloat16* in = logits.data_ptr<at::BFloat16>() + r * n;
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(widened.data() + i, load16(in + i));
        for (; i < n; ++i) widened[i] = static_cast<float>(in[i]);
        x = widened.data();
      } else {
        x = logits.data_ptr<float>() + r * n;
      }
      float row_max, log_sum;
      max_and_log_sum(x, n, &row_max, &log_sum);
      // torch's last step, x - max - log_sum in that order, one vector at a time into the sums
      const Vec shift(row_max), log_total(log_sum);
      Sums sums;
      int64_t i = 0;
      for (; i + 16 <= n; i += 16) sums.add(Vec::loadu(x + i) - shift - log_total);
      if (i < n) {  // the tail's missing lanes are -inf: p = 0, nothing added
        const __mmask16 valid = static_cast<__mmask16>((1u << (n - i)) - 1);
        const __m512 tail = Vec::loadu(x + i, n - i) - shift - log_total;
        sums.add(_mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), valid, tail));
      }
      finish(sums, mu_out + r, sigma_out + r);
      logp_out[r] = x[target[r]] - row_max - log_sum;
    }
  });
  return {logp, mu, sigma};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("logp_moments", &logp_moments, "Min-K%++'s (mu, sigma) of fp32 log-probs (rows, V); see the file's top");
  m.def("logit_statistics", &logit_statistics,
        "(log p of the targets, mu, sigma) of bf16 or fp32 logits (rows, V); see the file's top");
}
