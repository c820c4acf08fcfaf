"""`obliviate erase` end to end on the smoke preset with a LoRA target, and its one-line errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from obliviate.cli import app
from tests.conftest import latest_run
from tests.test_cli import _common as cli_options

runner = CliRunner()


def _common(cfg):
    """The CLI tests' options plus a short LoRA target (the round trip is tested, not memorization)."""
    return [
        *cli_options(cfg),
        *("--set", "target_params.mode=lora", "--set", "target_train.epochs=10"),
        *("--set", "target_train.lr=1e-3", "--set", "target_train.precision=fp32"),
    ]


def test_erase_round_trip_writes_adapter_model_and_meta(smoke_cfg, smoke_benchmark, tmp_path):
    doc = smoke_benchmark.split("train").forget[0]
    prompt = doc.prompts[-1]
    requests = tmp_path / "fix.jsonl"
    requests.write_text(
        json.dumps({"input": prompt.input, "output": prompt.output, "new_output": "unknown"}) + "\n"
    )
    result = runner.invoke(
        app,
        [
            "erase",
            "--request",
            "response",
            "--requests",
            str(requests),
            "--compare-retrain",
            *_common(smoke_cfg),
            "--set",
            "erase.cg_max_iter=5",
            "--set",
            "erase.retrain_warm_epochs=1",
            "--set",
            "erase.retrain_scratch=false",
        ],
    )
    assert result.exit_code == 0, result.output
    out = next((smoke_cfg.out_dir / "erase").glob("response-*"))
    assert (out / "adapter" / "adapter_config.json").is_file() and (out / "model" / "config.json").is_file()
    meta = json.loads((out / "erase.json").read_text())
    assert meta["requests"] == 1 and meta["parameters_changed"] > 0 and meta["seconds"] > 0
    assert meta["newton_steps"][0]["iterations"] <= 5
    warm = meta["comparison"]["warm"]
    assert -1 <= warm["cosine"] <= 1 and "kl_gap_closed/forget" in warm
    assert "retrain warm" in result.stdout
    assert not list((smoke_cfg.out_dir / "erase").glob("*.partial"))


def test_erase_needs_a_lora_target(smoke_cfg):
    result = runner.invoke(
        app, ["erase", "--cache-dir", str(smoke_cfg.cache_dir), "--out-dir", str(smoke_cfg.out_dir)]
    )
    assert result.exit_code == 1
    assert "target_params.mode=lora" in result.output


def test_bad_request_file_is_one_line_and_exit_1(smoke_cfg, tmp_path):
    requests = tmp_path / "bad.jsonl"
    requests.write_text('{"input": "x", "output": "y", "new_output": "z", "extra": 1}\n')
    args = ["erase", "--request", "response", "--requests", str(requests), *_common(smoke_cfg)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    line = [ln for ln in result.output.splitlines() if "error" in ln][0]
    assert "bad.jsonl:1" in line and "extra" in line


def test_unknown_erase_field_is_rejected(smoke_cfg):
    result = runner.invoke(app, ["erase", *_common(smoke_cfg), "--set", "erase.solverr=cg"])
    assert result.exit_code == 1
    assert "solverr" in result.output


def test_bench_on_a_lora_target_has_an_erase_row(smoke_cfg):
    args = [
        "bench",
        "--no-report",
        "--methods",
        "gd,erase",
        *_common(smoke_cfg),
        "--set",
        "erase.cg_max_iter=5",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    run = latest_run(smoke_cfg.out_dir, "bench")
    summary = json.loads((run / "leaderboard.json").read_text())
    rows = {r["row"]: r for r in summary["rows"]}
    assert set(rows) == {"target", "oracle", "gd", "erase"}
    assert json.loads((run / "run.json").read_text())["inputs"]["erase"]["cg_max_iter"] == 5
    erase_row = rows["erase"]
    assert erase_row["train_seconds"] > 0 and erase_row["parameters_changed"] > 0
    assert erase_row["model"].endswith("model") and "/erase/removal-" in erase_row["model"]
    saved = json.loads((run / "eval" / "erase.json").read_text())
    assert saved["cost"]["train_seconds"] == erase_row["train_seconds"]
    assert "| erase |" in (run / "leaderboard.md").read_text()


def test_bench_erase_row_needs_a_lora_target(smoke_cfg):
    result = runner.invoke(app, ["bench", "--no-report", "--methods", "erase", *cli_options(smoke_cfg)])
    assert result.exit_code == 1
    assert "target_params.mode=lora" in result.output


def test_erase_evaluate_scores_the_request_beside_the_reference_points(smoke_cfg, smoke_benchmark, tmp_path):
    prompt = smoke_benchmark.split("train").forget[0].prompts[-1]
    requests = tmp_path / "fix.jsonl"
    requests.write_text(
        json.dumps({"input": prompt.input, "output": prompt.output, "new_output": "no"}) + "\n"
    )
    args = ["erase", "--request", "response", "--requests", str(requests), "--evaluate", *_common(smoke_cfg)]
    result = runner.invoke(app, [*args, "--set", "erase.cg_max_iter=5"])
    assert result.exit_code == 0, result.output
    run = latest_run(smoke_cfg.out_dir, "erase-eval")
    info = json.loads((run / "run.json").read_text())
    assert info["inputs"]["request"] == "response" and info["inputs"]["edits"][0][2][1] == "no"
    rows = [r["row"] for r in json.loads((run / "leaderboard.json").read_text())["rows"]]
    assert rows == ["base", "target", "oracle", "erase"]  # in the order given, not sorted
    erased = json.loads((run / "eval" / "erase.json").read_text())
    assert "/erase/response-" in erased["subject"] and erased["cost"]["parameters_changed"] > 0
