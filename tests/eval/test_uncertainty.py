"""The bootstrap: intervals known by hand (exhaustive resampling of tiny sets), paired comparisons, ranks."""

from __future__ import annotations

import numpy as np
import pytest

from obliviate.eval import uncertainty
from obliviate.eval.config import BootstrapConfig
from obliviate.eval.metrics import mia
from obliviate.eval.metrics.table import fmt_metric, fmt_rank


def item(side_doc: str, kind: str, score: float, task: str = "Task1", n: int = 0) -> dict:
    return {"id": f"{side_doc}{kind}{n}", "task": task, "kind": kind, "score": score, "document": side_doc}


def toy_result(forget: list[dict], retain: list[dict], correct: list[bool], name: str = "row") -> dict:
    """A LUME result with the fields the bootstrap reads: items, MIA scores, offline utility items."""
    return {
        "name": name,
        "items": {"forget": forget, "retain": retain},
        "mia_items": {
            "member_ids": ["m0", "m1"],
            "nonmember_ids": ["n0"],
            "loss": {"member": [-1.0, -3.0], "nonmember": [-2.0]},
        },
        "utility/kind": "offline",
        "utility_items": [{"id": f"u{i}", "correct": c} for i, c in enumerate(correct)],
    }


CFG = BootstrapConfig(resamples=20_000, seed=0)


def test_three_item_mean_matches_exhaustive_resampling():
    # Resampling [1, 0, 0] with replacement: 27 equally likely draws; the mean is 0, 1/3, 2/3, 1
    # with probabilities 8/27, 12/27, 6/27, 1/27.
    result = toy_result([item("f0", "sc", 0.0)], [item("r0", "sc", 1.0)], [True, False, False])
    draws = uncertainty.bootstrap_draws(result, CFG)["utility"]
    for value, p in ((0.0, 8 / 27), (1 / 3, 12 / 27), (2 / 3, 6 / 27), (1.0, 1 / 27)):
        assert np.isclose(draws, value).mean() == pytest.approx(p, abs=0.01)
    # 2.5% of the mass is below 8/27 (so the low end is 0) and above 26/27 (so the high end is 1)
    assert uncertainty.interval(draws, 0.95) == [0.0, 1.0]


def test_harmonic_aggregate_and_final_by_hand():
    # Forget Task1 regurgitation: two documents scoring 1 and 0, so the forget term 1 - mean is
    # 0 (p 1/4), 0.5 (1/2) or 1 (1/4). The retain term is fixed at 0.5. Aggregate = harmonic mean of
    # [term, 0.5]: 0 (one zero zeroes it), 0.5, or 2 / (1 + 2) = 2/3.
    forget = [item("f0", "sc", 1.0), item("f1", "sc", 0.0)]
    result = toy_result(forget, [item("r0", "sc", 0.5)], [True])
    draws = uncertainty.bootstrap_draws(result, CFG)
    aggregate = draws["task_aggregate"]
    for value, p in ((0.0, 0.25), (0.5, 0.5), (2 / 3, 0.25)):
        assert np.isclose(aggregate, value).mean() == pytest.approx(p, abs=0.015)
    assert uncertainty.interval(aggregate, 0.95) == pytest.approx([0.0, 2 / 3])
    # The side mean moves with the same documents; the retain side has one document: no spread.
    assert uncertainty.interval(draws["regurgitation/forget"], 0.95) == [0.0, 1.0]
    assert uncertainty.interval(draws["regurgitation/retain"], 0.95) == [0.5, 0.5]
    # MIA: members [-1, -3] against the non-member -2. The 4 member resamples give AUC 1 (both -1),
    # 0.5 (one of each, p 1/2) or 0 (both -3): the LUME score 1 - 2|AUC - 0.5| is 0, 1 or 0.
    assert np.isclose(draws["mia"], 1.0).mean() == pytest.approx(0.5, abs=0.015)
    # The final score is the mean of the three in each resample, utility 1 throughout.
    expected = (aggregate + draws["mia"] + 1.0) / 3
    assert np.allclose(draws["final"], expected)


def test_documents_are_resampled_with_all_their_prompts():
    # One document with two sc prompts scoring 1 and 0, another with one scoring 1: a resample of
    # documents gives means (1+0)/2, 1, or (1+0+1)/3 -- never 0, which prompt resampling could give.
    forget = [item("f0", "sc", 1.0, n=0), item("f0", "sc", 0.0, n=1), item("f1", "sc", 1.0)]
    draws = uncertainty.bootstrap_draws(toy_result(forget, [item("r0", "sc", 1.0)], [True]), CFG)
    assert set(np.round(np.unique(draws["regurgitation/forget"]), 6)) == {0.5, round(2 / 3, 6), 1.0}


def test_auc_draws_equal_the_official_auc_of_each_resample():
    rng = np.random.default_rng(1)
    members, nonmembers = rng.normal(size=7).round(1), rng.normal(size=5).round(1)  # rounded: ties
    cfg = BootstrapConfig(resamples=100)
    m_counts = uncertainty.resample_counts("mia/member", [f"m{i}" for i in range(7)], cfg)
    n_counts = uncertainty.resample_counts("mia/nonmember", [f"n{i}" for i in range(5)], cfg)
    draws = uncertainty.auc_draws(members, nonmembers, m_counts, n_counts)
    for b in range(20):
        expected = mia.auc(np.repeat(members, m_counts[b]), np.repeat(nonmembers, n_counts[b]))
        assert draws[b] == pytest.approx(expected)


def test_seeded_and_the_same_for_every_row_on_the_same_units():
    cfg = BootstrapConfig(resamples=200, seed=3)
    a = uncertainty.resample_counts("forget/Task1", ["d0", "d1", "d2"], cfg)
    assert np.array_equal(a, uncertainty.resample_counts("forget/Task1", ["d0", "d1", "d2"], cfg))
    assert not np.array_equal(
        a, uncertainty.resample_counts("forget/Task1", ["d0", "d1", "d2"], cfg.model_copy(update={"seed": 4}))
    )
    assert (a.sum(axis=1) == 3).all()


def test_paired_difference_of_identical_rows_has_zero_width():
    forget = [item("f0", "sc", 0.9), item("f1", "sc", 0.2), item("f2", "qa", 1.0)]
    result = toy_result(forget, [item("r0", "sc", 0.7), item("r1", "sc", 0.4)], [True, False, True])
    draws = uncertainty.bootstrap_draws(result, CFG)
    for metric in ("final", "task_aggregate", "mia", "utility", "regurgitation/forget"):
        assert uncertainty.paired_difference(draws, draws, metric, 0.95) == [0.0, 0.0]
        assert uncertainty.interval(draws[metric], 0.95)[1] > uncertainty.interval(draws[metric], 0.95)[0]
    ranks = uncertainty.rank_rows([result, {**result, "name": "copy"}], CFG)
    assert ranks == {"row": [1, 2], "copy": [1, 2]}


def test_rows_on_other_items_cannot_be_paired():
    a = toy_result([item("f0", "sc", 0.9)], [item("r0", "sc", 0.7)], [True], name="a")
    b = toy_result([item("f9", "sc", 0.9)], [item("r0", "sc", 0.7)], [True], name="b")
    with pytest.raises(ValueError, match="a and b were not evaluated on the same items \\(forget/Task1"):
        uncertainty.require_paired(a, b)
    assert uncertainty.rank_rows([a, b], CFG) == {}


def test_rank_ranges_group_rows_that_cannot_be_told_apart():
    # a is above b and c in every resample; b and c swap places at random.
    rng = np.random.default_rng(0)
    draws = {
        "a": {"final": np.full(1000, 0.9)},
        "b": {"final": 0.5 + rng.normal(0, 0.05, 1000)},
        "c": {"final": 0.5 + rng.normal(0, 0.05, 1000)},
    }
    assert uncertainty.rank_ranges(draws, "final", 0.95) == {"a": (1, 1), "b": (2, 3), "c": (2, 3)}
    # lower is better: the order turns round
    assert uncertainty.rank_ranges(draws, "final", 0.95, higher_is_better=False)["a"] == (3, 3)
    assert fmt_rank({"rank": [2, 3]}) == "2–3" and fmt_rank({"rank": [1, 1]}) == "1"


def test_a_value_prints_with_its_interval():
    row = {"final": 0.7061, "intervals": {"final": [0.33, 0.7459]}}
    assert fmt_metric(row, "final") == "0.706 [0.330, 0.746]"
    assert fmt_metric({"final": None}, "final") == "-"


def test_prompt_ids_name_their_document_in_older_results():
    assert uncertainty.document_of({"id": "6de8b2f0-abcsc1"}) == "6de8b2f0-abc"
    assert uncertainty.document_of({"id": "syn-t2-test-f000qa4"}) == "syn-t2-test-f000"
    assert uncertainty.document_of({"id": "x", "document": "doc"}) == "doc"
