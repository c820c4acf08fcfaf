"""The `obliviate` command line: one small function per command, each building a config and
calling one library function.

    obliviate target --preset smoke --kind both
    obliviate unlearn --preset smoke --method gd --set method.retain_weight=2
    obliviate bench --preset default --methods gd
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="LLM unlearning toolkit.")
console = Console(stderr=True)

PresetOpt = Annotated[str, typer.Option(help="preset: smoke | default")]
ModelOpt = Annotated[str | None, typer.Option(help="base model: smollm2-135m, tiny, HF id or directory")]
DataOpt = Annotated[Path | None, typer.Option(help="benchmark directory (LUME or JSONL); default: synthetic")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="override, e.g. target_train.lr=1e-4")]
CacheOpt = Annotated[Path | None, typer.Option(help="cache of base models, targets and oracles")]
OutOpt = Annotated[Path | None, typer.Option(help="output directory of unlearned models and results")]


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _config(preset, model, data, overrides, cache_dir, out_dir):
    """Resolve the run config and the method overrides (`--set method.x=...`); print the config."""
    from obliviate.presets import parse_override, resolve_config

    overrides = overrides or []
    method_overrides = {}
    run_overrides = []
    for text in overrides:
        if text.startswith("method."):
            path, value = parse_override(text)
            method_overrides[path[1]] = value
        else:
            run_overrides.append(text)
    cfg = resolve_config(preset, run_overrides, model=model, data=data, cache_dir=cache_dir, out_dir=out_dir)
    console.print(f"[bold]config[/bold] {json.dumps(cfg.model_dump(mode='json'))}", highlight=False)
    return cfg, method_overrides


def _guard(fn):
    """Turn the toolkit's expected errors into one red line and exit code 1."""
    from pydantic import ValidationError

    from obliviate.benchmarks.records import DataError
    from obliviate.engine import TrainingDiverged
    from obliviate.models import ModelError

    try:
        return fn()
    except (DataError, ModelError, TrainingDiverged, ValueError) as err:
        if isinstance(err, ValidationError):
            first = err.errors()[0]
            _fail(f"config field {'.'.join(map(str, first['loc']))}: {first['msg']}")
        _fail(str(err))


@app.command()
def target(
    preset: PresetOpt = "smoke",
    kind: Annotated[str, typer.Option(help="target | oracle | both")] = "both",
    model: ModelOpt = None,
    data: DataOpt = None,
    overrides: SetOpt = None,
    cache_dir: CacheOpt = None,
    out_dir: OutOpt = None,
):
    """Fine-tune the base model into the target (forget ∪ retain) and/or the retrain oracle (retain)."""
    from obliviate.presets import load_run_benchmark
    from obliviate.targets import build_target

    def run():
        if kind not in ("target", "oracle", "both"):
            raise ValueError(f"--kind {kind!r}: expected target, oracle or both")
        cfg, _ = _config(preset, model, data, overrides, cache_dir, out_dir)
        benchmark = load_run_benchmark(cfg)
        for k in ("target", "oracle") if kind == "both" else (kind,):
            path = build_target(cfg, benchmark, k)
            print(f"{k}\t{path}")

    _guard(run)


@app.command()
def unlearn(
    method: Annotated[str, typer.Option(help="unlearning method: ga | gd")],
    preset: PresetOpt = "smoke",
    model: ModelOpt = None,
    data: DataOpt = None,
    overrides: SetOpt = None,
    cache_dir: CacheOpt = None,
    out_dir: OutOpt = None,
):
    """Unlearn the split's forget set from the (cached) target; writes a Hugging Face model."""
    from obliviate.methods import method_config
    from obliviate.presets import load_run_benchmark
    from obliviate.targets import build_target
    from obliviate.unlearn import unlearn as run_unlearn

    def run():
        cfg, method_overrides = _config(preset, model, data, overrides, cache_dir, out_dir)
        method_cfg = method_config(method, method_overrides)
        benchmark = load_run_benchmark(cfg)
        target_path = build_target(cfg, benchmark, "target")
        out = run_unlearn(cfg, method_cfg, target_path, benchmark)
        print(out / "model")

    _guard(run)


@app.command()
def bench(
    preset: PresetOpt = "smoke",
    methods: Annotated[str, typer.Option(help="comma-separated methods")] = "gd",
    model: ModelOpt = None,
    data: DataOpt = None,
    overrides: SetOpt = None,
    cache_dir: CacheOpt = None,
    out_dir: OutOpt = None,
):
    """Target, oracle and each method on one benchmark, evaluated and printed as one table."""
    from obliviate.bench import COLUMNS, run_bench
    from obliviate.methods import method_config
    from obliviate.presets import load_run_benchmark

    def run():
        cfg, method_overrides = _config(preset, model, data, overrides, cache_dir, out_dir)
        names = [m.strip() for m in methods.split(",") if m.strip()]
        method_cfgs = [method_config(n, method_overrides) for n in names]
        benchmark = load_run_benchmark(cfg)
        rows = run_bench(cfg, benchmark, method_cfgs)
        table = Table(title=f"{benchmark.name} · split {cfg.split} · {cfg.model.name}")
        for col in ("model", *COLUMNS, "train s"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for r in rows:
            table.add_row(
                r["row"],
                *(f"{r[c]:.3f}" if r[c] is not None else "-" for c in COLUMNS),
                f"{r['train_seconds']:.0f}",
            )
        Console().print(table)
        print(f"results: {cfg.out_dir / 'bench.json'}")

    _guard(run)


def main() -> None:  # pragma: no cover - entry point for `python -m obliviate`
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(app())
