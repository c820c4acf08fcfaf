"""`obliviate erase`: influence-function unlearning of a LoRA target (docs/erase.md).

obliviate erase --preset smoke --set target_params.mode=lora                    # the split's forget set
obliviate erase --request response --requests fix.jsonl --set target_params.mode=lora --compare-retrain
obliviate erase ... --set erase.solver=lissa --set erase.damping=1e-2 --set erase.newton_steps=3
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from obliviate.cli import CacheOpt, DataOpt, ModelOpt, OutOpt, PresetOpt, SetOpt, _config, _guard, app


@app.command()
def erase(
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
    preset: PresetOpt = "smoke",
    model: ModelOpt = None,
    data: DataOpt = None,
    overrides: SetOpt = None,
    cache_dir: CacheOpt = None,
    out_dir: OutOpt = None,
):
    """Edit a LoRA target's adapter by one influence-function (Newton) step instead of retraining."""
    from obliviate.erase import read_requests
    from obliviate.erase.run import erase as run_erase
    from obliviate.erase.run import forget_set_edits
    from obliviate.presets import load_run_benchmark
    from obliviate.targets import build_target, training_documents

    def run():
        cfg, _ = _config(preset, model, data, overrides, cache_dir, out_dir)
        if cfg.target_params.mode != "lora":
            raise ValueError("erase edits a LoRA adapter: add --set target_params.mode=lora")
        if requests is None and request != "removal":
            raise ValueError(f"--request {request} needs --requests FILE.jsonl")
        benchmark = load_run_benchmark(cfg)
        if requests is None:
            kind, edits = "removal", forget_set_edits(cfg, benchmark)
        else:  # read (and reject) the request file before any training
            kind, edits = request, read_requests(requests, request, training_documents(benchmark, "target"))
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
            _evaluate(cfg, benchmark, out)
        print(out / "model")

    _guard(run)


def _evaluate(cfg, benchmark, out: Path) -> None:
    from obliviate.cli import _print_table
    from obliviate.eval.cache import PassCache
    from obliviate.leaderboard import evaluate_row, make_baseline, reference_points, summary_row

    cache = PassCache(cfg.cache_dir / "passes")
    points = reference_points(cfg, benchmark)
    baseline = make_baseline(cfg, points, cache)
    points["erase"] = out / "model"
    rows = [
        summary_row(row, evaluate_row(cfg, benchmark, row, path, baseline, cache))
        for row, path in points.items()
    ]
    _print_table(f"{benchmark.name} · split {cfg.split} · erase", rows)
