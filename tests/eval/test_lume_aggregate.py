"""LUME aggregates (per-task means, harmonic mean, final score, MMLU rule), values worked out by hand."""

from __future__ import annotations

import statistics

import pytest

from obliviate.eval.metrics.lume import final_score, mmlu_eligible, per_task_means, task_aggregate


def test_per_task_means_skip_the_other_kind():
    items = [
        {"task": "Task1", "kind": "sc", "score": 0.5},
        {"task": "Task1", "kind": "sc", "score": 1.0},
        {"task": "Task1", "kind": "qa", "score": 1.0},
        {"task": "Task1", "kind": "qa", "score": 0.0},
        {"task": "Task1", "kind": "qa", "score": 0.0},
        {"task": "Task2", "kind": "sc", "score": 0.2},
    ]
    # Task1: regurgitation mean(0.5, 1) = 0.75, knowledge mean(1, 0, 0) = 1/3; Task2 has no qa: omitted
    means = per_task_means(items)
    assert means.keys() == {"Task1", "Task2"}
    assert means["Task1"] == pytest.approx({"regurgitation": 0.75, "knowledge": 1 / 3})
    assert means["Task2"] == pytest.approx({"regurgitation": 0.2})
    with pytest.raises(ValueError):
        per_task_means([{"task": "Task1", "kind": "xx", "score": 0.0}])


def test_task_aggregate_inverts_forget_and_takes_harmonic_mean():
    """forget terms 1 - v: 0.8, 1.0, 0.5, 0.5; retain terms: 0.8, 1.0, 0.5, 0.25
    HM = 8 / (1.25 + 1 + 2 + 2 + 1.25 + 1 + 2 + 4) = 8 / 14.5 = 16/29."""
    forget = {
        "Task1": {"regurgitation": 0.2, "knowledge": 0.0},
        "Task2": {"regurgitation": 0.5, "knowledge": 0.5},
    }
    retain = {
        "Task1": {"regurgitation": 0.8, "knowledge": 1.0},
        "Task2": {"regurgitation": 0.5, "knowledge": 0.25},
    }
    assert task_aggregate(forget, retain) == pytest.approx(16 / 29)


def test_a_zero_anywhere_gives_zero():
    retain = {"Task1": {"regurgitation": 0.8, "knowledge": 1.0}}
    # forget knowledge 1.0 (fully remembered) -> term 0
    assert task_aggregate({"Task1": {"regurgitation": 0.2, "knowledge": 1.0}}, retain) == 0.0
    # retain knowledge 0.0 (utility destroyed) -> term 0
    assert task_aggregate({"Task1": {"regurgitation": 0.2}}, {"Task1": {"knowledge": 0.0}}) == 0.0


def test_a_missing_kind_contributes_no_term():
    # terms: forget 1 - 0.5 = 0.5; retain 0.5, 1.0 -> HM = 3 / (2 + 2 + 1) = 0.6
    retain = {"Task1": {"regurgitation": 0.5, "knowledge": 1.0}}
    assert task_aggregate({"Task1": {"regurgitation": 0.5}}, retain) == pytest.approx(0.6)
    # a NaN (what a pandas groupby table holds for an absent kind) is skipped the same way
    nan_forget = {"Task1": {"regurgitation": 0.5, "knowledge": float("nan")}}
    assert task_aggregate(nan_forget, retain) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        task_aggregate({}, {})
    with pytest.raises(ValueError):
        task_aggregate({"Task1": {"regurgitation": 1.5}}, retain)


def test_matches_the_official_pandas_path():
    pd = pytest.importorskip("pandas")
    rows = {
        "forget": [
            ("Task1", "sc", 0.25),
            ("Task1", "sc", 0.75),
            ("Task1", "qa", 0.0),
            ("Task2", "sc", 0.5),
            ("Task2", "qa", 1.0),
            ("Task2", "qa", 0.0),
        ],
        "retain": [("Task1", "sc", 0.5), ("Task1", "qa", 1.0), ("Task2", "sc", 0.9), ("Task2", "qa", 1.0)],
    }
    # the official compute_metrics: one score column per kind, None elsewhere, groupby mean, 1 - forget
    official_terms = []
    for split, split_rows in rows.items():
        df = pd.DataFrame(
            {
                "task": [task for task, _, _ in split_rows],
                "regurgitation-score": [s if kind == "sc" else None for _, kind, s in split_rows],
                "knowledge-score": [s if kind == "qa" else None for _, kind, s in split_rows],
            }
        )
        table = df.groupby("task")[["regurgitation-score", "knowledge-score"]].mean().to_dict(orient="index")
        values = [float(v) for inner in table.values() for v in inner.values()]
        official_terms += [1 - v for v in values] if split == "forget" else values
    expected = statistics.harmonic_mean(official_terms)

    means = {
        split: per_task_means({"task": t, "kind": k, "score": s} for t, k, s in split_rows)
        for split, split_rows in rows.items()
    }
    assert task_aggregate(means["forget"], means["retain"]) == pytest.approx(expected)


def test_final_score_is_the_mean_of_three():
    assert final_score(0.6, 0.9, 0.3) == pytest.approx(0.6)
    # published: AILS-NTUA 7B (0.827, 0.847, 0.443) -> 0.706; 1B (0.964, 0.857, 0.242) -> 0.688
    assert final_score(0.827, 0.847, 0.443) == pytest.approx(0.706, abs=5e-4)
    assert final_score(0.964, 0.857, 0.242) == pytest.approx(0.688, abs=5e-4)


def test_mmlu_eligibility_rule():
    assert mmlu_eligible(0.371)
    assert mmlu_eligible(0.463)  # NPO baseline
    assert not mmlu_eligible(0.370)
    assert not mmlu_eligible(0.269)  # GA baseline: ineligible
    assert mmlu_eligible(0.242, threshold=0.0)  # 1B: no threshold
