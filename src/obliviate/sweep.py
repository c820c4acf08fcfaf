"""`obliviate sweep`: choose a method's hyperparameters on one split, report them on another.

    trials = every point of the grid (or `samples` points drawn from it, seeded)
    for each trial: unlearn the SELECT split's forget set, evaluate on the SELECT split
    chosen = the trial with the highest final score (ties: the first)
    report: unlearn the REPORT split's forget set with the chosen setting, evaluate on REPORT

The target memorized every split, so each split is its own unlearning problem; the numbers you
report never took part in the choice. Results go to the sweep's keyed run directory
(`<out_dir>/sweep/<benchmark>-<report split>-<key>/`: `sweep.json` with every trial's scores, the
choice and the report, and every evaluation as `eval/<trial>.json`); the report run lives where
`obliviate bench --set split=<report>` finds it, so a bench with `--set methods.<m>.<field>=<chosen>`
reuses it.
"""

from __future__ import annotations

import itertools
import random
import time

from obliviate.atomic import write_json_atomic
from obliviate.config import RunConfig, parse_override
from obliviate.data.records import Benchmark, require_prompts
from obliviate.methods import method_config
from obliviate.rows import evaluate_rows, method_row, prepare_evaluation
from obliviate.runs import finish_run, start_run

SCORES = ("final", "task_aggregate", "regurgitation/forget", "knowledge/forget", "mia", "utility")


def parse_grid(texts: list[str]) -> dict[str, list]:
    """["lr=1e-5,3e-5", "beta=0.1"] -> {"lr": [1e-5, 3e-5], "beta": [0.1]} (values read as JSON)."""
    grid = {}
    for text in texts:
        path, raw = parse_override(text)
        values = [parse_override(f"v={v}")[1] for v in str(raw).split(",")] if isinstance(raw, str) else [raw]
        if len(path) != 1 or not values:
            raise ValueError(f"--grid {text!r}: expected field=v1,v2,... (a field of the method's config)")
        grid[path[0]] = values
    return grid


def grid_points(grid: dict[str, list], samples: int | None = None, seed: int = 0) -> list[dict]:
    """Every combination, or `samples` of them drawn without replacement (seeded)."""
    points = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    if samples is not None and samples < len(points):
        points = random.Random(seed).sample(points, samples)
    return points


def run_sweep(
    cfg: RunConfig,
    benchmark: Benchmark,
    method_name: str,
    grid: dict[str, list],
    *,
    select_split: str = "validation",
    report_split: str = "test",
    samples: int | None = None,
    seed: int = 0,
) -> dict:
    if benchmark.protocol != "lume":
        raise ValueError(
            f"obliviate sweep selects by LUME's final score; the {benchmark.protocol} protocol has no single "
            "score to select by"
        )
    for split in (select_split, report_split):
        require_prompts(benchmark, split)  # a missing split or one without prompts fails before training
    if select_split == report_split:
        raise ValueError("the select and report splits must differ (never select on reported numbers)")
    start = time.perf_counter()
    base_overrides = cfg.methods.get(method_name, {})
    points = grid_points(grid, samples, seed)
    for point in points:
        method_config(method_name, {**base_overrides, **point})  # a bad value fails before training
    inputs = {
        "method": method_name,
        "grid": grid,
        "select_split": select_split,
        "samples": samples,
        "seed": seed,
    }
    run = start_run(cfg, "sweep", benchmark, inputs, split=report_split)
    ev = prepare_evaluation(cfg, benchmark)

    trials = []
    for i, point in enumerate(points):
        method = method_config(method_name, {**base_overrides, **point})
        (result,) = evaluate_rows(
            ev, [method_row(ev, method, select_split, f"trial{i}")], select_split, run.dir
        )
        scores = {k: result.get(k) for k in SCORES}
        trials.append(
            {
                "params": point,
                "scores": scores,
                "train_seconds": result["cost"]["train_seconds"],
                "model": result["subject"],
            }
        )
        print(
            f"trial {i + 1}/{len(points)} {point}: final {scores['final']:.3f} on {select_split}", flush=True
        )
    best = max(range(len(trials)), key=lambda i: (trials[i]["scores"]["final"], -i))
    chosen = trials[best]["params"]

    method = method_config(method_name, {**base_overrides, **chosen})
    (result,) = evaluate_rows(ev, [method_row(ev, method, report_split)], report_split, run.dir)
    report = {k: result.get(k) for k in SCORES}
    summary = {
        "method": method_name,
        "grid": grid,
        "select_split": select_split,
        "report_split": report_split,
        "trials": trials,
        "chosen": chosen,
        "chosen_config": method.model_dump(),
        "report": {"scores": report, "model": result["subject"]},
        "config": cfg.model_dump(mode="json"),
        "wall_seconds": round(time.perf_counter() - start, 2),
    }
    write_json_atomic(run.dir / "sweep.json", summary)
    finish_run(
        run,
        {
            "rows": [f"trial{i}" for i in range(len(trials))] + [method_name],
            "best_row": f"trial{best}",
            "chosen": chosen,
            "wall_seconds": summary["wall_seconds"],
        },
    )
    summary["dir"] = str(run.dir)
    return summary
