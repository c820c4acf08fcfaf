"""The `obliviate` command line: one module per command (`cli/<command>.py`), each building a
config and calling one library function; this module holds what they share (the app, the common
options, config resolution, error handling and the result table).

    obliviate target --preset smoke --kind both
    obliviate unlearn --preset smoke --method gd --set method.retain_weight=2
    obliviate bench --preset default --methods gd,npo,sugd,undial
    obliviate sweep --preset default --method npo --grid lr=1e-5,3e-5 --grid beta=0.1,0.5
    obliviate eval --preset default
    obliviate attack --preset default --attacks quant4,relearn --methods gd
    obliviate runs
    obliviate report runs/bench/<run>
    obliviate forget --model my-model/ --forget records.jsonl --output my-model-forgot/
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="LLM unlearning toolkit.")
console = Console(stderr=True)

PresetOpt = Annotated[
    str, typer.Option(help="preset: smoke | default | tofu-smoke | tofu-default | muse-smoke | muse-default")
]
ModelOpt = Annotated[str | None, typer.Option(help="base model: smollm2-135m, tiny, HF id or directory")]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        help="benchmark directory (LUME or JSONL; TOFU, MUSE with --set data_format=); default: synthetic"
    ),
]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="override, e.g. target_train.lr=1e-4")]
CacheOpt = Annotated[Path | None, typer.Option(help="cache of base models, targets and oracles")]
OutOpt = Annotated[Path | None, typer.Option(help="output directory of unlearned models and results")]


def method_names() -> list[str]:
    """The methods' names for --help, from the method files' names (`methods/<name>.py`), without
    importing the registry: it imports torch, which would cost every command ~8 s to start."""
    import importlib.util
    import pkgutil

    spec = importlib.util.find_spec("obliviate.methods")  # imports `obliviate` only, not the package
    return sorted(
        m.name for m in pkgutil.iter_modules(spec.submodule_search_locations) if not m.name.startswith("_")
    )


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


# The options every command that runs the pipeline takes: name -> (annotation, default).
RUN_OPTIONS = {
    "preset": (PresetOpt, "smoke"),
    "model": (ModelOpt, None),
    "data": (DataOpt, None),
    "overrides": (SetOpt, None),
    "cache_dir": (CacheOpt, None),
    "out_dir": (OutOpt, None),
}


@dataclass
class RunOptions:
    """The shared options of one command line, resolved by `config()`."""

    preset: str
    model: str | None
    data: Path | None
    overrides: list[str] | None
    cache_dir: Path | None
    out_dir: Path | None

    def config(self):
        """(run config, method overrides): preset -> `--set` (those on `method.*` kept apart, for
        the method configs) -> typed options. Both are printed."""
        from obliviate.config import parse_override
        from obliviate.presets import resolve_config

        method_overrides, run_overrides = {}, []
        for text in self.overrides or []:
            if text.startswith("method."):
                path, value = parse_override(text)
                method_overrides[path[1]] = value
            else:
                run_overrides.append(text)
        cfg = resolve_config(
            self.preset,
            run_overrides,
            model=self.model,
            data=self.data,
            cache_dir=self.cache_dir,
            out_dir=self.out_dir,
        )
        console.print(f"[bold]config[/bold] {json.dumps(cfg.model_dump(mode='json'))}", highlight=False)
        if method_overrides:
            console.print(f"[bold]method overrides[/bold] {json.dumps(method_overrides)}", highlight=False)
        return cfg, method_overrides


def run_command(name: str | None = None):
    """Register `fn(run: RunOptions, **its own options)` as the command `name`, taking the shared
    `RUN_OPTIONS` after its own; the body runs under `_guard` (one-line errors, exit code 1)."""

    def register(fn):
        hints = typing.get_type_hints(fn, include_extras=True)
        own = [
            p.replace(annotation=hints[p.name]) for p in list(inspect.signature(fn).parameters.values())[1:]
        ]
        shared = [
            inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
            for key, (annotation, default) in RUN_OPTIONS.items()
        ]

        @functools.wraps(fn)
        def command(**kwargs):
            run = RunOptions(**{key: kwargs.pop(key) for key in RUN_OPTIONS})
            return _guard(lambda: fn(run, **kwargs))

        del command.__wrapped__  # typer reads the signature below, not `fn`'s
        command.__signature__ = inspect.Signature(own + shared)
        command.__annotations__ = {p.name: p.annotation for p in own + shared}
        return app.command(name)(command)

    return register


# The toolkit's expected errors, by module: a raised one's module is loaded, so `_guard` looks them
# up there and never imports torch to learn their classes (`obliviate report` and `runs` load no model).
EXPECTED_ERRORS = {
    "obliviate.data.records": "DataError",
    "obliviate.engine": "TrainingDiverged",
    "obliviate.eval.metrics.utility": "UtilityUnavailable",
    "obliviate.locks": "LockTimeout",
    "obliviate.models": "ModelError",
}


def _guard(fn):
    """Turn the toolkit's expected errors into one red line and exit code 1."""
    from pydantic import ValidationError

    try:
        return fn()
    except Exception as err:
        loaded = (getattr(sys.modules[m], name) for m, name in EXPECTED_ERRORS.items() if m in sys.modules)
        if not isinstance(err, (ValueError, *loaded)):
            raise
        if isinstance(err, ValidationError):
            first = err.errors()[0]
            _fail(f"config field {'.'.join(map(str, first['loc']))}: {first['msg']}")
        _fail(str(err))


def print_table(title: str, rows: list[dict]) -> None:
    """The leaderboard in the terminal: rank range, the metric table's columns (each value over its
    interval, dimmed), then utility kind and costs."""
    from rich.text import Text

    from obliviate.eval.metrics.table import COST_COLUMNS, METRICS, columns_of, fmt, fmt_cost, fmt_rank

    metrics = columns_of(rows)

    def cell(row: dict, key: str) -> Text:
        interval = (row.get("intervals") or {}).get(key)
        text = Text(fmt(row.get(key)))
        if interval and row.get(key) is not None:
            text.append(f"\n[{interval[0]:.3f}, {interval[1]:.3f}]", style="dim")
        return text

    table = Table(title=title)
    columns = (
        "rank",
        "model",
        *(METRICS[c].column for c in metrics),
        "utility kind",
        *COST_COLUMNS.values(),
        "eval s",
    )
    for col in columns:
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        table.add_row(
            fmt_rank(r),
            r["row"],
            *(cell(r, c) for c in metrics),
            r.get("utility_kind") or "-",
            *(fmt_cost(c, r.get(c)) for c in COST_COLUMNS),
            f"{r['eval_seconds']:.0f}",
        )
    print_wide(table)


def print_sections(run_dir: Path) -> None:
    """The seeds and robustness sections of a run's leaderboard, when it has them (Markdown tables)."""
    board = json.loads((run_dir / "leaderboard.json").read_text())
    if "seeds" in board:
        from obliviate.leaderboard import seeds_markdown

        print(seeds_markdown(board["seeds"], board["bootstrap"]["level"]))
    if "robustness" in board:
        from obliviate.attacks.report import markdown

        print(markdown(board["robustness"]))


def print_wide(table: Table) -> None:
    # Logs and pipes are not terminals: print the whole table rather than wrap it to 80 columns.
    Console(width=None if sys.stdout.isatty() else 320).print(table)


def main() -> None:
    """Entry point of the `obliviate` command and of `python -m obliviate`."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # no fork warnings from the tokenizers
    app()


# Each command module registers its command on `app`.
from obliviate.cli import attack, bench, erase, evaluate, forget, report, runs, sweep, target, unlearn  # noqa: E402,F401,I001
