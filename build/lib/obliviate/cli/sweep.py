"""`obliviate sweep`: search a method's hyperparameters on one split, report on another."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from obliviate.cli import RunOptions, method_names, print_wide, run_command


@run_command()
def sweep(
    run: RunOptions,
    method: Annotated[
        str, typer.Option(help=f"the method whose hyperparameters are searched: {', '.join(method_names())}")
    ],
    grid: Annotated[list[str], typer.Option(help="field=v1,v2,... of the method's config (repeatable)")],
    samples: Annotated[int | None, typer.Option(help="random search: this many grid points (seeded)")] = None,
    select_split: Annotated[str, typer.Option(help="split the choice is made on")] = "validation",
    report_split: Annotated[str, typer.Option(help="split the chosen setting is reported on")] = "test",
):
    """Grid or random search over a method's hyperparameters: choose on one split, report on another."""
    from obliviate.presets import load_run_benchmark
    from obliviate.sweep import SCORES, parse_grid, run_sweep

    cfg, method_overrides = run.config()
    if method_overrides:
        cfg = cfg.model_copy(
            update={"methods": {**cfg.methods, method: {**cfg.methods.get(method, {}), **method_overrides}}}
        )
    benchmark = load_run_benchmark(cfg)
    summary = run_sweep(
        cfg,
        benchmark,
        method,
        parse_grid(grid),
        select_split=select_split,
        report_split=report_split,
        samples=samples,
    )
    table = Table(title=f"sweep {method}: chosen on {select_split}")
    for col in ("params", *SCORES, "train s"):
        table.add_column(col, justify="left" if col == "params" else "right")
    for trial in summary["trials"]:
        mark = " *" if trial["params"] == summary["chosen"] else ""
        table.add_row(
            json.dumps(trial["params"]) + mark,
            *(f"{trial['scores'][k]:.3f}" for k in SCORES),
            f"{trial['train_seconds']:.0f}",
        )
    print_wide(table)
    report = summary["report"]["scores"]
    print(
        f"chosen {json.dumps(summary['chosen'])}; on {report_split}: "
        + ", ".join(f"{k} {report[k]:.3f}" for k in SCORES)
    )
    print(
        "use it: "
        + " ".join(f"--set methods.{method}.{k}={json.dumps(v)}" for k, v in summary["chosen"].items())
    )
    print(f"results: {summary['dir']}")
