"""TOFU's metrics as open-unlearning computes them (formulas from its source; see
`../shared/reference/BENCHMARKS_ATTACKS_INFERENCE.md` §1). Pure functions of per-token log-probs
and generations; `eval/protocols/tofu.py` asks the subject for those.

- answer probability, length-normalised: p = exp(mean token log p of the answer);
- normalised probability (real authors, world facts): p_c / (p_c + Σ_k p_wrong,k + 1e-10);
- truth ratio of a question: TR = p_wrong / p_correct with p_wrong = exp(-mean_k avgloss_k), the
  geometric mean of the perturbed answers' normalised probabilities; "correct" is the paraphrased
  answer on the forget and retain sets and the answer itself on real authors and world facts;
- aggregates: forget mean(min(TR, 1/TR)); retain, real authors, world facts mean(max(0, 1 - TR));
- ROUGE-L recall of the greedy generation against the answer, stemmed (LUME's regurgitation);
- forget quality: the p-value of the two-sample Kolmogorov-Smirnov test between the model's and
  the retrain oracle's per-question forget truth ratios (higher: closer to the oracle);
- model utility: the harmonic mean of the nine retain / real-author / world-fact values.

Test: tests/eval/test_tofu_muse_metrics.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from obliviate.eval.metrics.lume import regurgitation as rouge_recall

__all__ = [
    "answer_probability",
    "forget_quality",
    "forget_truth_ratio",
    "model_utility",
    "normalized_probability",
    "retain_truth_ratio",
    "rouge_recall",
    "truth_ratio",
]


def _mean_logp(token_logps) -> float:
    values = np.asarray(token_logps, dtype=np.float64)
    if values.size == 0:
        raise ValueError("an answer with no tokens has no probability")
    return float(values.mean())


def answer_probability(token_logps) -> float:
    """exp(mean log p) of an answer's tokens: its length-normalised probability."""
    return float(np.exp(_mean_logp(token_logps)))


def normalized_probability(correct_logps, wrong_logps: Sequence) -> float:
    """p_c / (p_c + Σ p_wrong + 1e-10), each p length-normalised (open-unlearning's
    `probability_w_options`)."""
    p_correct = answer_probability(correct_logps)
    p_wrong = sum(answer_probability(w) for w in wrong_logps)
    return p_correct / (p_correct + p_wrong + 1e-10)


def truth_ratio(correct_logps, perturbed_logps: Sequence) -> float:
    """p_wrong / p_correct: p_wrong the geometric mean of the perturbed answers' normalised
    probabilities (exp of minus their mean average loss), p_correct the correct answer's."""
    if not perturbed_logps:
        raise ValueError("a truth ratio needs at least one perturbed answer")
    wrong = np.mean([_mean_logp(w) for w in perturbed_logps])
    return float(np.exp(wrong - _mean_logp(correct_logps)))


def forget_truth_ratio(ratios: Sequence[float]) -> float:
    """mean(min(TR, 1/TR)): 1 when the model cannot tell the true answer from wrong ones."""
    values = np.asarray(ratios, dtype=np.float64)
    return float(np.mean(np.minimum(values, 1.0 / values)))


def retain_truth_ratio(ratios: Sequence[float]) -> float:
    """mean(max(0, 1 - TR)): 1 when the true answer is far more likely than the wrong ones."""
    return float(np.mean(np.maximum(0.0, 1.0 - np.asarray(ratios, dtype=np.float64))))


def forget_quality(model_ratios: Sequence[float], oracle_ratios: Sequence[float]) -> float:
    """p-value of `scipy.stats.ks_2samp` between the model's and the oracle's forget truth ratios."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(np.asarray(model_ratios), np.asarray(oracle_ratios)).pvalue)


def model_utility(values: Sequence[float]) -> float:
    """Harmonic mean of the nine utility values (`scipy.stats.hmean`): 0 when any is 0."""
    array = np.asarray(values, dtype=np.float64)
    if array.size != 9:
        raise ValueError(f"model utility is the harmonic mean of 9 values, got {array.size}")
    if (array < 0).any():
        raise ValueError(f"utility values must not be negative: {array.tolist()}")
    if (array == 0).any():
        return 0.0
    return float(array.size / np.sum(1.0 / array))
