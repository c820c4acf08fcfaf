"""`obliviate attack` / `bench --attacks` on the smoke preset: every row attacked alike, the oracle
included; held-out relearning never evaluates what it trained on; a rerun recomputes nothing."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from typer.testing import CliRunner

from obliviate.cli import app
from obliviate.subjects import HFSubject
from obliviate.workers import fork_available
from tests.conftest import latest_run

runner = CliRunner()
ATTACKS = "quant4,q4_0,nf4,relearn,relearn-related,relearn-speed,probes,sample"


def _args(cfg, workers: int = 1, cache_dir=None, out_dir=None) -> list[str]:
    return [
        "--preset",
        "smoke",
        "--cache-dir",
        str(cache_dir or cfg.cache_dir),
        "--out-dir",
        str(out_dir or cfg.out_dir),
        "--set",
        "attacks.relearn.speed_steps=[0,2,4]",
        "--set",
        "attacks.relearn.steps=4",
        "--set",
        "attacks.sample.k=3",
        "--set",
        "eval.max_new_tokens=32",
        "--set",
        f"attacks.workers={workers}",
    ]


def test_attack_command_attacks_target_oracle_and_method(
    smoke_cfg, smoke_target, smoke_oracle, smoke_benchmark, monkeypatch
):
    generated = []  # the name of each subject that generated
    generate = HFSubject.generate

    def counting(self, *args, **kwargs):
        generated.append(self.name)
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(HFSubject, "generate", counting)
    result = runner.invoke(app, ["attack", "--attacks", ATTACKS, "--methods", "gd", *_args(smoke_cfg)])
    assert result.exit_code == 0, result.output
    run = latest_run(smoke_cfg.out_dir, "attack")
    board = json.loads((run / "leaderboard.json").read_text())
    section = board["robustness"]
    attacked = {(e["row"], e["attack"]) for e in section["attacks"]}
    for row in ("target", "oracle", "gd"):
        for name in ATTACKS.split(","):
            assert (row, name) in attacked
    assert {w["row"] for w in section["worst"]} == {"target", "oracle", "gd"}
    assert all(e["restored/knowledge"] is None for e in section["attacks"] if e["row"] == "target")
    assert "### Worst case over held-out attacks" in (run / "leaderboard.md").read_text()
    assert "Worst case" in result.stdout

    gd = json.loads((run / "attacks" / "gd.json").read_text())
    main = json.loads((run / "eval" / "gd.json").read_text())["items"]["forget"]
    # held-out relearning: trained and evaluated documents are disjoint, and its items are the latter's
    relearn = gd["relearn"]
    assert relearn["trained_on"] and relearn["evaluated_on"]
    assert not set(relearn["trained_on"]) & set(relearn["evaluated_on"])
    doc_of = {p.id: doc.id for doc in smoke_benchmark.split("train").forget for p in doc.prompts}
    assert {doc_of[it["id"]] for it in relearn["items"]} == set(relearn["evaluated_on"])
    # relearning speed: relearn's run, asked the documents it trains on; step 0 is the row as its
    # main evaluation scored them; the run trained once, to its last step, for both attacks
    speed = gd["relearn-speed"]
    assert [p["step"] for p in speed["curve"]] == [0, 2, 4] and speed["held_out"] is False
    assert speed["trained_on"] == relearn["trained_on"]
    assert {doc_of[it["id"]] for it in speed["items"]} == set(relearn["trained_on"])
    sc = [it["score"] for it in main if it["kind"] == "sc" and doc_of[it["id"]] in relearn["trained_on"]]
    assert speed["curve"][0]["regurgitation"] == sum(sc) / len(sc)
    assert [t["steps"] for t in relearn["training"]] == [4] and speed["training"] == relearn["training"]
    # ... and its last step, which both read on complementary documents, generated once for both
    last_step = [name for name in generated if "/gd-" in name and name.endswith("[relearn, 4 steps]")]
    assert len(last_step) == 1
    assert sum(name.endswith("[relearn, 2 steps]") for name in generated if "/gd-" in name) == 1
    assert [t["steps"] for t in gd["relearn-related"]["training"]] == [4]
    # probes: labelled variants of forget prompts; samples: k per prompt
    assert {"in_context", "affirmative"} <= set(gd["probes"]["by_label"])
    assert all(len(it["samples"]) == 3 for it in gd["sample"]["items"])
    assert gd["quant4"]["quantization"].startswith("RTN int4")

    # a rerun reuses the cached passes: same outcomes, and no relearning run trains
    again = runner.invoke(app, ["attack", "--attacks", ATTACKS, "--methods", "gd", *_args(smoke_cfg)])
    assert again.exit_code == 0, again.output
    rerun = json.loads((latest_run(smoke_cfg.out_dir, "attack") / "attacks" / "gd.json").read_text())
    for name in ATTACKS.split(","):
        assert rerun[name]["items"] == gd[name]["items"]
    for name in ("relearn", "relearn-related", "relearn-speed"):
        assert rerun[name]["training"] == []


@pytest.mark.skipif(not fork_available(), reason="workers fork (Linux)")
def test_rows_attacked_side_by_side_equal_rows_attacked_in_turn(
    smoke_cfg, smoke_target, smoke_oracle, tmp_path, monkeypatch
):
    """Two one-thread worker processes, each attacking a row at a time, give every outcome of the
    rows attacked in turn in this process, at its own thread count: the same items, scores and
    relearning losses, each computed afresh (the targets are shared, no pass is cached)."""
    import obliviate.workers

    asked = []  # the workers each run went with
    run_jobs = obliviate.workers.run_jobs
    monkeypatch.setattr(
        obliviate.workers, "run_jobs", lambda job, n, w, done: asked.append(w) or run_jobs(job, n, w, done)
    )
    outcomes = {}
    for workers in (1, 2):
        cache = tmp_path / f"cache-{workers}"
        shutil.copytree(
            smoke_cfg.cache_dir, cache, ignore=shutil.ignore_patterns("passes"), copy_function=os.link
        )
        out = tmp_path / f"out-{workers}"
        args = _args(smoke_cfg, workers, cache, out)
        result = runner.invoke(app, ["attack", "--attacks", ATTACKS, "--methods", "gd", *args])
        assert result.exit_code == 0, result.output
        run = latest_run(out, "attack")
        outcomes[workers] = {p.stem: json.loads(p.read_text()) for p in (run / "attacks").glob("*.json")}
    assert asked == [1, 2]
    assert outcomes[1]["gd"]["relearn"]["training"] and outcomes[2]["gd"]["relearn"]["training"]  # afresh
    assert set(outcomes[2]) == set(outcomes[1]) == {"target", "oracle", "gd"}
    for row, attacked in outcomes[1].items():
        for name, outcome in attacked.items():
            side_by_side = outcomes[2][row][name]
            assert side_by_side["items"] == outcome["items"], (row, name)
            assert (side_by_side["regurgitation"], side_by_side["knowledge"]) == (
                outcome["regurgitation"],
                outcome["knowledge"],
            )
            for ours, theirs in zip(
                side_by_side.get("training", []), outcome.get("training", []), strict=True
            ):
                assert ours["losses"] == theirs["losses"], (row, name)


def test_unknown_attack_is_one_line_and_exit_1(smoke_cfg):
    result = runner.invoke(app, ["attack", "--attacks", "quant4,quant3", *_args(smoke_cfg)])
    assert result.exit_code == 1
    assert "unknown attack 'quant3'" in result.output


def test_rows_are_attacked_longest_generations_first():
    """Workers take the rows whose forget generations are longest first; equal lengths keep row order;
    an item without a generation counts as empty."""
    from obliviate.rows import longest_attacks_first

    def result(*generations):
        return {"items": {"forget": [{"generation": g} for g in generations]}}

    results = [result("ab", "c"), result("abcdef"), result("abc"), result("x" * 2, None), result()]
    assert longest_attacks_first(results) == [1, 0, 2, 3, 4]
