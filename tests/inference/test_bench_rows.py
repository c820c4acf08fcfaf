"""Inference-time methods as rows of `obliviate bench`: configs, cost columns, what they leave alone."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from obliviate.cli import app
from obliviate.presets import resolve_config
from tests.conftest import latest_run


def _args(smoke_cfg) -> list[str]:
    return [
        "--preset",
        "smoke",
        "--cache-dir",
        str(smoke_cfg.cache_dir),
        "--out-dir",
        str(smoke_cfg.out_dir),
        "--set",
        "target_train.progress=false",
        "--set",
        "unlearn_train.progress=false",
    ]


def test_inference_rows_in_a_bench(smoke_cfg, smoke_target, smoke_oracle):
    args = ["bench", "--no-report", "--methods", "prompt,guardrail,icul", *_args(smoke_cfg)]
    args += ["--set", "inference.guardrail.detector=overlap", "--set", "inference.icul.k=1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    run = latest_run(smoke_cfg.out_dir, "bench")
    board = json.loads((run / "leaderboard.json").read_text())
    rows = {r["row"]: r for r in board["rows"]}
    assert set(rows) == {"target", "oracle", "prompt", "guardrail", "icul"}
    target = json.loads((run / "eval" / "target.json").read_text())
    for name in ("prompt", "guardrail", "icul"):
        # timed on the model, not on the pass cache (a cached lookup would be ~0 times the target)
        assert rows[name]["parameters_changed"] == 0 and rows[name]["serve_overhead"] > 0.3
        result_row = json.loads((run / "eval" / f"{name}.json").read_text())
        assert result_row["row_kind"] == "inference"
        # the weights are the target's: membership inference sees exactly the target
        assert result_row["mia/loss/auc"] == target["mia/loss/auc"]
    assert 0 <= rows["guardrail"]["retain_flagged"] <= 1
    run_info = json.loads((run / "run.json").read_text())
    assert run_info["inputs"]["inference"]["icul"]["k"] == 1


def test_unknown_inference_settings_fail_by_name():
    with pytest.raises(ValueError, match="detector"):
        resolve_config("smoke", ["inference.guardrail.detector=magic"])
    with pytest.raises(ValueError, match="unknown inference-time method 'uldd'"):
        resolve_config("smoke", ["inference.uldd.lr=1"])


def test_an_attack_on_the_weights_reaches_an_inference_row(smoke_cfg, smoke_target, smoke_oracle):
    args = ["attack", "--attacks", "quant4", "--methods", "prompt", *_args(smoke_cfg)]
    result = CliRunner().invoke(app, [*args, "--set", "eval.max_new_tokens=32"])
    assert result.exit_code == 0, result.output
    run = latest_run(smoke_cfg.out_dir, "attack")
    section = json.loads((run / "leaderboard.json").read_text())["robustness"]
    assert {(e["row"], e["attack"]) for e in section["attacks"]} >= {
        ("prompt", "quant4"),
        ("target", "quant4"),
    }
    prompt = json.loads((run / "attacks" / "prompt.json").read_text())["quant4"]
    target = json.loads((run / "attacks" / "target.json").read_text())["quant4"]
    # the same quantized weights under the prompt: its generations differ from the quantized target's
    # only by the instruction before each prompt
    assert [i["id"] for i in prompt["items"]] == [i["id"] for i in target["items"]]
    assert [i["generation"] for i in prompt["items"]] != [i["generation"] for i in target["items"]]


def test_mmlu_utility_is_refused_for_rows_that_serve_other_logits_or_prompts():
    from obliviate.leaderboard import bench_inference

    cfg = resolve_config("smoke", ["eval.utility.kind=mmlu"])
    with pytest.raises(ValueError, match="mmlu needs a plain model; uld, prompt"):
        bench_inference(cfg, ["uld", "prompt", "gd"])
    assert [m.name for m in bench_inference(cfg, ["guardrail", "gd"])] == ["guardrail"]
