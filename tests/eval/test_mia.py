"""MIA attack scores, AUC and the LUME MIA score on tiny arrays, values worked out by hand."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from numpy.testing import assert_allclose

from obliviate.eval.metrics.mia import (
    ATTACKS,
    MiaResult,
    auc,
    loss_score,
    lume_mia_score,
    min_k_plus_plus_score,
    min_k_score,
    reference_score,
    run_attack,
    token_moments,
    zlib_score,
)

LN2 = math.log(2.0)


def test_loss_score_is_mean_logp():
    # mean(-1, -2, -3) = -2, i.e. -(mean NLL 2)
    assert loss_score(np.array([-1.0, -2.0, -3.0])) == pytest.approx(-2.0)
    assert loss_score([-0.5]) == pytest.approx(-0.5)


def test_zlib_score_divides_mean_logp_by_compressed_length():
    text = "the cat sat on the mat"
    zlib_entropy = len(zlib.compress(text.encode("utf-8")))
    # mean(-1, -2, -3) = -2, divided by the compressed byte length
    assert zlib_score([-1.0, -2.0, -3.0], text) == pytest.approx(-2.0 / zlib_entropy)
    # a member (less negative log-probs) scores higher than a non-member on the same text
    assert zlib_score([-0.5, -1.0], text) > zlib_score([-2.0, -3.0], text)


def test_min_k_takes_the_lowest_logps():
    logps = np.array([-1.0, -4.0, -2.0, -3.0])
    # k=0.5: int(2) = 2 lowest -> mean(-4, -3) = -3.5
    assert min_k_score(logps, k=0.5) == pytest.approx(-3.5)
    # k=0.2: int(0.8) = 0 -> floor of 1 token -> -4
    assert min_k_score(logps, k=0.2) == pytest.approx(-4.0)
    # k=0.75: int(3) = 3 lowest -> mean(-4, -3, -2) = -3
    assert min_k_score(logps, k=0.75) == pytest.approx(-3.0)
    # k=1: all -> mean = -2.5 = loss_score
    assert min_k_score(logps, k=1.0) == pytest.approx(loss_score(logps))
    with pytest.raises(ValueError):
        min_k_score(logps, k=0.0)
    with pytest.raises(ValueError):
        min_k_score([], k=0.5)


def test_min_k_plus_plus_with_given_moments_and_zero_sigma_guard():
    """logp = [-1, -2, -3], mu = -1.5 everywhere, sigma = [0.5, 1, 0]
    z = [(-1 + 1.5) / 0.5, (-2 + 1.5) / 1, guard] = [1, -0.5, 0]
    k=0.5: int(1.5) = 1 lowest -> -0.5;  k=1: mean(1, -0.5, 0) = 1/6."""
    logps, mu, sigma = [-1.0, -2.0, -3.0], [-1.5, -1.5, -1.5], [0.5, 1.0, 0.0]
    assert min_k_plus_plus_score(logps, mu, sigma, k=0.5) == pytest.approx(-0.5)
    assert min_k_plus_plus_score(logps, mu, sigma, k=1.0) == pytest.approx(1 / 6)
    with pytest.raises(ValueError):
        min_k_plus_plus_score(logps, mu, sigma[:2])
    with pytest.raises(ValueError):
        min_k_plus_plus_score(logps, mu, [0.5, -1.0, 0.0])


def test_token_moments_and_min_k_plus_plus_on_a_toy_vocabulary():
    """Vocabulary of 3, four positions (rows are p(. | x_<t)); observed token index in [].

    p = [0.5, 0.25, 0.25]: log p = [-ln2, -2ln2, -2ln2]
        mu = 0.5(-ln2) + 0.5(-2ln2) = -1.5 ln2
        E[(log p)^2] = 0.5 ln2^2 + 0.5 (4 ln2^2) = 2.5 ln2^2; var = 2.5 - 2.25 = 0.25 ln2^2; sigma = 0.5 ln2
        observed 0: z = (-ln2 + 1.5ln2) / 0.5ln2 = +1;  observed 1: z = (-2ln2 + 1.5ln2) / 0.5ln2 = -1
    p = [1, 0, 0]: log p = [0, -inf, -inf], mu = 0, sigma = 0 (p log p -> 0 for p = 0) -> z guarded to 0
    p = [0.25, 0.25, 0.5]: same moments as the first row; observed 0: z = -1
    z = [1, -1, 0, -1]
    k=0.75: int(3) = 3 lowest -> mean(-1, -1, 0) = -2/3;  k=1: mean = -1/4;  k=0.2: 1 token -> -1
    """
    probs = np.array([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25], [1.0, 0.0, 0.0], [0.25, 0.25, 0.5]])
    with np.errstate(divide="ignore"):
        logprob_matrix = np.log(probs)  # (4, 3), -inf where p = 0
    observed = np.array([0, 1, 0, 0])

    mu, sigma = token_moments(logprob_matrix)
    assert_allclose(mu, [-1.5 * LN2, -1.5 * LN2, 0.0, -1.5 * LN2], atol=1e-12)
    assert_allclose(sigma, [0.5 * LN2, 0.5 * LN2, 0.0, 0.5 * LN2], atol=1e-12)

    token_logps = logprob_matrix[np.arange(4), observed]  # [-ln2, -2ln2, 0, -2ln2]
    assert min_k_plus_plus_score(token_logps, mu, sigma, k=0.75) == pytest.approx(-2 / 3)
    assert min_k_plus_plus_score(token_logps, mu, sigma, k=1.0) == pytest.approx(-0.25)
    assert min_k_plus_plus_score(token_logps, mu, sigma, k=0.2) == pytest.approx(-1.0)


def test_flat_distribution_has_no_spread():
    # uniform over 3: every log p = mu = -ln3, sigma = 0 up to float noise -> z guarded to 0
    logprob_matrix = np.log(np.full((2, 3), 1 / 3))
    mu, sigma = token_moments(logprob_matrix)
    assert_allclose(mu, [-math.log(3)] * 2)
    assert_allclose(sigma, [0.0, 0.0], atol=1e-12)
    assert min_k_plus_plus_score(logprob_matrix[:, 0], mu, sigma, k=1.0) == 0.0


def test_reference_score_subtracts_reference_mean():
    # mean(-1, -2, -3) - mean(-2, -4) = -2 - (-3) = 1; lengths may differ
    assert reference_score([-1.0, -2.0, -3.0], [-2.0, -4.0]) == pytest.approx(1.0)


def test_auc_counts_member_over_nonmember_pairs():
    # 0.9 > both (2), 0.8 > both (2), 0.3 > 0.2 only (1): 5 of 6 pairs
    assert auc([0.9, 0.8, 0.3], [0.5, 0.2]) == pytest.approx(5 / 6)
    # ties count 1/2: 0.6 > both (2), 0.4 = 0.4 (1/2), 0.4 > 0.2 (1): 3.5 / 4
    assert auc([0.6, 0.4], [0.4, 0.2]) == pytest.approx(0.875)
    assert auc([0.5], [0.5]) == pytest.approx(0.5)


def test_lume_mia_score_penalizes_both_directions():
    # fully reversed: every non-member above every member -> AUC 0 -> score 0
    reversed_auc = auc([0.1, 0.2], [0.3, 0.4])
    assert reversed_auc == pytest.approx(0.0)
    assert lume_mia_score(reversed_auc) == pytest.approx(0.0)
    # 0.1 > none, 0.3 > 0.2 only: 1 of 4 -> AUC 0.25 -> 1 - 2 * 0.25 = 0.5, same as AUC 0.75
    assert auc([0.1, 0.3], [0.2, 0.4]) == pytest.approx(0.25)
    assert lume_mia_score(0.25) == pytest.approx(0.5)
    assert lume_mia_score(0.75) == pytest.approx(0.5)
    assert lume_mia_score(0.5) == pytest.approx(1.0)
    assert lume_mia_score(1.0) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        lume_mia_score(1.5)


def test_auc_rejects_empty_and_nan():
    with pytest.raises(ValueError, match="member"):
        auc([], [0.1])
    with pytest.raises(ValueError, match="nonmember"):
        auc([0.1], [])
    with pytest.raises(ValueError):
        auc([float("nan")], [0.1])


def test_run_attack_keeps_per_item_scores():
    result = run_attack("loss", [0.9, 0.8, 0.3], [0.5, 0.2])
    assert isinstance(result, MiaResult)
    assert result.auc == pytest.approx(5 / 6)
    assert result.score == pytest.approx(1 - 2 * (5 / 6 - 0.5))  # 1/3
    assert result.member_scores == [0.9, 0.8, 0.3]
    assert result.nonmember_scores == [0.5, 0.2]
    assert result.key == "mia/loss/member_vs_nonmember"
    assert set(ATTACKS) == {"loss", "zlib", "min_k", "min_k_plus_plus", "reference"}
    with pytest.raises(ValueError, match="unknown attack"):
        run_attack("lossy", [0.1], [0.2])
