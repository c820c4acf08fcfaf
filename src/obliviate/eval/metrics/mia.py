"""Membership-inference (MIA) attacks as pure functions over cached per-token log-probs.

A model pass (`eval/passes.py`) computes, once per (model, split), each document's per-token
log-probs `token_logps[t] = log p(x_t | x_<t)` (1-D, one entry per scored token) and, for Min-K%++,
the mean and std of log p(z | x_<t) over the vocabulary (`token_moments` below is the reference
numpy implementation of those two). Every attack here turns one document's arrays into one number.

Convention for every `*_score` function: HIGHER = MORE LIKELY A MEMBER (the document was trained on
and not forgotten). `auc` labels members 1, so an attack that separates perfectly has AUC 1; a model
that has unlearned well gives AUC ~0.5, and AUC < 0.5 (members now look *less* familiar than unseen
text) is over-unlearning, which `lume_mia_score` penalizes like under-unlearning.

LUME / SemEval-2025 Task 4 uses the loss attack only: AUC of the ROC of -NLL (mean token NLL of the
whole document), members labelled 1, then `1 - 2|AUC - 0.5|`. The others are extra diagnostics.

Test: `pytest tests/eval/test_mia.py` (hand-computed fixtures, no model).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Name -> what the attack measures. Every score is oriented higher = member.
ATTACKS: dict[str, str] = {
    "loss": "mean token log-prob (-NLL); LUME's official attack (Yeom et al. 2018)",
    "zlib": "mean token log-prob / zlib-compressed byte length (Carlini et al. 2021)",
    "min_k": "mean of the k% lowest token log-probs (Min-K%, Shi et al. 2023)",
    "min_k_plus_plus": (
        "mean of the k% lowest per-token z-scores (logp - mu) / sigma (Min-K%++, Zhang et al. 2024)"
    ),
    "reference": "mean token log-prob minus a reference model's (oracle or base) (Carlini et al. 2021)",
}

# Min-K%++: positions whose vocabulary log-prob std is at most this are treated as having no spread.
SIGMA_EPS = 1e-6


def _as_1d(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    return array


def _lowest_mean(values: np.ndarray, k: float) -> float:
    """Mean of the max(1, int(k * n)) smallest entries of `values`."""
    if not 0.0 < k <= 1.0:
        raise ValueError(f"k must be in (0, 1], got {k}")
    n_lowest = max(1, int(k * values.size))
    return float(np.sort(values)[:n_lowest].mean())


def loss_score(token_logps) -> float:
    """-(mean token NLL) = mean of `token_logps`; higher = member.

    Members were fitted, so their tokens are more probable. This is LUME's attack: the official
    script scores `-model(ids, labels=ids).loss`, i.e. this mean over every scored token of the
    document (BOS as the tokenizer adds it).
    """
    return float(_as_1d(token_logps, "token_logps").mean())


def zlib_score(token_logps, text: str) -> float:
    """Mean token log-prob divided by the zlib entropy of `text`; higher = member.

    score = mean_t log p(x_t | x_<t) / len(zlib.compress(text.encode('utf-8')))

    Carlini et al. 2021 (arXiv 2012.07805) calibrate the loss by the text's compressed length so that
    merely repetitive, easy text (low NLL and low zlib entropy) is not taken for memorized. The form
    is the one in the Min-K% code (Shi et al. 2023, `ppl/zlib` = log(ppl) / zlib), negated so that
    higher = member: the mean log-prob is negative, members' is closer to 0, and dividing by a
    positive length keeps that order.
    """
    zlib_entropy = len(zlib.compress(text.encode("utf-8")))  # > 0 even for '' (zlib header)
    return loss_score(token_logps) / zlib_entropy


def min_k_score(token_logps, k: float = 0.2) -> float:
    """Min-K% Prob (Shi et al. 2023, arXiv 2310.16789): mean of the k% lowest token log-probs.

    Uses the `max(1, int(k * n))` smallest log-probs of the n tokens (the paper's code takes
    `int(n * k)`; the floor of 1 keeps short documents scoreable). Higher = member: an unseen text
    has a few very surprising tokens, a member has few outliers. `k` in (0, 1].
    """
    return _lowest_mean(_as_1d(token_logps, "token_logps"), k)


def min_k_plus_plus_score(token_logps, token_mu, token_sigma, k: float = 0.2) -> float:
    """Min-K%++ (Zhang et al. 2024, arXiv 2404.02936): mean of the k% lowest per-token z-scores.

    z_t = (log p(x_t | x_<t) - mu_t) / sigma_t, with mu_t, sigma_t the mean and std of log p(z | x_<t)
    for z ~ p(. | x_<t) (see `token_moments`). Training pushes a member's tokens towards local maxima
    of the likelihood, so they score high relative to the rest of the vocabulary at that position;
    normalising by the position's own spread makes positions comparable. Higher = member.
    The mean is over the `max(1, int(k * n))` smallest z, as in `min_k_score`.

    sigma_t = 0 (within SIGMA_EPS): all the probability sits on tokens of one probability (a point
    mass, or a flat distribution over its support), so for any token the model could produce
    log p = mu and z is 0/0. We set z_t = 0 there: the position carries no evidence either way
    (and float noise in a near-zero sigma would otherwise give an arbitrary, huge z).
    """
    logps = _as_1d(token_logps, "token_logps")
    mu = _as_1d(token_mu, "token_mu")
    sigma = _as_1d(token_sigma, "token_sigma")
    if not logps.shape == mu.shape == sigma.shape:
        raise ValueError(f"length mismatch: logps {logps.shape}, mu {mu.shape}, sigma {sigma.shape}")
    if np.any(sigma < 0) or np.any(np.isnan(sigma)):
        raise ValueError("token_sigma must be >= 0 (it is a standard deviation)")
    spread = sigma > SIGMA_EPS
    z = np.zeros_like(logps)  # (T,)
    np.divide(logps - mu, sigma, out=z, where=spread)
    return _lowest_mean(z, k)


def token_moments(logprob_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per-position mean and std of log p(z) under z ~ p, from a (T, V) matrix of log-probs.

    mu_t = sum_z p(z) log p(z);  sigma_t = sqrt(sum_z p(z) (log p(z))^2 - mu_t^2).
    The variance is computed in the equivalent centered form sum_z p(z) (log p(z) - mu_t)^2, which
    does not cancel catastrophically, and clipped at 0. Entries with p = 0 (log-prob -inf) contribute
    0 (the limit of p log p), not NaN. Reference implementation for the model pass (which does the
    same on log_softmax of the logits in torch); returns float64 arrays of shape (T,).
    """
    logps = np.asarray(logprob_matrix, dtype=np.float64)  # (T, V)
    if logps.ndim != 2:
        raise ValueError(f"logprob_matrix must be 2-D (positions, vocab), got shape {logps.shape}")
    probs = np.exp(logps)  # (T, V); exp(-inf) = 0
    finite_logps = np.where(np.isfinite(logps), logps, 0.0)  # p = 0 there, so the value is irrelevant
    mu = (probs * finite_logps).sum(axis=-1)  # (T,)
    var = (probs * (finite_logps - mu[:, None]) ** 2).sum(axis=-1)  # (T,)
    sigma = np.sqrt(np.maximum(var, 0.0))  # (T,)
    return mu, sigma


def reference_score(token_logps, ref_token_logps) -> float:
    """Reference-calibrated loss: mean log-prob under the model minus under a reference model.

    Carlini et al. 2021 / Watson et al. 2022: dividing out (in log space, subtracting) how easy the
    text is for a model that did not see it isolates what training on it added. With the retrain
    oracle as reference, a perfectly unlearned model scores ~0 on members. Higher = member. The two
    arrays may differ in length (a reference with another tokenizer): each is averaged on its own.
    """
    return loss_score(token_logps) - loss_score(ref_token_logps)


def _scores(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise ValueError(f"auc needs at least one {name} score, got none")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} scores contain NaN or inf")
    return array


def auc(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> float:
    """ROC AUC of members (label 1) vs non-members (label 0), scores oriented higher = member.

    Exactly the official computation: `sklearn.metrics.auc(*roc_curve(labels, scores)[:2])` (they pass
    -NLL as the score). Equals P(member score > non-member score), ties counting 1/2.
    """
    members = _scores(member_scores, "member")
    nonmembers = _scores(nonmember_scores, "nonmember")
    # Imported here: sklearn takes ~1 s to import and only this function needs it.
    from sklearn.metrics import auc as sk_auc
    from sklearn.metrics import roc_curve

    labels = np.concatenate([np.ones(members.size), np.zeros(nonmembers.size)])
    fpr, tpr, _ = roc_curve(labels, np.concatenate([members, nonmembers]))
    return float(sk_auc(fpr, tpr))


def lume_mia_score(auc_value):
    """LUME's MIA score 1 - 2|AUC - 0.5|: 1.0 at AUC 0.5 (indistinguishable), 0.0 at AUC 0 or 1.

    AUC < 0.5 means members now look less likely than unseen text (over-unlearning, itself a
    membership signal), so it is penalized symmetrically with under-unlearning (AUC > 0.5).
    A float gives a float; an array (the bootstrap's resampled AUCs) gives an array.
    """
    values = np.asarray(auc_value, dtype=np.float64)
    if not np.all((values >= 0.0) & (values <= 1.0)):  # also rejects NaN
        raise ValueError(f"AUC must be in [0, 1], got {auc_value}")
    score = 1.0 - 2.0 * np.abs(values - 0.5)
    return float(score) if score.ndim == 0 else score


@dataclass(frozen=True)
class MiaResult:
    """One attack's outcome, with the per-document scores kept for audit (STYLE section 3)."""

    attack: str
    auc: float
    score: float  # lume_mia_score(auc); higher is better
    member_scores: list[float]
    nonmember_scores: list[float]

    @property
    def key(self) -> str:
        """Metric key in the metric table's form, e.g. 'mia/loss/member_vs_nonmember'."""
        return f"mia/{self.attack}/member_vs_nonmember"


def run_attack(name: str, member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> MiaResult:
    """AUC and LUME score of one attack's per-document scores (higher = member)."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; known: {sorted(ATTACKS)}")
    auc_value = auc(member_scores, nonmember_scores)
    return MiaResult(
        attack=name,
        auc=auc_value,
        score=lume_mia_score(auc_value),
        member_scores=[float(s) for s in member_scores],
        nonmember_scores=[float(s) for s in nonmember_scores],
    )


# PrivLeak (MUSE, and TOFU's privleak): muse-bench labels the holdout documents 1, the forget 0.
def privleak_auc(forget_scores: Sequence[float], holdout_scores: Sequence[float]) -> float:
    """muse-bench's AUC: holdout documents labelled 1, forget documents 0, scored by the Min-K
    mean log p (higher = looks trained on), i.e. 1 - AUC(members = forget)."""
    return 1.0 - auc(forget_scores, holdout_scores)


def privleak(auc_value, oracle_auc):
    """(AUC - AUC_oracle) / AUC_oracle × 100: 0 when the model leaks like the oracle, near -100 for
    a model that memorised the forget set, large and positive for over-unlearning. Floats or the
    bootstrap's arrays."""
    if np.ndim(oracle_auc) == 0:  # an oracle AUC of 0 (every forget document likelier): no scale
        return (auc_value - oracle_auc) / oracle_auc * 100.0 if oracle_auc > 0 else None
    positive = np.asarray(oracle_auc) > 0  # a resample where the oracle's AUC is 0 has no value
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            positive, (auc_value - oracle_auc) / np.where(positive, oracle_auc, 1.0) * 100.0, np.nan
        )
