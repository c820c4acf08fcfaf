"""Leak@k by hand: the best LUME score of k samples, and the curve of the best of the first j."""

from __future__ import annotations

import pytest

from obliviate.eval.metrics.leak import leak_at_k_knowledge, leak_at_k_regurgitation, leak_curve
from obliviate.eval.metrics.lume import knowledge, regurgitation

# ROUGE-L recall against "the cat sat" (3 tokens), by the longest common subsequence:
# "a dog ran" 0/3, "a cat" 1/3 (cat), "cat sat down" 2/3 (cat sat), "the cat sat here" 3/3.
REFERENCE = "the cat sat"
SAMPLES = ["a dog ran", "cat sat down", "a cat", "the cat sat here"]


def test_leak_at_k_regurgitation_is_the_best_rouge_l_recall():
    assert leak_at_k_regurgitation(REFERENCE, SAMPLES[:3]) == pytest.approx(2 / 3)
    assert leak_at_k_regurgitation(REFERENCE, SAMPLES) == pytest.approx(1.0)
    assert leak_at_k_regurgitation(REFERENCE, ["a dog ran"]) == 0.0


def test_leak_at_k_knowledge_is_any_exact_answer():
    # exact match after strip().lower(): " PARIS " matches, "Paris, France" does not
    assert leak_at_k_knowledge("Paris", ["Lyon", "Paris, France"]) == 0.0
    assert leak_at_k_knowledge("Paris", ["Lyon", " PARIS ", "Rome"]) == 1.0


def test_leak_curve_is_the_best_of_the_first_j_samples():
    assert leak_curve(REFERENCE, SAMPLES, regurgitation) == pytest.approx([0.0, 2 / 3, 2 / 3, 1.0])
    assert leak_curve("Paris", ["Lyon", "paris", "Rome"], knowledge) == [0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="at least one sample"):
        leak_curve(REFERENCE, [], regurgitation)
