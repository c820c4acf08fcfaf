"""`obliviate eval`: evaluate base, target, oracle and any model directory; or compare saved results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from obliviate.cli import RunOptions, print_table, print_wide, run_command


def read_result(path: Path) -> dict:
    """A saved evaluation result, or one line saying why it is not one."""
    try:
        result = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable result JSON ({err})") from err
    # results of every protocol carry `protocol`; LUME results saved before protocols, `final`
    if (
        not isinstance(result, dict)
        or "timings" not in result
        or not ("protocol" in result or "final" in result)
    ):
        raise ValueError(f"{path}: not an obliviate evaluation result (no 'protocol' / 'final' / 'timings')")
    return result


def row_name(model_dir: Path) -> str:
    """`runs/unlearn/gd-<key>/model` -> `gd-<key>`; any other directory -> its name."""
    return model_dir.parent.name if model_dir.name == "model" else model_dir.name


def print_difference(a: dict, b: dict) -> None:
    """`a - b` on every leaderboard metric, with the paired bootstrap interval of `a`'s settings."""
    from rich.table import Table

    from obliviate.eval.config import BootstrapConfig
    from obliviate.eval.metrics.table import METRICS
    from obliviate.eval.protocols import protocol_of
    from obliviate.eval.uncertainty import compare

    cfg = BootstrapConfig(**a.get("settings", {}).get("bootstrap", {}))
    table = Table(
        title=f"{a['name']} - {b['name']} (paired bootstrap, {cfg.resamples} resamples, {cfg.level:.0%})"
    )
    for col in ("metric", a["name"], b["name"], "difference", "interval", "verdict"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for row in compare(a, b, protocol_of(a).COLUMNS, cfg):
        low, high = row["interval"]
        table.add_row(
            METRICS[row["metric"]].column,
            f"{row['a']:.3f}",
            f"{row['b']:.3f}",
            f"{row['difference']:+.3f}",
            f"[{low:+.3f}, {high:+.3f}]",
            "differs" if row["differs"] else "cannot tell apart",
        )
    print_wide(table)


@run_command("eval")
def eval_command(
    run: RunOptions,
    model_dir: Annotated[list[Path] | None, typer.Option(help="evaluate these model directories")] = None,
    compare: Annotated[list[Path] | None, typer.Option(help="print saved result JSONs side by side")] = None,
):
    """Evaluate base, target and oracle (and any --model-dir) with the LUME protocol, MIA and utility.

    With --compare, only print the saved results given (no model is loaded), and each one's paired
    difference from the first, with its bootstrap interval."""
    from obliviate.leaderboard import run_leaderboard, summary_row
    from obliviate.presets import load_run_benchmark
    from obliviate.rows import model_row, reference_rows

    if compare:
        results = [read_result(path) for path in compare]
        print_table("comparison", [summary_row(r) for r in results])
        for other in results[1:]:
            print_difference(results[0], other)
        return
    cfg, _ = run.config()
    extra = [Path(p) for p in model_dir or []]
    for path in extra:  # a bad path fails before any training
        if not (path / "config.json").is_file():
            raise ValueError(f"{path}: not a model directory (no config.json)")
    benchmark = load_run_benchmark(cfg)
    inputs = {"rows": ["base", "target", "oracle"], "model_dirs": [str(p) for p in extra]}

    def make_rows(ev):
        rows = reference_rows(ev, ("base", "target", "oracle"))
        return rows + [model_row(ev, row_name(path), path) for path in extra]

    table, written = run_leaderboard(cfg, "eval", benchmark, inputs, make_rows, sort=False)
    print_table(f"{benchmark.name} · split {cfg.split} · {cfg.model.name}", table)
    print(f"results: {written.dir}")
