"""Evaluate one subject on one split with a protocol; every result carries what produced it.

    baseline = make_baseline(base, target, reference, cfg)      # what utility and the calibrated MIA need
    result = evaluate(subject, benchmark, "test", cfg, baseline, name="gd")

The protocol (`eval/protocols/`, LUME by default) asks the subject for passes and computes the
metrics; this module adds the names, fingerprints, settings, device and numerics, timings and
library versions. Subjects wrapped in `CachedSubject` reuse every pass computed before.

The `baseline` carries what utility is measured against: the QA items the BASE model answers
and the TARGET's perplexity on the reference text. `result["utility/kind"]` always says which
utility entered the final score (offline QA fraction, or MMLU accuracy); they are never mixed.
"""

from __future__ import annotations

import importlib.metadata
import platform
import time
from dataclasses import dataclass

from obliviate.data.records import Benchmark
from obliviate.eval.config import EvalConfig
from obliviate.eval.metrics import utility
from obliviate.eval.protocols import PROTOCOLS
from obliviate.subjects import Subject

EVAL_VERSION = (
    2  # 2: subjects and protocols; `mia`, `mia/<attack>/auc|score` (were mia_score, mia_<attack>/...)
)


@dataclass
class Baseline:
    """What utility, the calibrated attack and the oracle comparisons are measured against."""

    known_qa_ids: list[str] | None  # QA items the base model answers (offline utility)
    target_ppl: float | None  # the target's perplexity on the reference text
    reference: Subject | None  # subject of the reference-calibrated MIA attack (base or oracle)
    oracle: Subject | None = None  # the retrain oracle (TOFU's forget quality, PrivLeak)
    tokenizer: object | None = None  # the run's tokenizer (MUSE cuts VerbMem references with it)

    def release(self) -> None:
        """Free the weights of the reference and oracle subjects (their passes stay cached)."""
        for subject in (self.reference, self.oracle):
            if subject is not None:
                subject.release()


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("obliviate", "torch", "transformers", "rouge-score", "scikit-learn"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def known_qa_ids(base: Subject, cfg: EvalConfig) -> list[str]:
    """The QA items the base model answers (its generations are cached like every pass)."""
    ucfg = cfg.utility
    items = utility.load_general_qa(ucfg.qa_max_items)
    return utility.select_known_items(base, items, ucfg.qa_max_new_tokens, ucfg.qa_batch_size)


def target_perplexity(target: Subject, cfg: EvalConfig) -> float:
    ucfg = cfg.utility
    text = utility.reference_text(ucfg.text_chars)
    return target.perplexity(text, ucfg.ppl_window, ucfg.ppl_stride, ucfg.ppl_batch_size)


def make_baseline(
    base: Subject,
    target: Subject,
    reference: Subject | None,
    cfg: EvalConfig,
    *,
    oracle: Subject | None = None,
    protocol: str = "lume",
    tokenizer: object | None = None,
) -> Baseline:
    """The baseline of a protocol. LUME's utility kind: known QA ids (offline), the target's
    perplexity (not mmlu); TOFU and MUSE measure utility on their own sets and need neither."""
    kind = cfg.utility.kind if protocol == "lume" else None
    return Baseline(
        known_qa_ids=known_qa_ids(base, cfg) if kind == "offline" else None,
        target_ppl=target_perplexity(target, cfg) if kind in ("offline", "ppl") else None,
        reference=reference,
        oracle=oracle,
        tokenizer=tokenizer,
    )


def evaluate(
    subject: Subject,
    benchmark: Benchmark,
    split_name: str,
    cfg: EvalConfig,
    baseline: Baseline,
    *,
    name: str | None = None,
    protocol: str | None = None,
) -> dict:
    """Evaluate `subject` on one split with `protocol` (default: the benchmark's); returns the full
    result (JSON-able)."""
    start = time.perf_counter()
    protocol = protocol or benchmark.protocol
    split = benchmark.split(split_name)
    result: dict = {
        "name": name or subject.name,
        "subject": subject.name,
        "model_fingerprint": subject.fingerprint,
        "benchmark": benchmark.name,
        "benchmark_fingerprint": benchmark.fingerprint(),
        "scoring_fingerprint": benchmark.scoring_fingerprint(),
        "split": split_name,
        "protocol": protocol,
        "settings": cfg.model_dump(mode="json"),
        "device": subject.device.type,
        "dtype": subject.dtype,
        "numerics": subject.numerics,
        "eval_version": EVAL_VERSION,
    }
    metrics, timings = PROTOCOLS[protocol].run(subject, split, cfg, baseline)
    result.update(metrics)
    timings["total_s"] = time.perf_counter() - start
    result["timings"] = {k: round(v, 2) for k, v in timings.items()}
    result["versions"] = versions()
    return result
