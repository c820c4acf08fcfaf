"""The main job: target and oracle, a list of methods, one evaluation table.

    benchmark -> target (+ oracle) -> each method -> unlearned model -> evaluation -> report

Rows `target` and `oracle` are always present; each method row is an unlearned model. Every
model's evaluation is written to `<out_dir>/eval/<row>.json` (per-item generations and scores),
the table to `<out_dir>/bench.json` and `<out_dir>/bench.md`, all atomically. Finished pieces
(targets, unlearned models, evaluations) are reused, so an interrupted bench resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from obliviate.benchmarks.records import Benchmark
from obliviate.eval.quick import evaluate_split
from obliviate.methods import MethodConfig
from obliviate.presets import RunConfig
from obliviate.targets import build_target, load_target
from obliviate.unlearn import unlearn

COLUMNS = ("regurgitation/forget", "knowledge/forget", "regurgitation/retain", "knowledge/retain")


def write_json_atomic(path: Path, payload: object) -> None:
    """Write to a temporary file in the same directory and rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)


def evaluate_model_dir(cfg: RunConfig, benchmark: Benchmark, model_dir: Path, row: str) -> dict:
    """Evaluate a model directory on the run's split, reusing a saved result for the same model."""
    key = hashlib.sha256(
        f"{model_dir.resolve()}|{benchmark.fingerprint()}|{cfg.split}|{cfg.max_new_tokens}".encode()
    ).hexdigest()[:16]
    path = cfg.out_dir / "eval" / f"{row}-{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    model, tokenizer = load_target(model_dir)
    start = time.perf_counter()
    result = evaluate_split(model, tokenizer, benchmark.split(cfg.split), cfg.max_new_tokens)
    result.update(
        row=row,
        model=str(model_dir),
        split=cfg.split,
        benchmark=benchmark.name,
        eval_seconds=round(time.perf_counter() - start, 2),
    )
    write_json_atomic(path, result)
    return result


def run_bench(cfg: RunConfig, benchmark: Benchmark, methods: list[MethodConfig]) -> list[dict]:
    """Build target and oracle, run each method, evaluate every model; return the table rows."""
    rows = []
    start = time.perf_counter()
    target = build_target(cfg, benchmark, "target")
    target_meta = json.loads((target / "target.json").read_text())
    oracle = build_target(cfg, benchmark, "oracle")
    oracle_meta = json.loads((oracle / "target.json").read_text())
    for row, path, meta in (("target", target, target_meta), ("oracle", oracle, oracle_meta)):
        scores = evaluate_model_dir(cfg, benchmark, path, row)
        rows.append(
            {
                "row": row,
                **{c: scores[c] for c in COLUMNS},
                "train_seconds": meta["train_seconds"],
                "model": str(path / "model"),
            }
        )
    for method in methods:
        run = unlearn(cfg, method, target, benchmark)
        meta = json.loads((run / "unlearn.json").read_text())
        scores = evaluate_model_dir(cfg, benchmark, run, method.name)
        rows.append(
            {
                "row": method.name,
                **{c: scores[c] for c in COLUMNS},
                "train_seconds": meta["seconds"],
                "parameters_changed": meta["parameters_changed"],
                "model": str(run / "model"),
            }
        )
    summary = {
        "config": cfg.model_dump(mode="json"),
        "benchmark": benchmark.name,
        "methods": [m.model_dump() for m in methods],
        "rows": rows,
        "wall_seconds": round(time.perf_counter() - start, 2),
    }
    write_json_atomic(cfg.out_dir / "bench.json", summary)
    md = markdown_table(rows)
    tmp = cfg.out_dir / ".bench.md.tmp"
    tmp.write_text(md + "\n")
    tmp.replace(cfg.out_dir / "bench.md")
    return rows


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    header = ["model", "forget regurg ↓", "forget knowl ↓", "retain regurg ↑", "retain knowl ↑", "train s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["row"], *(_fmt(r[c]) for c in COLUMNS), _fmt(r["train_seconds"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
