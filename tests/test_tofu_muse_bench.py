"""TOFU and MUSE end to end on the tiny model: the look-alikes memorized by the target, the
oracle compared under the same passes, growing and sequential requests, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from obliviate.cli import app
from obliviate.data.records import DataError, forget_requests
from obliviate.presets import load_run_benchmark, resolve_config
from tests.conftest import latest_run

runner = CliRunner()


def _bench(tmp_path, preset: str, *extra: str):
    result = runner.invoke(
        app,
        [
            "bench",
            "--preset",
            preset,
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out-dir",
            str(tmp_path / "runs"),
            "--set",
            "target_train.progress=false",
            "--set",
            "unlearn_train.progress=false",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    run = latest_run(tmp_path / "runs", "bench")
    board = json.loads((run / "leaderboard.json").read_text())
    return run, board, {r["row"]: r for r in board["rows"]}


@pytest.fixture(scope="module")
def tofu_bench(tmp_path_factory):
    return _bench(tmp_path_factory.mktemp("tofu"), "tofu-smoke", "--methods", "gd")


@pytest.fixture(scope="module")
def muse_bench(tmp_path_factory):
    return _bench(
        tmp_path_factory.mktemp("muse"), "muse-smoke", "--methods", "ga", "--sequential", "2", "--scale", "2"
    )


def test_tofu_smoke_target_memorizes_and_the_oracle_anchors_forget_quality(tofu_bench):
    run, board, rows = tofu_bench
    assert board["protocol"] == "tofu"
    assert list(rows) == ["target", "oracle", "gd"]  # no headline: rows keep their order
    target, oracle = rows["target"], rows["oracle"]
    assert target["forget/rouge"] >= 0.9 and target["forget/prob"] >= 0.9  # memorized
    assert oracle["forget/prob"] < 0.2  # never saw the forget author
    assert oracle["forget_quality"] == pytest.approx(1.0)  # the oracle against itself
    assert target["privleak"] == pytest.approx(-100.0) and oracle["privleak"] == pytest.approx(0.0)
    assert rows["gd"]["forget/prob"] < target["forget/prob"]
    for row in rows.values():
        low, high = row["intervals"]["forget/prob"]
        assert low - 1e-9 <= row["forget/prob"] <= high + 1e-9
    assert "| forget quality |" in (run / "leaderboard.md").read_text()
    page = (run / "report.html").read_text()
    assert "forget quality" in page and "Per-item audit" in page


def test_requests_grow_and_chain(muse_bench):
    run, _, rows = muse_bench
    assert list(rows) == ["target", "oracle", "ga", "ga-scale1", "ga-scale2", "ga-step1", "ga-step2"]
    # the last nested request is the whole forget set: the plain run, reused
    assert rows["ga-scale2"]["model"] == rows["ga"]["model"]
    assert rows["ga-scale1"]["model"] != rows["ga"]["model"]
    # step 2 starts from step 1's model
    step2 = json.loads((run / "eval" / "ga-step2.json").read_text())
    step1 = json.loads((run / "eval" / "ga-step1.json").read_text())
    meta = json.loads((Path(step2["subject"]).parent / "unlearn.json").read_text())
    assert meta["target"] == str(Path(step1["subject"]).parent)
    assert "| ga-step2 |" in (run / "leaderboard.md").read_text()


def test_forget_requests_nest_and_partition():
    bench = load_run_benchmark(resolve_config("tofu-default"))  # 1 forget author
    with pytest.raises(DataError, match="2 requests need 1 to 1"):
        forget_requests(bench, "train", 2, nested=False)
    lume = load_run_benchmark(resolve_config("smoke"))
    docs = [d.id for d in lume.split("train").forget]
    nested = forget_requests(lume, "train", 2, nested=True)
    assert [d.id for d in nested[0].split("train").forget] == docs[: -(-len(docs) // 2)]
    assert nested[1] is lume
    chunks = forget_requests(lume, "train", 3, nested=False)
    assert sum(([d.id for d in c.split("train").forget] for c in chunks), []) == docs
    assert len({c.fingerprint() for c in chunks}) == 3
    assert all(c.split("train").retain == lume.split("train").retain for c in chunks)


def test_muse_smoke_verbmem_knowmem_and_privleak(muse_bench):
    run, board, rows = muse_bench
    assert board["protocol"] == "muse"
    target, oracle = rows["target"], rows["oracle"]
    assert target["verbmem/forget"] > 60 and target["verbmem/forget"] > 2 * oracle["verbmem/forget"]
    # the tiny model answers no question, memorized or not: KnowMem is 0 here (SmolLM2: docs/benchmarks.md)
    assert 0.0 <= target["knowmem/forget"] <= 100.0 and 0.0 <= target["knowmem/retain"] <= 100.0
    assert target["privleak"] < -50 and oracle["privleak"] == pytest.approx(0.0)
    assert rows["ga"]["verbmem/forget"] < target["verbmem/forget"]
    result = json.loads((run / "eval" / "target.json").read_text())
    assert len(result["items"]["verbmem"]) == 3 and result["items"]["privleak"]["forget_ids"]


def test_attacks_refuse_tofu_before_training(tmp_path):
    result = runner.invoke(
        app,
        [
            "bench",
            "--preset",
            "tofu-smoke",
            "--methods",
            "gd",
            "--attacks",
            "quant4",
            "--out-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1
    assert "attacks re-score LUME's forget prompts" in result.output


def test_seeds_refuse_a_protocol_without_one_score(tmp_path):
    args = ["bench", "--preset", "muse-smoke", "--methods", "gd", "--seeds", "2", "--out-dir", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "--seeds summarises one score per seed; the muse protocol has none" in result.output
