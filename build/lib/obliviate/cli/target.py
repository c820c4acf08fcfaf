"""`obliviate target`: fine-tune the base model into the target and/or the retrain oracle."""

from __future__ import annotations

from typing import Annotated

import typer

from obliviate.cli import RunOptions, run_command


@run_command()
def target(run: RunOptions, kind: Annotated[str, typer.Option(help="target | oracle | both")] = "both"):
    """Fine-tune the base model into the target (forget ∪ retain) and/or the retrain oracle (retain)."""
    from obliviate.presets import load_run_benchmark
    from obliviate.targets import build_target

    if kind not in ("target", "oracle", "both"):
        raise ValueError(f"--kind {kind!r}: expected target, oracle or both")
    cfg, _ = run.config()
    benchmark = load_run_benchmark(cfg)
    for k in ("target", "oracle") if kind == "both" else (kind,):
        path = build_target(cfg, benchmark, k)
        print(f"{k}\t{path}")
