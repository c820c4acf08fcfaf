"""`obliviate sweep`: choose a method's hyperparameters on one split, report them on another.

    trials = every point of the grid (or `samples` points drawn from it, seeded)
    for each trial: unlearn the SELECT split's forget set, evaluate on the SELECT split
    chosen = the trial with the highest final score (ties: the first)
    report: unlearn the REPORT split's forget set with the chosen setting, evaluate on REPORT

The target memorized every split, so each split is its own unlearning problem; the numbers you
report never took part in the choice. Results go to `<out_dir>/sweep/<method>.json` (every trial's
scores, the choice, the report); the report run lives where `obliviate bench --set split=<report>`
finds it, so a bench with `--set methods.<m>.<field>=<chosen>` reuses it.
"""

from __future__ import annotations

import itertools
import json
import random
import time

from obliviate.atomic import write_json_atomic
from obliviate.config import RunConfig, parse_override
from obliviate.data.records import Benchmark
from obliviate.eval.cache import PassCache
from obliviate.eval.evaluate import evaluate_model
from obliviate.leaderboard import make_baseline, reference_points
from obliviate.methods import method_config
from obliviate.unlearn import unlearn

SCORES = ("final", "task_aggregate", "regurgitation/forget", "knowledge/forget", "mia_score", "utility")


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


def _evaluate(cfg, benchmark, split, model_dir, baseline, cache, name) -> dict:
    result = evaluate_model(model_dir, benchmark, split, cfg.eval, cache=cache, baseline=baseline, name=name)
    return {k: result.get(k) for k in SCORES}


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
    for split in (select_split, report_split):
        benchmark.split(split)  # a missing split fails here, before any training
    if select_split == report_split:
        raise ValueError("the select and report splits must differ (never select on reported numbers)")
    start = time.perf_counter()
    base_overrides = cfg.methods.get(method_name, {})
    points = grid_points(grid, samples, seed)
    for point in points:
        method_config(method_name, {**base_overrides, **point})  # a bad value fails before training
    cache = PassCache(cfg.cache_dir / "passes")
    reference = reference_points(cfg, benchmark)
    baseline = make_baseline(cfg, reference, cache)
    target_dir = reference["target"].parent

    select_cfg = cfg.model_copy(update={"split": select_split})
    trials = []
    for i, point in enumerate(points):
        method = method_config(method_name, {**base_overrides, **point})
        run = unlearn(select_cfg, method, target_dir, benchmark)
        scores = _evaluate(select_cfg, benchmark, select_split, run / "model", baseline, cache, f"trial{i}")
        seconds = json.loads((run / "unlearn.json").read_text())["seconds"]
        trials.append(
            {"params": point, "scores": scores, "train_seconds": seconds, "model": str(run / "model")}
        )
        print(
            f"trial {i + 1}/{len(points)} {point}: final {scores['final']:.3f} on {select_split}", flush=True
        )
    best = max(range(len(trials)), key=lambda i: (trials[i]["scores"]["final"], -i))
    chosen = trials[best]["params"]

    report_cfg = cfg.model_copy(update={"split": report_split})
    method = method_config(method_name, {**base_overrides, **chosen})
    run = unlearn(report_cfg, method, target_dir, benchmark)
    report = _evaluate(report_cfg, benchmark, report_split, run / "model", baseline, cache, method_name)
    summary = {
        "method": method_name,
        "grid": grid,
        "select_split": select_split,
        "report_split": report_split,
        "trials": trials,
        "chosen": chosen,
        "chosen_config": method.model_dump(),
        "report": {"scores": report, "model": str(run / "model")},
        "config": cfg.model_dump(mode="json"),
        "wall_seconds": round(time.perf_counter() - start, 2),
    }
    write_json_atomic(cfg.out_dir / "sweep" / f"{method_name}.json", summary)
    return summary
