"""The `obliviate` command line: one small function per command, each building a config and
calling one library function.

    obliviate target --preset smoke --kind both
    obliviate unlearn --preset smoke --method gd --set method.retain_weight=2
    obliviate bench --preset default --methods gd,npo,sugd,undial
    obliviate sweep --preset default --method npo --grid lr=1e-5,3e-5 --grid beta=0.1,0.5
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
    from obliviate.config import parse_override
    from obliviate.presets import resolve_config

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

    from obliviate.data.records import DataError
    from obliviate.engine import TrainingDiverged
    from obliviate.eval.metrics.utility import UtilityUnavailable
    from obliviate.models import ModelError

    try:
        return fn()
    except (DataError, ModelError, TrainingDiverged, UtilityUnavailable, ValueError) as err:
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
    method: Annotated[
        str, typer.Option(help="unlearning method: ga, gd, kl, npo, simnpo, idk, idkdpo, rmu, undial, sugd")
    ],
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
        method_cfg = method_config(method, {**cfg.methods.get(method, {}), **method_overrides})
        benchmark = load_run_benchmark(cfg)
        target_path = build_target(cfg, benchmark, "target")
        out = run_unlearn(cfg, method_cfg, target_path, benchmark)
        print(out / "model")

    _guard(run)


def _print_table(title: str, rows: list[dict]) -> None:
    from obliviate.leaderboard import COLUMNS, COST_COLUMNS, fmt, fmt_cost

    table = Table(title=title)
    for col in ("model", *COLUMNS.values(), "utility kind", *COST_COLUMNS.values(), "eval s"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        table.add_row(
            r["row"],
            *(fmt(r.get(c)) for c in COLUMNS),
            r.get("utility_kind") or "-",
            *(fmt_cost(c, r.get(c)) for c in COST_COLUMNS),
            f"{r['eval_seconds']:.0f}",
        )
    # Logs and pipes are not terminals: print the whole table rather than wrap it to 80 columns.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@app.command()
def bench(
    preset: PresetOpt = "smoke",
    methods: Annotated[
        str, typer.Option(help="comma-separated methods, or 'all' (with `erase` on a LoRA target)")
    ] = "all",
    base: Annotated[bool, typer.Option(help="also evaluate the base model as a row")] = False,
    model: ModelOpt = None,
    data: DataOpt = None,
    overrides: SetOpt = None,
    cache_dir: CacheOpt = None,
    out_dir: OutOpt = None,
):
    """Base, target, oracle and each method on one benchmark, evaluated and printed as one table."""
    from obliviate.leaderboard import ERASE_ROW, bench_methods, run_bench
    from obliviate.methods import METHODS
    from obliviate.presets import load_run_benchmark

    def run():
        cfg, method_overrides = _config(preset, model, data, overrides, cache_dir, out_dir)
        if methods == "all":
            names = [*METHODS, *([ERASE_ROW] if cfg.target_params.mode == "lora" else [])]
        else:
            names = [m.strip() for m in methods.split(",") if m.strip()]
        method_cfgs = bench_methods(cfg, names, method_overrides)
        benchmark = load_run_benchmark(cfg)
        rows = run_bench(cfg, benchmark, method_cfgs, include_base=base, include_erase=ERASE_ROW in names)
        _print_table(f"{benchmark.name} · split {cfg.split} · {cfg.model.name}", rows)
        print(f"results: {cfg.out_dir / 'bench.json'}")

    _guard(run)


@app.command()
def sweep(
    method: Annotated[str, typer.Option(help="the method whose hyperparameters are searched")],
    grid: Annotated[list[str], typer.Option(help="field=v1,v2,... of the method's config (repeatable)")],
    samples: Annotated[int | None, typer.Option(help="random search: this many grid points (seeded)")] = None,
    select_split: Annotated[str, typer.Option(help="split the choice is made on")] = "validation",
    report_split: Annotated[str, typer.Option(help="split the chosen setting is reported on")] = "test",
    preset: PresetOpt = "smoke",
    model: ModelOpt = None,
    data: DataOpt = None,
    overrides: SetOpt = None,
    cache_dir: CacheOpt = None,
    out_dir: OutOpt = None,
):
    """Grid or random search over a method's hyperparameters: choose on one split, report on another."""
    from obliviate.presets import load_run_benchmark
    from obliviate.sweep import SCORES, parse_grid, run_sweep

    def run():
        cfg, method_overrides = _config(preset, model, data, overrides, cache_dir, out_dir)
        if method_overrides:
            cfg = cfg.model_copy(
                update={
                    "methods": {**cfg.methods, method: {**cfg.methods.get(method, {}), **method_overrides}}
                }
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
        Console(width=None if sys.stdout.isatty() else 200).print(table)
        report = summary["report"]["scores"]
        print(
            f"chosen {json.dumps(summary['chosen'])}; on {report_split}: "
            + ", ".join(f"{k} {report[k]:.3f}" for k in SCORES)
        )
        print(
            "use it: "
            + " ".join(f"--set methods.{method}.{k}={json.dumps(v)}" for k, v in summary["chosen"].items())
        )
        print(f"results: {cfg.out_dir / 'sweep' / (method + '.json')}")

    _guard(run)


@app.command("eval")
def eval_command(
    preset: PresetOpt = "smoke",
    model_dir: Annotated[list[Path] | None, typer.Option(help="evaluate these model directories")] = None,
    compare: Annotated[list[Path] | None, typer.Option(help="print saved result JSONs side by side")] = None,
    model: ModelOpt = None,
    data: DataOpt = None,
    overrides: SetOpt = None,
    cache_dir: CacheOpt = None,
    out_dir: OutOpt = None,
):
    """Evaluate base, target and oracle (and any --model-dir) with the LUME protocol, MIA and utility.

    With --compare, only print the saved results given (no model is loaded)."""
    from obliviate.eval.cache import PassCache
    from obliviate.leaderboard import evaluate_row, make_baseline, reference_points, summary_row
    from obliviate.presets import load_run_benchmark

    def run():
        if compare:
            rows = []
            for path in compare:
                try:
                    result = json.loads(Path(path).read_text())
                except (OSError, json.JSONDecodeError) as err:
                    raise ValueError(f"{path}: not a readable result JSON ({err})") from err
                if "timings" not in result or "final" not in result:
                    raise ValueError(f"{path}: not an obliviate evaluation result (no 'final' / 'timings')")
                rows.append(summary_row(result.get("name", Path(path).stem), result))
            _print_table("comparison", rows)
            return
        cfg, _ = _config(preset, model, data, overrides, cache_dir, out_dir)
        benchmark = load_run_benchmark(cfg)
        cache = PassCache(cfg.cache_dir / "passes")
        points = reference_points(cfg, benchmark)
        baseline = make_baseline(cfg, points, cache)
        for extra in model_dir or []:
            if not (Path(extra) / "config.json").is_file():
                raise ValueError(f"{extra}: not a model directory (no config.json)")
            points[Path(extra).parent.name if Path(extra).name == "model" else Path(extra).name] = Path(extra)
        rows = []
        for row, path in points.items():
            result = evaluate_row(cfg, benchmark, row, path, baseline, cache)
            rows.append(summary_row(row, result))
        _print_table(f"{benchmark.name} · split {cfg.split} · {cfg.model.name}", rows)
        print(f"results: {cfg.out_dir / 'eval'}")

    _guard(run)


def main() -> None:
    """Entry point of the `obliviate` command and of `python -m obliviate`."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # no fork warnings from the tokenizers
    app()


from obliviate.cli import erase as _erase  # noqa: E402,F401  (registers the `erase` command)
