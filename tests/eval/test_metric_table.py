"""The metric table: one source of every column, header, direction and result key."""

from __future__ import annotations

import pytest

from obliviate.eval.metrics.table import LEADERBOARD, METRICS, metric
from obliviate.leaderboard import markdown_table


def test_leaderboard_columns_come_from_the_table_with_their_arrows():
    header = markdown_table([]).splitlines()[0]
    assert header.startswith(
        "| rank | model | final | task agg | forget regurg ↓ | forget knowl ↓ | retain regurg |"
    )
    for key in LEADERBOARD:
        assert METRICS[key].column in header
    assert metric("regurgitation/forget").higher_is_better is False
    assert metric("mia").higher_is_better is True
    assert metric("mia/loss/auc").higher_is_better is None  # 0.5 is best: no arrow, no direction
    assert metric("utility/ppl_ratio").column.endswith("↓")
    with pytest.raises(KeyError, match="unknown metric 'mia_score'"):
        metric("mia_score")


def test_every_headline_is_in_a_result(smoke_cfg, smoke_benchmark, smoke_target):
    from obliviate.rows import evaluate_rows, prepare_evaluation, reference_rows

    ev = prepare_evaluation(smoke_cfg, smoke_benchmark)
    (result,) = evaluate_rows(ev, reference_rows(ev, ("target",)), smoke_cfg.split, None)
    for key in LEADERBOARD:
        assert key in result, key
    metrics = {k for k in result if k in METRICS}
    assert {f"mia/{a}/auc" for a in ("loss", "zlib", "min_k", "min_k_plus_plus", "reference")} <= metrics
    for key, value in result.items():
        if "/" in key and key.startswith(("mia", "regurgitation", "knowledge")):
            assert key in METRICS, f"result key {key} is not in the metric table"
        if key in METRICS and METRICS[key].reads == ("forget",):
            assert 0.0 <= value <= 1.0
