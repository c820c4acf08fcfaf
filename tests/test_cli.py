"""The command line: the smoke pipeline end to end, and one-line errors with exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from obliviate.cli import app
from tests.conftest import SHARED_LUME, latest_run

runner = CliRunner()


def _common(cfg):
    return [
        "--cache-dir",
        str(cfg.cache_dir),
        "--out-dir",
        str(cfg.out_dir),
        "--set",
        "target_train.progress=false",
        "--set",
        "unlearn_train.progress=false",
    ]


def test_bench_smoke_prints_the_table_and_writes_results(smoke_bench):
    run, result = smoke_bench
    assert f"results: {run}" in result.stdout
    assert f"report: {run / 'report.html'}" in result.stdout
    summary = json.loads((run / "leaderboard.json").read_text())
    rows = {r["row"]: r for r in summary["rows"]}
    assert set(rows) == {"base", "target", "oracle", "gd"}  # 'oracle' in --methods is the reference row
    finals = [r["final"] for r in summary["rows"]]
    assert finals == sorted(finals, reverse=True)  # a leaderboard, best first
    assert rows["target"]["regurgitation/forget"] >= 0.9
    assert rows["gd"]["regurgitation/forget"] < rows["target"]["regurgitation/forget"]
    assert rows["gd"]["train_seconds"] > 0 and rows["gd"]["peak_rss_mb"] > 0
    assert rows["gd"]["parameters_changed"] > 0 and rows["target"]["train_seconds"] > 0
    per_method = json.loads((run / "eval" / "gd.json").read_text())
    assert per_method["cost"]["parameters_changed"] == rows["gd"]["parameters_changed"]
    assert "| gd |" in (run / "leaderboard.md").read_text()
    # every number with its interval, every row with a rank range from the paired bootstrap
    assert summary["bootstrap"] == {"resamples": 2000, "seed": 0, "level": 0.95}
    low, high = rows["gd"]["intervals"]["final"]
    assert low <= rows["gd"]["final"] <= high and low < high
    assert per_method["intervals"]["task_aggregate"] == rows["gd"]["intervals"]["task_aggregate"]
    assert all(1 <= r["rank"][0] <= r["rank"][1] <= 4 for r in summary["rows"])
    assert f"{rows['gd']['final']:.3f} [{low:.3f}, {high:.3f}]" in (run / "leaderboard.md").read_text()
    # the unlearning run's loss curve, with its forget and retain terms per step
    curve = per_method["training_curve"]
    assert len(curve["losses"]) == len(curve["step_logs"]) > 0
    assert {"forget_term", "retain_term", "phase"} <= set(curve["step_logs"][0])
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "complete" and info["best_row"] == summary["rows"][0]["row"]
    assert info["inputs"]["methods"]["gd"]["name"] == "gd" and info["config"]["split"] == "train"
    assert info["versions"]["torch"]
    assert info["git_commit"] is None or len(info["git_commit"].removesuffix("-dirty")) == 40
    assert "oracle" in result.stdout and "params changed" in result.stdout


def test_unknown_method_is_one_line_and_exit_1(smoke_cfg):
    result = runner.invoke(app, ["unlearn", "--method", "nope", *_common(smoke_cfg)])
    assert result.exit_code == 1
    assert "unknown method 'nope'" in result.output


def test_missing_data_directory(smoke_cfg, tmp_path):
    result = runner.invoke(app, ["target", "--data", str(tmp_path / "absent"), *_common(smoke_cfg)])
    assert result.exit_code == 1
    assert "absent: no such directory" in result.output


def test_bad_data_file_names_file_line_and_field(smoke_cfg, tmp_path):
    (tmp_path / "forget.jsonl").write_text('{"id": "a", "text": "x"}\n{"id": "b", "txt": "y"}\n')
    result = runner.invoke(app, ["target", "--data", str(tmp_path), *_common(smoke_cfg)])
    assert result.exit_code == 1
    line = [ln for ln in result.output.splitlines() if "error" in ln][0]
    assert "forget.jsonl:2" in line and "txt" in line


def test_bad_override_is_rejected(smoke_cfg):
    result = runner.invoke(app, ["target", *_common(smoke_cfg), "--set", "target_train.lrr=1"])
    assert result.exit_code == 1
    assert "unknown field 'lrr'" in result.output
    result = runner.invoke(app, ["target", *_common(smoke_cfg), "--set", "target_train.lr=-1"])
    assert result.exit_code == 1
    assert "target_train.lr" in result.output


def test_real_lume_loads_through_the_cli_config(smoke_cfg):
    if not SHARED_LUME.is_dir():
        import pytest

        pytest.skip("../shared/data/lume is not beside the repository")
    from obliviate.presets import load_run_benchmark, resolve_config

    cfg = resolve_config("smoke", data=SHARED_LUME)
    benchmark = load_run_benchmark(cfg)
    assert len(benchmark.split("train").forget) == 342


def test_sweep_selects_on_validation_and_reports_on_test(smoke_cfg, smoke_target, smoke_oracle):
    args = ["sweep", "--preset", "smoke", "--method", "gd", "--grid", "lr=1e-4,1e-3", *_common(smoke_cfg)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((latest_run(smoke_cfg.out_dir, "sweep") / "sweep.json").read_text())
    assert [t["params"] for t in summary["trials"]] == [{"lr": 1e-4}, {"lr": 1e-3}]
    best = max(summary["trials"], key=lambda t: t["scores"]["final"])
    assert summary["chosen"] == best["params"]
    assert summary["select_split"] == "validation" and summary["report_split"] == "test"
    assert "--set methods.gd.lr=" in result.stdout
    # the report run is the one a bench on the test split with the chosen setting reuses
    chosen = json.dumps(summary["chosen"]["lr"])
    bench = [
        "bench",
        "--no-report",
        "--preset",
        "smoke",
        "--methods",
        "gd",
        "--set",
        "split=test",
        "--set",
        f"methods.gd.lr={chosen}",
        *_common(smoke_cfg),
    ]
    assert runner.invoke(app, bench).exit_code == 0
    rows = json.loads((latest_run(smoke_cfg.out_dir, "bench") / "leaderboard.json").read_text())["rows"]
    gd = [r for r in rows if r["row"] == "gd"][0]
    assert gd["model"] == summary["report"]["model"]
    assert gd["final"] == summary["report"]["scores"]["final"]


def test_sweep_refuses_the_same_split_and_bad_fields(smoke_cfg):
    base = ["sweep", "--preset", "smoke", "--method", "gd", *_common(smoke_cfg)]
    result = runner.invoke(app, [*base, "--grid", "lr=1e-4", "--select-split", "test"])
    assert result.exit_code == 1 and "must differ" in result.output
    result = runner.invoke(app, [*base, "--grid", "betta=1"])
    assert result.exit_code == 1 and "betta" in result.output


def test_compare_prints_the_paired_difference_and_refuses_other_items(smoke_bench, tmp_path):
    run, _ = smoke_bench
    gd, target = run / "eval" / "gd.json", run / "eval" / "target.json"
    result = runner.invoke(app, ["eval", "--compare", str(gd), "--compare", str(target)])
    assert result.exit_code == 0, result.output
    assert "gd - target (paired bootstrap, 2000 resamples, 95%)" in result.stdout
    saved = {p: json.loads(p.read_text()) for p in (gd, target)}
    difference = saved[gd]["regurgitation/forget"] - saved[target]["regurgitation/forget"]
    assert f"{difference:+.3f}" in result.stdout and "differs" in result.stdout
    same = runner.invoke(app, ["eval", "--compare", str(gd), "--compare", str(gd)])
    assert "[+0.000, +0.000]" in same.stdout and "differs" not in same.stdout
    other = json.loads(gd.read_text())
    other["items"]["forget"] = other["items"]["forget"][1:]  # evaluated on other items
    (tmp_path / "other.json").write_text(json.dumps(other))
    refused = runner.invoke(app, ["eval", "--compare", str(gd), "--compare", str(tmp_path / "other.json")])
    assert refused.exit_code == 1 and "not evaluated on the same items" in refused.output


def test_seeds_run_each_method_again_and_report_mean_and_spread(smoke_cfg, smoke_target, smoke_oracle):
    args = ["bench", "--no-report", "--methods", "gd", "--seeds", "2", *_common(smoke_cfg)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    run = latest_run(smoke_cfg.out_dir, "bench")
    board = json.loads((run / "leaderboard.json").read_text())
    rows = {r["row"]: r for r in board["rows"]}
    assert {"gd", "gd-seed1"} <= set(rows)
    first, second = (json.loads((run / "eval" / f"{n}.json").read_text()) for n in ("gd", "gd-seed1"))
    assert first["model_fingerprint"] != second["model_fingerprint"]  # another seed, another model
    seeds = board["seeds"]["gd"]
    assert seeds["values"] == [rows["gd"]["final"], rows["gd-seed1"]["final"]]
    assert seeds["mean"] == pytest.approx(sum(seeds["values"]) / 2)
    assert seeds["std"] == pytest.approx(abs(seeds["values"][0] - seeds["values"][1]) / 2**0.5)
    assert "| gd | 2 |" in result.stdout
    bad = runner.invoke(app, ["bench", "--methods", "gd", "--seeds", "0", *_common(smoke_cfg)])
    assert bad.exit_code == 1 and "--seeds must be at least 1" in bad.output


def test_seed_targets_rebuild_target_and_oracle_for_each_seed(smoke_cfg, smoke_target, smoke_oracle):
    args = ["bench", "--no-report", "--methods", "gd", "--seeds", "2", "--seed-targets", *_common(smoke_cfg)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    run = latest_run(smoke_cfg.out_dir, "bench")
    board = json.loads((run / "leaderboard.json").read_text())
    assert {r["row"] for r in board["rows"]} == {
        "target",
        "oracle",
        "gd",
        "target-seed1",
        "oracle-seed1",
        "gd-seed1",
    }
    saved = {
        n: json.loads((run / "eval" / f"{n}.json").read_text())
        for n in ("target", "target-seed1", "gd-seed1")
    }
    seeded_target = Path(saved["target-seed1"]["subject"]).parent
    assert (
        seeded_target != Path(smoke_target)
        and saved["target-seed1"]["model_fingerprint"] != saved["target"]["model_fingerprint"]
    )
    assert (
        json.loads((seeded_target / "target.json").read_text())["train"]["seed"]
        == smoke_cfg.target_train.seed + 1
    )
    # the seed-1 method run starts from the seed-1 target
    unlearned = Path(saved["gd-seed1"]["subject"]).parent
    assert json.loads((unlearned / "unlearn.json").read_text())["target"] == str(seeded_target)
    assert set(board["seeds"]) == {"target", "oracle", "gd"} and len(board["seeds"]["target"]["values"]) == 2
    bad = runner.invoke(app, ["bench", "--methods", "gd", "--seed-targets", *_common(smoke_cfg)])
    assert bad.exit_code == 1 and "--seed-targets rebuilds the target and oracle" in bad.output


def test_help_lists_every_registered_method_without_importing_torch():
    import subprocess
    import sys

    from obliviate.cli import method_names
    from obliviate.methods import METHODS

    assert method_names() == sorted(METHODS)  # a method file is a registry entry, and back
    code = "import sys, obliviate.cli; assert 'torch' not in sys.modules, 'the command line imported torch'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
