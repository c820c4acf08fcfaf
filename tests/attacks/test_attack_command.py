"""`obliviate attack` / `bench --attacks` on the smoke preset: every row attacked alike, the oracle
included; held-out relearning never evaluates what it trained on; a rerun recomputes nothing."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from obliviate.cli import app
from obliviate.subjects import HFSubject
from tests.conftest import latest_run

runner = CliRunner()
ATTACKS = "quant4,q4_0,nf4,relearn,relearn-related,relearn-speed,probes,sample"


def _args(cfg) -> list[str]:
    return [
        "--preset",
        "smoke",
        "--cache-dir",
        str(cfg.cache_dir),
        "--out-dir",
        str(cfg.out_dir),
        "--set",
        "attacks.relearn.speed_steps=[0,2,4]",
        "--set",
        "attacks.relearn.steps=4",
        "--set",
        "attacks.sample.k=3",
        "--set",
        "eval.max_new_tokens=32",
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


def test_unknown_attack_is_one_line_and_exit_1(smoke_cfg):
    result = runner.invoke(app, ["attack", "--attacks", "quant4,quant3", *_args(smoke_cfg)])
    assert result.exit_code == 1
    assert "unknown attack 'quant3'" in result.output
