"""The command line: the smoke pipeline end to end, and one-line errors with exit code 1."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from obliviate.cli import app
from tests.conftest import SHARED_LUME

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


def test_bench_smoke_prints_the_table_and_writes_results(smoke_cfg, smoke_target, smoke_oracle):
    result = runner.invoke(app, ["bench", "--preset", "smoke", "--methods", "gd", *_common(smoke_cfg)])
    assert result.exit_code == 0, result.output
    summary = json.loads((smoke_cfg.out_dir / "bench.json").read_text())
    rows = {r["row"]: r for r in summary["rows"]}
    assert set(rows) == {"base", "target", "oracle", "gd"}
    assert rows["target"]["regurgitation/forget"] >= 0.9
    assert rows["gd"]["regurgitation/forget"] < rows["target"]["regurgitation/forget"]
    assert "| gd |" in (smoke_cfg.out_dir / "bench.md").read_text()
    assert "oracle" in result.stdout


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
