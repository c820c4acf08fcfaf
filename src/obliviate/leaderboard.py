"""The main job: reference points (base, target, oracle), a list of methods, one evaluation table.

    benchmark -> target (+ oracle) -> each method -> unlearned model -> evaluation -> report

Rows `target` and `oracle` are always present (and `base` on request). Each method row is an
unlearned model, with the method's hyperparameters from the run config's `methods` table (tuned by
`obliviate sweep`) under any command-line overrides. On a LoRA target the row `erase` is
LLMEraser's influence-function removal of the forget set (`obliviate.erase`; the run's `erase`
section). The leaderboard is sorted by final score.
Every model's evaluation is written to `<out_dir>/eval/<row>.json` (per-item generations and
scores, plus the unlearning run's cost), the leaderboard to `<out_dir>/bench.json` and
`<out_dir>/bench.md`, all atomically. Finished pieces (targets, unlearned models, model passes)
are reused, so a bench interrupted at method 5 resumes at method 5.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from obliviate.atomic import write_json_atomic, write_text_atomic
from obliviate.config import RunConfig
from obliviate.data.records import Benchmark
from obliviate.eval.cache import PassCache
from obliviate.eval.evaluate import Baseline, evaluate_model, known_qa_ids, target_perplexity
from obliviate.methods import REFERENCE_ROWS, MethodConfig, method_config
from obliviate.models import resolve_base
from obliviate.targets import build_target
from obliviate.unlearn import unlearn

# result key -> table header; forget scores are better low (the task aggregate inverts them)
COLUMNS = {
    "final": "final",
    "task_aggregate": "task agg",
    "regurgitation/forget": "forget regurg ↓",
    "knowledge/forget": "forget knowl ↓",
    "regurgitation/retain": "retain regurg",
    "knowledge/retain": "retain knowl",
    "mia_score": "MIA",
    "utility": "utility",
}
# cost columns: key -> header
COST_COLUMNS = {"train_seconds": "wall s", "peak_rss_mb": "peak MB", "parameters_changed": "params changed"}


def reference_points(cfg: RunConfig, benchmark: Benchmark) -> dict[str, Path]:
    """Model directories of the base model, the target and the retrain oracle (built when missing)."""
    base, _ = resolve_base(cfg.model, cfg.cache_dir, benchmark.texts())
    target = build_target(cfg, benchmark, "target")
    oracle = build_target(cfg, benchmark, "oracle")
    return {"base": Path(base), "target": target / "model", "oracle": oracle / "model"}


ERASE_ROW = "erase"


def bench_methods(cfg: RunConfig, names: list[str], overrides: dict | None = None) -> list[MethodConfig]:
    """Configs of the named methods: the run's `methods` table, then `overrides` (every method)."""
    if ERASE_ROW in names and cfg.target_params.mode != "lora":
        raise ValueError("the erase row edits a LoRA adapter: add --set target_params.mode=lora")
    names = [n for n in names if n not in (*REFERENCE_ROWS, ERASE_ROW)]  # target, oracle: always rows
    return [method_config(n, {**cfg.methods.get(n, {}), **(overrides or {})}) for n in names]


def make_baseline(cfg: RunConfig, points: dict[str, Path], cache: PassCache) -> Baseline:
    kind = cfg.eval.utility.kind
    return Baseline(
        known_qa_ids=known_qa_ids(points["base"], cfg.eval, cache) if kind == "offline" else None,
        target_ppl=target_perplexity(points["target"], cfg.eval, cache) if kind != "mmlu" else None,
        reference_dir=points.get(cfg.mia_reference) if cfg.mia_reference != "none" else None,
    )


def evaluate_row(
    cfg: RunConfig,
    benchmark: Benchmark,
    row: str,
    model_dir: Path,
    baseline: Baseline,
    cache: PassCache,
    cost: dict | None = None,
) -> dict:
    """Evaluate one model and save its full result (and its training cost) as `<out_dir>/eval/<row>.json`."""
    result = evaluate_model(
        model_dir, benchmark, cfg.split, cfg.eval, cache=cache, baseline=baseline, name=row
    )
    result["config"] = cfg.model_dump(mode="json")
    result["cost"] = cost
    write_json_atomic(cfg.out_dir / "eval" / f"{row}.json", result)
    return result


def summary_row(row: str, result: dict, **extra: object) -> dict:
    return {
        "row": row,
        **{c: result.get(c) for c in COLUMNS},
        "utility_kind": result.get("utility/kind"),
        "eval_seconds": result["timings"]["total_s"],
        **extra,
    }


def run_cost(meta: dict) -> dict:
    """The cost columns of a target / oracle (`target.json`) or unlearning run (`unlearn.json`)."""
    return {
        "train_seconds": meta.get("seconds", meta.get("train_seconds")),
        "peak_rss_mb": meta.get("peak_rss_mb"),
        "parameters_changed": meta.get("parameters_changed"),
    }


def run_bench(
    cfg: RunConfig,
    benchmark: Benchmark,
    methods: list[MethodConfig],
    include_base: bool = False,
    include_erase: bool = False,
) -> list[dict]:
    """Reference points, each method (and `erase`), every model evaluated; returns the leaderboard
    rows, best first."""
    start = time.perf_counter()
    cache = PassCache(cfg.cache_dir / "passes")
    points = reference_points(cfg, benchmark)
    baseline = make_baseline(cfg, points, cache)
    rows = []
    for row, path in points.items():
        if row == "base" and not include_base:
            continue
        meta_file = path.parent / "target.json"
        cost = run_cost(json.loads(meta_file.read_text())) if meta_file.is_file() else {}
        result = evaluate_row(cfg, benchmark, row, path, baseline, cache, cost=cost)
        rows.append(summary_row(row, result, model=str(path), **cost))
    for method in methods:
        run = unlearn(cfg, method, points["target"].parent, benchmark)
        cost = run_cost(json.loads((run / "unlearn.json").read_text()))
        result = evaluate_row(cfg, benchmark, method.name, run / "model", baseline, cache, cost=cost)
        rows.append(summary_row(method.name, result, model=str(run / "model"), **cost))
    if include_erase:
        from obliviate.erase.run import erase_forget_set  # the erase stack loads only when asked

        run = erase_forget_set(cfg, points["target"].parent, benchmark)
        cost = run_cost(json.loads((run / "erase.json").read_text()))
        result = evaluate_row(cfg, benchmark, ERASE_ROW, run / "model", baseline, cache, cost=cost)
        rows.append(summary_row(ERASE_ROW, result, model=str(run / "model"), **cost))
    rows.sort(key=lambda r: -(r["final"] if r["final"] is not None else float("-inf")))
    summary = {
        "config": cfg.model_dump(mode="json"),
        "benchmark": benchmark.name,
        "split": cfg.split,
        "methods": [m.model_dump() for m in methods],
        "erase": cfg.erase.model_dump() if include_erase else None,
        "rows": rows,
        "wall_seconds": round(time.perf_counter() - start, 2),
    }
    write_json_atomic(cfg.out_dir / "bench.json", summary)
    write_text_atomic(cfg.out_dir / "bench.md", markdown_table(rows) + "\n")
    return rows


def fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def fmt_cost(key: str, value: object) -> str:
    if value is None:
        return "-"
    if key == "parameters_changed":
        return f"{value / 1e6:.2f}M" if value >= 1e5 else str(value)
    return f"{value:.0f}"


def markdown_table(rows: list[dict]) -> str:
    header = ["model", *COLUMNS.values(), *COST_COLUMNS.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["row"], *(fmt(r[c]) for c in COLUMNS), *(fmt_cost(c, r.get(c)) for c in COST_COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
