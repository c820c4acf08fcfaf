"""TOFU and MUSE metrics against values computed by hand (and scipy where the reference uses it)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp

from obliviate.eval.metrics import mia, muse, tofu
from obliviate.eval.protocols.muse import truncate_tokens

# Three questions: (correct answer's token log-probs, each perturbed answer's).
QUESTIONS = [
    ([-1.0, -1.0], [[-2.0, -2.0], [-3.0, -3.0]]),  # p_wrong = exp(-2.5), p_c = exp(-1): TR = exp(-1.5)
    ([-2.0], [[-1.0], [-1.0]]),  # TR = exp(-1 + 2) = e
    ([-0.5, -1.5], [[-1.0]]),  # equal means: TR = 1
]


def test_truth_ratio_of_three_questions_and_both_aggregates():
    ratios = [tofu.truth_ratio(c, w) for c, w in QUESTIONS]
    assert ratios == pytest.approx([math.exp(-1.5), math.e, 1.0])
    # forget: mean(min(TR, 1/TR)) = (e^-1.5 + e^-1 + 1) / 3
    assert tofu.forget_truth_ratio(ratios) == pytest.approx((0.22313016 + 0.36787944 + 1.0) / 3)
    # retain, real authors, world facts: mean(max(0, 1 - TR)) = (1 - e^-1.5 + 0 + 0) / 3
    assert tofu.retain_truth_ratio(ratios) == pytest.approx((1 - 0.22313016) / 3)


def test_truth_ratio_uses_the_geometric_mean_of_perturbed_probabilities():
    # arithmetic mean of p_wrong would be (e^-2 + e^-3) / 2 = 0.0925; the geometric mean is e^-2.5 = 0.0821
    assert tofu.truth_ratio([0.0], [[-2.0], [-3.0]]) == pytest.approx(math.exp(-2.5))
    with pytest.raises(ValueError, match="perturbed"):
        tofu.truth_ratio([0.0], [])


def test_answer_probability_is_length_normalised_and_normalised_probability_over_options():
    assert tofu.answer_probability([-1.0, -3.0]) == pytest.approx(math.exp(-2.0))
    # p_c = e^-1, two wrong options of e^-2 each
    expected = math.exp(-1) / (math.exp(-1) + 2 * math.exp(-2))
    assert tofu.normalized_probability([-1.0], [[-2.0], [-2.0]]) == pytest.approx(expected)
    assert expected == pytest.approx(0.576117, abs=1e-6)


def test_forget_quality_is_the_two_sample_ks_p_value():
    model, oracle = [0.1, 0.2, 0.3], [0.4, 0.5, 0.6]
    # disjoint samples of 3: D = 1, exact two-sided p = 2 / C(6, 3) = 0.1
    assert tofu.forget_quality(model, oracle) == pytest.approx(0.1)
    a, b = [0.12, 0.5, 0.33, 0.9, 0.41], [0.2, 0.52, 0.35, 0.8, 0.05, 0.61]
    assert tofu.forget_quality(a, b) == pytest.approx(ks_2samp(a, b).pvalue)
    assert tofu.forget_quality(a, a) == pytest.approx(1.0)


def test_model_utility_is_the_harmonic_mean_of_nine():
    assert tofu.model_utility([1.0] * 8 + [0.5]) == pytest.approx(9 / (8 + 2))
    assert tofu.model_utility([0.5, 0.25, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]) == pytest.approx(
        9 / (2 + 4 + 7)
    )
    assert tofu.model_utility([0.0] + [1.0] * 8) == 0.0
    with pytest.raises(ValueError, match="9 values"):
        tofu.model_utility([1.0] * 8)


def test_tofu_rouge_is_stemmed_recall_and_muse_rouge_unstemmed_f1():
    # stemming makes "cats run" match "cat runs": recall 1
    assert tofu.rouge_recall("the cats run", "the cat runs") == pytest.approx(1.0)
    # without stemming only "the" matches: P = R = 1/3, F1 = 1/3
    assert muse.rouge_f1("the cats run", "the cat runs") == pytest.approx(1 / 3)
    # F1, not recall: the reference is fully recalled but precision is 2/4
    assert muse.rouge_f1("red fox", "red fox jumps high") == pytest.approx(2 * 1 * 0.5 / 1.5)


def test_knowmem_prompt_and_truncation_rules():
    prompt = muse.knowmem_prompt([("Who won?", "Ana"), ("Where?", "Oslo")], "When?")
    assert (
        prompt
        == "Question: Who won?\nAnswer: Ana\n\nQuestion: Where?\nAnswer: Oslo\n\nQuestion: When?\nAnswer: "
    )
    assert muse.knowmem_answer("1999\n\nQuestion: next") == "1999"
    assert muse.knowmem_answer("1999\nQuestion: next") == "1999"
    assert muse.knowmem_answer("1999 Question: next") == "1999 "
    assert muse.knowmem_answer("1999, in May\nmore") == "1999, in May\nmore"  # one newline is not a stop


class WordTokenizer:
    """One token per word: enough to check that VerbMem cuts the reference by tokens."""

    class Encoded:
        def __init__(self, ids):
            self.input_ids = ids

    def __init__(self):
        self.vocab: list[str] = []

    def __call__(self, text, add_special_tokens=True):
        ids = []
        for word in text.split():
            if word not in self.vocab:
                self.vocab.append(word)
            ids.append(self.vocab.index(word))
        return self.Encoded(([999] if add_special_tokens else []) + ids)

    def decode(self, ids, skip_special_tokens=False, clean_up_tokenization_spaces=True):
        return " ".join(self.vocab[i] for i in ids if i != 999)


def test_verbmem_reference_is_cut_to_its_first_tokens_without_special_tokens():
    assert truncate_tokens(WordTokenizer(), "a b c d e f", 4) == "a b c d"
    assert truncate_tokens(WordTokenizer(), "a b", 4) == "a b"


def test_privleak_sign_and_scale():
    # forget documents far likelier than holdout ones (memorised): muse-bench's AUC is 0
    auc = mia.privleak_auc(forget_scores=[-1.0, -1.1], holdout_scores=[-3.0, -2.9])
    assert auc == 0.0
    assert mia.privleak(auc, 0.5) == pytest.approx(-100.0)
    assert mia.privleak(0.75, 0.5) == pytest.approx(50.0)  # over-unlearning: positive
    assert mia.privleak(0.5, 0.5) == 0.0
    # the 4 (holdout, forget) pairs: (0, 0) a tie -> 0.5; (0, -1) holdout higher -> 1; the rest 0
    assert mia.privleak_auc([0.0, -1.0], [0.0, -2.0]) == pytest.approx((1 + 0.5) / 4)
    assert mia.privleak(0.5, 0.0) is None  # no scale: no value, rather than a lost row
    arrays = mia.privleak(np.array([0.25, 0.5]), np.array([0.5, 0.0]))
    assert arrays[0] == pytest.approx(-50.0) and np.isnan(arrays[1])
