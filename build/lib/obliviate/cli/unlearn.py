"""`obliviate unlearn`: run one unlearning method on the (cached) target."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from obliviate.cli import RunOptions, console, method_names, run_command


@run_command()
def unlearn(
    run: RunOptions,
    method: Annotated[str, typer.Option(help=f"unlearning method: {', '.join(method_names())}")],
):
    """Unlearn the split's forget set from the (cached) target; writes a Hugging Face model."""
    from obliviate.methods import method_config
    from obliviate.presets import load_run_benchmark
    from obliviate.targets import build_target
    from obliviate.unlearn import unlearn as run_unlearn

    cfg, method_overrides = run.config()
    method_cfg = method_config(method, {**cfg.methods.get(method, {}), **method_overrides})
    console.print(f"[bold]method[/bold] {json.dumps(method_cfg.model_dump())}", highlight=False)
    benchmark = load_run_benchmark(cfg)
    benchmark.split(cfg.split)  # an unknown split fails before the target is built
    target_path = build_target(cfg, benchmark, "target")
    out = run_unlearn(cfg, method_cfg, target_path, benchmark)
    print(out / "model")
