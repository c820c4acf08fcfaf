"""`obliviate erase`: influence-function unlearning of a LoRA target (docs/erase.md).

obliviate erase --preset smoke-lora                                              # the split's forget set
obliviate erase --request response --requests fix.jsonl --preset default-lora --compare-retrain
obliviate erase ... --set erase.solver=lissa --set erase.damping=1e-2 --set erase.newton_steps=3
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from obliviate.cli import RunOptions, run_command


@run_command()
def erase(
    run: RunOptions,
    request: Annotated[str, typer.Option(help="request kind: removal | query | response")] = "removal",
    requests: Annotated[
        Path | None,
        typer.Option(help="request JSONL (docs/erase.md); default: remove the split's forget set"),
    ] = None,
    compare_retrain: Annotated[
        bool, typer.Option("--compare-retrain", help="also retrain on D′ (warm, scratch) and compare")
    ] = False,
    evaluate: Annotated[
        bool, typer.Option("--evaluate", help="LUME-evaluate target, oracle and erased")
    ] = False,
):
    """Edit a LoRA target's adapter by one influence-function (Newton) step instead of retraining."""
    from obliviate.erase import read_requests
    from obliviate.erase.run import erase as run_erase
    from obliviate.erase.run import forget_set_edits
    from obliviate.presets import load_run_benchmark
    from obliviate.rows import ERASE_NEEDS_LORA
    from obliviate.targets import build_target, training_documents

    cfg, _ = run.config()
    if cfg.target_params.mode != "lora":
        raise ValueError(ERASE_NEEDS_LORA)
    if requests is None and request != "removal":
        raise ValueError(f"--request {request} needs --requests FILE.jsonl")
    benchmark = load_run_benchmark(cfg)
    if requests is None:
        kind, edits = "removal", forget_set_edits(cfg, benchmark)
    else:  # read (and reject) the request file before any training
        kind, edits = request, read_requests(requests, request, training_documents(cfg, benchmark, "target"))
    target_dir = build_target(cfg, benchmark, "target")
    out = run_erase(cfg, target_dir, benchmark, kind, edits, cfg.erase, compare_retrain)
    meta = json.loads((out / "erase.json").read_text())
    keys = ("requests", "seconds", "relative_residual", "delta_norm", "parameters_changed", "peak_rss_mb")
    print(json.dumps({k: meta[k] for k in keys}))
    for name, block in (meta["comparison"] or {}).items():
        fields = (
            "seconds",
            "cosine",
            "relative_distance",
            "kl_gap_closed/forget",
            "kl_gap_closed/retain",
        )
        print(f"retrain {name}: " + json.dumps({k: block.get(k) for k in fields}))
    if evaluate:
        _evaluate(cfg, benchmark, kind, edits)
    print(out / "model")


def _evaluate(cfg, benchmark, kind: str, edits: list) -> None:
    """Base, target, oracle and the erased model, evaluated in the erase run's keyed directory."""
    from obliviate.cli import print_table
    from obliviate.leaderboard import run_leaderboard
    from obliviate.rows import erase_row, reference_rows

    def make_rows(ev):
        return [*reference_rows(ev, ("base", "target", "oracle")), erase_row(ev, cfg.split, kind, edits)]

    edit_rows = [[e.input, e.output, e.new] for e in edits]
    inputs = {"request": kind, "edits": edit_rows, "erase": cfg.erase.model_dump()}
    table, written = run_leaderboard(cfg, "erase-eval", benchmark, inputs, make_rows, sort=False)
    print_table(f"{benchmark.name} · split {cfg.split} · erase", table)
    print(f"results: {written.dir}")
