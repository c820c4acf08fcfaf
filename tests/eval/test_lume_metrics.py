"""LUME regurgitation and knowledge on literal strings, values worked out by hand."""

from __future__ import annotations

import pytest

from obliviate.eval.metrics.lume import knowledge, regurgitation
from obliviate.eval.passes import clean_up_tokenization


def test_rouge_l_recall_by_hand():
    # reference tokens: the cat sat on the mat (6); LCS with "the cat lay on a mat" = the cat on mat (4)
    assert regurgitation("The cat sat on the mat.", "the cat lay on a mat") == pytest.approx(4 / 6)
    # recall ignores extra generated words
    assert regurgitation("red key", "a red key and a blue door") == pytest.approx(1.0)
    # the stemmer maps 'running' -> 'run'
    assert regurgitation("running dogs", "run dog") == pytest.approx(1.0)
    assert regurgitation("alpha beta", "") == 0.0


def test_exact_match_normalizes_case_and_outer_space_only():
    assert knowledge("March 4, 1987", "  march 4, 1987\n") == 1.0
    assert knowledge("March 4, 1987", "March 4, 1987. He was born") == 0.0
    assert knowledge("March 4, 1987", "March 4 1987") == 0.0


def test_empty_generation_scores_as_the_string_nan():
    # the official CSV round trip turns '' into NaN, scored as 'nan'
    assert knowledge("nan", "") == 1.0
    assert regurgitation("nan", "") == 1.0


def test_transformers4_cleanup_is_reproduced():
    assert (
        clean_up_tokenization("Hello , world . It 's fine , is n't it ?")
        == "Hello, world. It's fine, isn't it?"
    )
