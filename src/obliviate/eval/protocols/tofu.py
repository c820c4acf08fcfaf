"""The TOFU protocol (open-unlearning's TOFU metrics) on one subject.

Passes asked of the subject (cached, one call per question set and answer kind, so the oracle's
passes are computed once however often they are read): answer log-probs of every answer,
paraphrased answer and perturbed answer; greedy generations of every question of the forget,
retain, real-author and world-fact sets (`eval.tofu.max_new_tokens`). The metrics are
`eval/metrics/tofu.py`'s; forget quality and privleak compare with the retrain oracle under the
same passes (`baseline.oracle`; None without one).

Result keys: `forget_quality`, `model_utility`, `<set>/prob|rouge|truth_ratio` for the four sets,
`privleak`, the per-question `items` of each set (kept for audit and for the bootstrap) and the
oracle's per-question values the comparisons used (`oracle`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from obliviate.data.records import QAItem, Split
from obliviate.data.tofu import prompt
from obliviate.eval import uncertainty
from obliviate.eval.config import BootstrapConfig, EvalConfig
from obliviate.eval.metrics import mia, tofu
from obliviate.eval.metrics.muse import knowmem_answer
from obliviate.eval.metrics.table import HEADLINES, PROTOCOL_COLUMNS
from obliviate.subjects import Subject

NAME = "tofu"
SCORED_SETS = ("forget", "retain", "real_authors", "world_facts")
UTILITY_SETS = ("retain", "real_authors", "world_facts")
COLUMNS = PROTOCOL_COLUMNS[NAME]
HEADLINE = HEADLINES[NAME]  # None: two axes (forget quality, model utility), rows keep their order


def _logps(
    subject: Subject, items: tuple[QAItem, ...], answers: list[str], cfg: EvalConfig
) -> list[np.ndarray]:
    return subject.answer_logprobs([prompt(it.question) for it in items], answers, cfg.mia_batch_size)


def set_logprobs(subject: Subject, set_name: str, items: tuple[QAItem, ...], cfg: EvalConfig) -> dict:
    """Per-item log-probs of the answer, the paraphrased answer (forget, retain) and each perturbed
    answer: {"answer": [...], "paraphrased": [...], "perturbed": [[...], ...]}."""
    out: dict = {"answer": _logps(subject, items, [it.answer for it in items], cfg)}
    if set_name in ("forget", "retain"):
        out["paraphrased"] = _logps(subject, items, [it.paraphrased_answer for it in items], cfg)
    if set_name in SCORED_SETS:
        # flattened into one call: every perturbed answer of every item
        flat = [(i, w) for i, it in enumerate(items) for w in it.perturbed_answers]
        logps = subject.answer_logprobs(
            [prompt(items[i].question) for i, _ in flat], [w for _, w in flat], cfg.mia_batch_size
        )
        perturbed: list[list[np.ndarray]] = [[] for _ in items]
        for (i, _), lp in zip(flat, logps, strict=True):
            perturbed[i].append(lp)
        out["perturbed"] = perturbed
    return out


def item_values(set_name: str, logps: Mapping, i: int, min_k: float) -> dict:
    """One question's probability, truth ratio and Min-K score. Forget and retain: p of the answer
    and TR against the paraphrased answer; real authors and world facts: the normalised
    probability and TR against the answer itself."""
    answer = logps["answer"][i]
    out = {"min_k": mia.min_k_score(answer, min_k)}
    if "perturbed" not in logps:
        return out
    wrong = logps["perturbed"][i]
    if set_name in ("forget", "retain"):
        out["prob"] = tofu.answer_probability(answer)
        out["truth_ratio"] = tofu.truth_ratio(logps["paraphrased"][i], wrong)
    else:
        out["prob"] = tofu.normalized_probability(answer, wrong)
        out["truth_ratio"] = tofu.truth_ratio(answer, wrong)
    return out


def likelihood_items(
    subject: Subject, split: Split, cfg: EvalConfig, sets: tuple[str, ...] | None = None
) -> dict[str, list[dict]]:
    """Per set (all, or `sets`), per question: id, probability, truth ratio, Min-K (no generation)."""
    out = {}
    for set_name, items in split.eval_sets.items():
        if sets is not None and set_name not in sets:
            continue
        logps = set_logprobs(subject, set_name, items, cfg)
        out[set_name] = [
            {"id": it.id, **item_values(set_name, logps, i, cfg.tofu.min_k)} for i, it in enumerate(items)
        ]
    return out


def generation_scores(subject: Subject, split: Split, cfg: EvalConfig, items: dict[str, list[dict]]) -> None:
    """Greedy answers of the scored sets, in one call (one batch queue), and the ROUGE-L recall of
    each cut at a blank line or a next question (open-unlearning stops at EOS or its stop words;
    the whole generation is kept for the audit)."""
    asked = [(s, i, it) for s in SCORED_SETS for i, it in enumerate(split.eval_sets.get(s, ()))]
    generations = subject.generate(
        [prompt(it.question) for _, _, it in asked], cfg.tofu.max_new_tokens, cfg.batch_size
    )
    for (set_name, i, it), generation in zip(asked, generations, strict=True):
        items[set_name][i].update(
            question=it.question,
            answer=it.answer,
            generation=generation,
            rouge=tofu.rouge_recall(it.answer, knowmem_answer(generation)),
        )


def aggregates(items: Mapping[str, list[dict]], oracle: Mapping[str, list[dict]] | None) -> dict:
    """Every TOFU number from per-question values (the bootstrap recomputes these on resamples)."""
    out: dict = {}
    for set_name in SCORED_SETS:
        rows = items.get(set_name) or []
        if not rows:
            continue
        ratios = [r["truth_ratio"] for r in rows]
        out[f"{set_name}/prob"] = float(np.mean([r["prob"] for r in rows]))
        out[f"{set_name}/rouge"] = float(np.mean([r["rouge"] for r in rows])) if "rouge" in rows[0] else None
        aggregate = tofu.forget_truth_ratio if set_name == "forget" else tofu.retain_truth_ratio
        out[f"{set_name}/truth_ratio"] = aggregate(ratios)
    utility_keys = [f"{s}/{m}" for s in UTILITY_SETS for m in ("prob", "rouge", "truth_ratio")]
    values = [out.get(k) for k in utility_keys]
    out["model_utility"] = tofu.model_utility(values) if None not in values else None
    out["forget_quality"] = out["privleak"] = None
    if oracle is not None:
        out["forget_quality"] = tofu.forget_quality(
            [r["truth_ratio"] for r in items["forget"]], [r["truth_ratio"] for r in oracle["forget"]]
        )
        if items.get("holdout") and oracle.get("holdout"):
            auc = _privleak_auc(items)
            out["privleak/auc"] = auc
            out["privleak"] = mia.privleak(auc, _privleak_auc(oracle))
    return out


def _privleak_auc(items: Mapping[str, list[dict]]) -> float:
    return mia.privleak_auc([r["min_k"] for r in items["forget"]], [r["min_k"] for r in items["holdout"]])


def run(subject: Subject, split: Split, cfg: EvalConfig, baseline) -> tuple[dict, dict]:
    """The TOFU metrics of `subject` on `split`, and the seconds each part took."""
    timings = {}
    t = time.perf_counter()
    items = likelihood_items(subject, split, cfg)
    oracle = None
    if baseline.oracle is not None:
        oracle = likelihood_items(baseline.oracle, split, cfg, ("forget", "holdout"))
    timings["likelihood_s"] = time.perf_counter() - t
    t = time.perf_counter()
    generation_scores(subject, split, cfg, items)
    timings["generation_s"] = time.perf_counter() - t
    result = aggregates(items, oracle)
    result["items"] = items
    result["oracle"] = oracle
    uncertainty.add_intervals(result, draws, cfg.bootstrap)
    return result, timings


def draws(result: Mapping, cfg: BootstrapConfig) -> dict[str, np.ndarray]:
    """Every number recomputed on resampled questions (each set resampled on its own; the oracle's
    values with the same counts, so forget quality and privleak are paired)."""
    items, oracle = result["items"], result.get("oracle")
    counts = {
        s: uncertainty.resample_counts(f"tofu/{s}", [r["id"] for r in rows], cfg) for s, rows in items.items()
    }

    def resampled_mean(set_name: str, values) -> np.ndarray:
        return counts[set_name] @ np.asarray(values, dtype=np.float64) / len(values)

    out: dict[str, np.ndarray] = {}
    for set_name in SCORED_SETS:
        rows = items.get(set_name) or []
        if not rows:
            continue
        ratios = np.array([r["truth_ratio"] for r in rows])
        out[f"{set_name}/prob"] = resampled_mean(set_name, [r["prob"] for r in rows])
        if "rouge" in rows[0]:
            out[f"{set_name}/rouge"] = resampled_mean(set_name, [r["rouge"] for r in rows])
        terms = np.minimum(ratios, 1 / ratios) if set_name == "forget" else np.maximum(0.0, 1 - ratios)
        out[f"{set_name}/truth_ratio"] = resampled_mean(set_name, terms)
    utility_keys = [f"{s}/{m}" for s in UTILITY_SETS for m in ("prob", "rouge", "truth_ratio")]
    if all(k in out for k in utility_keys):
        out["model_utility"] = uncertainty.harmonic_mean_rows(
            np.stack([out[k] for k in utility_keys], axis=1)
        )
    if oracle is not None:
        mine = np.array([r["truth_ratio"] for r in items["forget"]])
        theirs = np.array([r["truth_ratio"] for r in oracle["forget"]])
        out["forget_quality"] = np.array(
            [tofu.forget_quality(np.repeat(mine, c), np.repeat(theirs, c)) for c in counts["forget"]]
        )
        if items.get("holdout") and oracle.get("holdout"):

            def auc(side: Mapping) -> np.ndarray:
                forget = [r["min_k"] for r in side["forget"]]
                holdout = [r["min_k"] for r in side["holdout"]]
                return 1.0 - uncertainty.auc_draws(forget, holdout, counts["forget"], counts["holdout"])

            out["privleak/auc"] = auc(items)
            out["privleak"] = mia.privleak(out["privleak/auc"], auc(oracle))
    return out
