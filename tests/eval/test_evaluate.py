"""The whole protocol on the smoke reference points: the target memorized, the oracle did not."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from obliviate.cli import app
from obliviate.rows import evaluate_rows, prepare_evaluation, reference_rows


@pytest.fixture(scope="module")
def results(smoke_cfg, smoke_benchmark, smoke_target, smoke_oracle):
    ev = prepare_evaluation(smoke_cfg, smoke_benchmark)
    rows = reference_rows(ev, ("base", "target", "oracle"))
    found = evaluate_rows(ev, rows, smoke_cfg.split, smoke_cfg.out_dir / "eval-test")
    return {r["name"]: r for r in found}


def test_target_scores_near_zero_and_oracle_high(results):
    target, oracle = results["target"], results["oracle"]
    assert target["regurgitation/forget"] >= 0.9
    assert target["task_aggregate"] < 0.15  # forget terms are inverted: memorized forget -> ~0
    assert oracle["task_aggregate"] > 0.5
    assert oracle["task_aggregate"] > target["task_aggregate"] + 0.4
    # the loss attack separates trained members from never-seen lookalikes on the target ...
    assert target["mia/loss/auc"] > 0.9
    assert target["mia"] == pytest.approx(1 - 2 * abs(target["mia/loss/auc"] - 0.5))
    # ... and less so on the oracle, which never saw the members either
    assert oracle["mia/loss/auc"] < target["mia/loss/auc"]


def test_result_is_complete_and_self_consistent(results, smoke_cfg):
    target = results["target"]
    for key in ("mia/zlib/auc", "mia/min_k/auc", "mia/min_k_plus_plus/auc", "mia/reference/auc"):
        assert 0.0 <= target[key] <= 1.0
    assert target["utility/kind"] == smoke_cfg.eval.utility.kind == "ppl"
    # 'ppl' utility = min(1, target ppl / model ppl): the target against itself is exactly 1
    assert target["utility/ppl_ratio"] == pytest.approx(1.0)
    assert target["utility"] == pytest.approx(1.0)
    parts = (target["task_aggregate"], target["mia"], target["utility"])
    assert target["final"] == pytest.approx(sum(parts) / 3)
    assert {it["kind"] for it in target["items"]["forget"]} == {"sc", "qa"}
    assert all("generation" in it and "score" in it for it in target["items"]["retain"])
    saved = json.loads((smoke_cfg.out_dir / "eval-test" / "eval" / "target.json").read_text())
    assert saved["final"] == target["final"]
    assert saved["versions"]["torch"]


def test_compare_prints_saved_results_side_by_side(results, smoke_cfg, tmp_path):
    runner = CliRunner()
    paths = [str(smoke_cfg.out_dir / "eval-test" / "eval" / f"{row}.json") for row in ("target", "oracle")]
    out = runner.invoke(app, ["eval", *sum((["--compare", p] for p in paths), [])])
    assert out.exit_code == 0, out.output
    assert "target" in out.stdout and "oracle" in out.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    out = runner.invoke(app, ["eval", "--compare", str(bad)])
    assert out.exit_code == 1
    assert "not an obliviate evaluation result" in out.output
