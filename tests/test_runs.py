"""Keyed runs: a bench on another split writes beside the first, and `obliviate runs` lists both."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from obliviate.cli import app
from obliviate.runs import list_runs
from tests.test_cli import _common

runner = CliRunner()


def test_two_splits_keep_both_results_and_runs_lists_them(smoke_cfg, smoke_target, smoke_oracle):
    out = smoke_cfg.out_dir.parent / "keyed-runs"
    options = [o if o != str(smoke_cfg.out_dir) else str(out) for o in _common(smoke_cfg)]
    dirs = {}
    for split in ("train", "test"):
        result = runner.invoke(
            app, ["bench", "--no-report", "--methods", "oracle", "--set", f"split={split}", *options]
        )
        assert result.exit_code == 0, result.output
        dirs[split] = next(
            line[len("results: ") :] for line in result.stdout.splitlines() if line.startswith("results: ")
        )
    assert dirs["train"] != dirs["test"]
    for split, path in dirs.items():
        board = json.loads((out / "bench" / path.split("/bench/")[1] / "leaderboard.json").read_text())
        assert board["split"] == split and {r["row"] for r in board["rows"]} == {"target", "oracle"}
    found = list_runs(out)
    assert [r["split"] for r in found] == ["test", "train"]  # newest first
    assert all(r["status"] == "complete" and r["command"] == "bench" for r in found)

    listing = runner.invoke(app, ["runs", "--out-dir", str(out)])
    assert listing.exit_code == 0, listing.output
    lines = listing.stdout.strip().splitlines()
    assert len(lines) == 2 and "test" in lines[0] and "train" in lines[1]
    assert all("bench" in line and "2 rows" in line and "best " in line for line in lines)

    # the same command again writes the same directory, not a third one
    again = runner.invoke(
        app, ["bench", "--no-report", "--methods", "oracle", "--set", "split=test", *options]
    )
    assert f"results: {dirs['test']}" in again.stdout
    assert len(list_runs(out)) == 2


def test_runs_on_a_missing_directory_is_one_line(tmp_path):
    result = runner.invoke(app, ["runs", "--out-dir", str(tmp_path / "absent")])
    assert result.exit_code == 1 and "absent: no such directory" in result.output


def test_a_subset_benchmark_name_with_a_slash_gives_one_flat_run_directory(
    smoke_cfg, smoke_benchmark, tmp_path
):
    from obliviate.data.records import subset_benchmark
    from obliviate.runs import start_run

    subset = subset_benchmark(smoke_benchmark, 1)
    assert "/" in subset.name  # `<name>[1/task]`
    cfg = smoke_cfg.model_copy(update={"out_dir": tmp_path})
    run = start_run(cfg, "bench", subset, {"rows": []})
    assert run.dir.parent == tmp_path / "bench"
    assert [Path(r["dir"]) for r in list_runs(tmp_path)] == [run.dir]
