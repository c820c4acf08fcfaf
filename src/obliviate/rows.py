"""Leaderboard rows: a name, how to produce the row's subject, and what producing it cost.

    ev = prepare_evaluation(cfg, benchmark)                 # pass cache, base/target/oracle, baseline
    rows = [*reference_rows(ev), method_row(ev, method_config("gd"), "test"), erase_row(ev, "test")]
    results = evaluate_rows(ev, rows, "test", run_dir)       # run_dir/eval/<row>.json, one per row

`bench`, `sweep`, `eval` and `erase --evaluate` all go through `evaluate_rows`: a row is produced
(a target built, a method run, an adapter edited: each reused when it exists), its subject
evaluated with the run's protocol, and its full result written atomically. A new kind of row (an
attacked model, an inference-time wrapper: `inference_row`) is one more function returning a `Row`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from obliviate.atomic import write_json_atomic
from obliviate.config import RunConfig
from obliviate.data.records import Benchmark
from obliviate.eval.cache import PassCache
from obliviate.eval.evaluate import Baseline, evaluate, make_baseline
from obliviate.subjects import CachedSubject, Subject, load_subject

REFERENCE_ROWS = ("base", "target", "oracle")
ERASE_ROW = "erase"


@dataclass
class Row:
    name: str
    produce: Callable[[], tuple[Subject, dict]]  # -> (subject, cost columns); trains what is missing
    kind: str = "model"  # reference | method | inference | erase | model


@dataclass
class Evaluation:
    """What every row of one run is evaluated against: the pass cache, the reference points' model
    directories (base, target, oracle) and the baseline of utility and the calibrated attack."""

    cfg: RunConfig
    benchmark: Benchmark
    cache: PassCache
    points: dict[str, Path]
    baseline: Baseline

    def subject(self, model_dir: Path | str) -> CachedSubject:
        return cached_subject(self.cfg, self.cache, model_dir)


def cached_subject(cfg: RunConfig, cache: PassCache, model_dir: Path | str) -> CachedSubject:
    """A model directory as a cached subject in the run's dtype, on the run's device."""
    return CachedSubject(load_subject(model_dir, cfg.eval, cfg.model.trust_remote_code), cache)


def reference_points(cfg: RunConfig, benchmark: Benchmark) -> dict[str, Path]:
    """Model directories of the base model, the target and the retrain oracle (built when missing)."""
    from obliviate.models import resolve_base
    from obliviate.targets import build_target

    base, _ = resolve_base(cfg.model, cfg.cache_dir, benchmark.texts())
    target = build_target(cfg, benchmark, "target")
    oracle = build_target(cfg, benchmark, "oracle")
    return {"base": Path(base), "target": target / "model", "oracle": oracle / "model"}


def prepare_evaluation(
    cfg: RunConfig, benchmark: Benchmark, points: dict[str, Path] | None = None
) -> Evaluation:
    """Build (or reuse) target and oracle, and compute the baseline every row shares. `points`
    replaces the built reference points (`obliviate forget`: the user's model is base and target,
    and no oracle exists)."""
    cache = PassCache(cfg.cache_dir / "passes")
    points = points if points is not None else reference_points(cfg, benchmark)
    subject = {name: cached_subject(cfg, cache, path) for name, path in points.items()}
    reference = subject[cfg.mia_reference] if cfg.mia_reference != "none" else None
    tokenizer = None
    if benchmark.protocol == "muse":
        from obliviate.models import load_tokenizer

        tokenizer = load_tokenizer(points["target"], cfg.model.trust_remote_code)
    baseline = make_baseline(
        subject["base"],
        subject["target"],
        reference,
        cfg.eval,
        oracle=subject.get("oracle") if benchmark.protocol != "lume" else None,
        protocol=benchmark.protocol,
        tokenizer=tokenizer,
    )
    for each in subject.values():  # their passes are cached; rows load their models again
        each.release()
    return Evaluation(cfg, benchmark, cache, points, baseline)


def run_cost(meta_file: Path) -> dict:
    """The cost columns of a target / oracle (`target.json`), unlearning (`unlearn.json`) or erase
    (`erase.json`) run; none for a run without its metadata file. An unlearning run's per-step
    losses come along as `curve` (the report's loss curves), which `evaluate_row` moves out."""
    if not meta_file.is_file():
        return {}
    meta = json.loads(meta_file.read_text())
    cost = {
        "train_seconds": meta.get("seconds", meta.get("train_seconds")),
        "peak_rss_mb": meta.get("peak_rss_mb"),
        "parameters_changed": meta.get("parameters_changed"),
    }
    if meta.get("losses"):
        cost["curve"] = {"losses": meta["losses"], "step_logs": meta.get("step_logs", [])}
    return cost


def reference_rows(
    ev: Evaluation,
    names: tuple[str, ...] = ("target", "oracle"),
    points: Callable[[], dict[str, Path]] | None = None,
    suffix: str = "",
) -> list[Row]:
    """The reference points as rows; their cost is the fine-tuning of the target and oracle.
    `points` gives other reference points (another seed's, built on first call; rows `<name><suffix>`)."""

    def produce(name: str):
        path = (points() if points is not None else ev.points)[name]
        return ev.subject(path), run_cost(path.parent / "target.json")

    return [Row(name + suffix, lambda n=name: produce(n), "reference") for name in names]


def model_row(ev: Evaluation, name: str, model_dir: Path) -> Row:
    """Any saved model directory as a row (no cost)."""
    if not (Path(model_dir) / "config.json").is_file():
        raise ValueError(f"{model_dir}: not a model directory (no config.json)")
    return Row(name, lambda: (ev.subject(model_dir), {}), "model")


def method_row(
    ev: Evaluation,
    method,
    split: str,
    name: str | None = None,
    seed: int | None = None,
    target: Callable[[], Path] | None = None,
) -> Row:
    """An unlearning method run on the split's forget set (reused when it exists); `seed` replaces
    the run's `unlearn_train.seed` (the example order and retain pairing); `target` gives the model
    directory of another target to start from (built on first call; default: the run's)."""
    from obliviate.unlearn import unlearn

    def produce():
        train = (
            ev.cfg.unlearn_train if seed is None else ev.cfg.unlearn_train.model_copy(update={"seed": seed})
        )
        cfg = ev.cfg.model_copy(update={"split": split, "unlearn_train": train})
        start = target() if target is not None else ev.points["target"]
        run = unlearn(cfg, method, start.parent, ev.benchmark)
        return ev.subject(run / "model"), run_cost(run / "unlearn.json")

    return Row(name or method.name, produce, "method")


def request_rows(ev: Evaluation, method, split: str, count: int, nested: bool) -> list[Row]:
    """A method on growing (`nested`: rows `<method>-scale<i>`, each run from the target on the first
    i/count of the forget set) or sequential requests (rows `<method>-step<i>`: chunk i unlearned
    from the model that unlearned chunks 1..i-1). Every row is evaluated on the whole split."""
    from obliviate.data.records import forget_requests
    from obliviate.unlearn import unlearn

    requests = forget_requests(ev.benchmark, split, count, nested)
    cfg = ev.cfg.model_copy(update={"split": split})

    def produce(i: int):
        start = ev.points["target"].parent
        for request in [requests[i]] if nested else requests[: i + 1]:  # each run cached
            start = unlearn(cfg, method, start, request)
        return ev.subject(start / "model"), run_cost(start / "unlearn.json")

    label = "scale" if nested else "step"
    return [Row(f"{method.name}-{label}{i + 1}", lambda i=i: produce(i), "method") for i in range(count)]


ERASE_NEEDS_LORA = (
    "erase edits a LoRA adapter: use a LoRA preset (smoke-lora, default-lora) "
    "or --set target_params.mode=lora"
)


def erase_row(ev: Evaluation, split: str, kind: str = "removal", edits: list | None = None) -> Row:
    """LLMEraser's edit of a LoRA target's adapter: `edits` of a request `kind`, by default the
    removal of the split's forget set."""
    if ev.cfg.target_params.mode != "lora":
        raise ValueError(ERASE_NEEDS_LORA)

    def produce():
        from obliviate.erase.run import erase, forget_set_edits  # the erase stack loads only when asked

        cfg = ev.cfg.model_copy(update={"split": split})
        requested = edits if edits is not None else forget_set_edits(cfg, ev.benchmark)
        run = erase(cfg, ev.points["target"].parent, ev.benchmark, kind, requested, cfg.erase)
        return ev.subject(run / "model"), run_cost(run / "erase.json")

    return Row(ERASE_ROW, produce, "erase")


def inference_row(ev: Evaluation, method, split: str) -> Row:
    """An inference-time method (`obliviate.inference`) wrapping the target's cached subject: built
    once (ULD's assistant is trained and cached), and its serving timed against the plain target on
    a few prompts (uncached, `inference.method_overhead`)."""
    from obliviate.inference import InferenceContext, build_inference, method_overhead

    built: dict = {}

    def produce():
        target_dir = ev.points["target"]
        if "subject" not in built:
            ctx = InferenceContext(ev.cfg, ev.benchmark, split, target_dir, ev.subject(target_dir))
            subject, cost = build_inference(ctx, method)
            prompts = overhead_prompts(ev.benchmark.split(split))
            cost["serve_overhead"] = method_overhead(
                ev.cfg, ev.benchmark, split, target_dir, method, prompts, OVERHEAD_TOKENS
            )
            built.update(subject=subject, cost=cost)
        return CachedSubject(built["subject"], ev.cache), dict(built["cost"])

    return Row(method.name, produce, "inference")


# The serving overhead is timed on a few forget and retain prompts (a guardrail treats them apart).
OVERHEAD_PROMPTS, OVERHEAD_TOKENS = 4, 32


def overhead_prompts(split) -> list[str]:
    from obliviate.inference import forget_prompts, retain_prompts

    chosen = forget_prompts(split)[:OVERHEAD_PROMPTS] + retain_prompts(split)[:OVERHEAD_PROMPTS]
    return [p.input for p in chosen]


def evaluate_row(ev: Evaluation, row: Row, split: str) -> dict:
    """Produce the row's subject and evaluate it; the full result with the row's cost."""
    subject, cost = row.produce()
    try:
        result = evaluate(subject, ev.benchmark, split, ev.cfg.eval, ev.baseline, name=row.name)
    finally:
        subject.release()  # the next row loads its own model
        ev.baseline.release()  # its passes are cached after the first row
    result["row_kind"] = row.kind
    result["training_curve"] = cost.pop("curve", None)
    result["cost"] = cost
    result["config"] = ev.cfg.model_dump(mode="json")
    return result


def attack_workers(ev: Evaluation, rows: int) -> int:
    """How many rows are attacked side by side (`attacks.workers`; one where a GPU is present)."""
    import torch

    from obliviate.attacks.run import worker_bytes
    from obliviate.device import pick_device
    from obliviate.workers import worker_count

    # A forked worker cannot use CUDA once its parent has (training did, and precision checks ask
    # the device even when the attacks run on the CPU): with a GPU present, rows go in turn.
    if pick_device(ev.cfg.eval.device).type != "cpu" or torch.cuda.is_available():
        return 1
    return worker_count(ev.cfg.attacks.workers, rows, worker_bytes(ev.points["target"], ev.cfg.attacks))


def attack_rows(
    ev: Evaluation,
    rows: list[Row],
    results: list[dict],
    names: list[str],
    split: str,
    run_dir: Path | None,
    workers: int | None = None,
) -> dict[str, dict]:
    """Every row under every named attack (`attacks/run.py`), after its main evaluation: outcomes
    per row, each written as `<run_dir>/attacks/<row>.json` as it ends. Rows are attacked side by
    side on `workers` one-thread processes (default: `attack_workers`; `workers.py`), longest first
    (`longest_attacks_first`). Attacked models and passes are cached, so a rerun recomputes nothing."""
    from obliviate.attacks.run import AttackContext, run_attacks
    from obliviate.workers import run_jobs

    cfg = ev.cfg
    ctx = AttackContext(ev.benchmark.split(split), cfg.eval, cfg.attacks, ev.cache, cfg.max_length)

    order = longest_attacks_first(results)

    def attack(k: int) -> dict:
        i = order[k]
        subject, _ = rows[i].produce()  # reused: built by the row's main evaluation
        try:
            return run_attacks(ctx, subject, results[i]["items"]["forget"], names)
        finally:
            subject.release()

    outcomes = {}

    def done(k: int, outcome: dict) -> None:
        name = rows[order[k]].name
        outcomes[name] = outcome
        if run_dir is not None:
            write_json_atomic(run_dir / "attacks" / f"{name}.json", outcome)

    run_jobs(attack, len(rows), workers or attack_workers(ev, len(rows)), done)
    return {row.name: outcomes[row.name] for row in rows}


def longest_attacks_first(results: list[dict]) -> list[int]:
    """The rows' indices in the order to attack them: the longest forget generations first, ties in
    row order. Workers take rows in this order, so the last rows to start, which decide when the
    section ends, are short ones. A row's attacks regenerate its forget prompts about ten times
    over, so the length of its own forget generations predicts their cost (default preset,
    2026-12-05: undial's 7.7k characters took 287 s on a worker, idkdpo's 2.0k 188 s; in bench
    order the two workers' simulated finish was 1358 s, in this order 1312 s, against 1304 s for
    a perfect split)."""

    def generated(result: dict) -> int:
        return sum(len(item.get("generation") or "") for item in result["items"]["forget"])

    return sorted(range(len(results)), key=lambda i: -generated(results[i]))


def evaluate_rows(ev: Evaluation, rows: list[Row], split: str, run_dir: Path | None) -> list[dict]:
    """Every row's full result, in order; each written as `<run_dir>/eval/<row>.json` as it ends."""
    names = [row.name for row in rows]
    if len(set(names)) != len(names):
        raise ValueError(f"row names must be unique: {names}")
    results = []
    for row in rows:
        result = evaluate_row(ev, row, split)
        if run_dir is not None:
            write_json_atomic(run_dir / "eval" / f"{row.name}.json", result)
        results.append(result)
    return results


__all__ = [
    "ERASE_ROW",
    "REFERENCE_ROWS",
    "Evaluation",
    "Row",
    "attack_rows",
    "attack_workers",
    "erase_row",
    "evaluate_row",
    "evaluate_rows",
    "inference_row",
    "longest_attacks_first",
    "method_row",
    "model_row",
    "prepare_evaluation",
    "reference_rows",
    "request_rows",
    "run_cost",
]
