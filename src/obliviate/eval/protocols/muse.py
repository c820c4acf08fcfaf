"""The MUSE protocol (muse-bench's metrics) on one subject.

Passes asked of the subject (cached): greedy continuations of the VerbMem prompts
(`eval.muse.verbmem_tokens`), greedy answers of the KnowMem questions after their in-context
examples (`eval.muse.knowmem_tokens`), and per-token log-probs of privleak's forget and holdout
documents. The metrics are `eval/metrics/muse.py`'s and `mia.privleak`'s; PrivLeak's reference is
the retrain oracle's AUC under the same pass (`baseline.oracle`; None without one). The VerbMem
reference is cut to its first `verbmem_tokens` tokens with the run's tokenizer (`baseline.tokenizer`).

Result keys: `verbmem/forget`, `knowmem/forget`, `knowmem/retain` (utility preservation),
`privleak`, `privleak/auc`; per-item `items` and the oracle's privleak scores (`oracle`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from obliviate.data.records import Split
from obliviate.eval import uncertainty
from obliviate.eval.config import BootstrapConfig, EvalConfig
from obliviate.eval.metrics import mia, muse
from obliviate.eval.metrics.table import HEADLINES, PROTOCOL_COLUMNS
from obliviate.eval.passes import decode
from obliviate.subjects import Subject

NAME = "muse"
COLUMNS = PROTOCOL_COLUMNS[NAME]
HEADLINE = HEADLINES[NAME]  # None: four criteria, rows keep their order
SCORED = {"verbmem": "verbmem/forget", "knowmem_forget": "knowmem/forget", "knowmem_retain": "knowmem/retain"}


def truncate_tokens(tokenizer, text: str, max_tokens: int) -> str:
    """`text` cut to its first `max_tokens` tokens (no special tokens), decoded back as the
    generations are (`passes.decode`), so that spacing never costs ROUGE."""
    ids = tokenizer(text, add_special_tokens=False).input_ids[:max_tokens]
    return decode(tokenizer, ids)


def verbmem_items(subject: Subject, split: Split, cfg: EvalConfig, tokenizer) -> list[dict]:
    items = split.eval_sets["verbmem"]
    n = cfg.muse.verbmem_tokens
    generations = subject.generate([it.question for it in items], n, cfg.batch_size)
    out = []
    for it, generation in zip(items, generations, strict=True):
        reference = truncate_tokens(tokenizer, it.answer, n)
        out.append(
            {
                "id": it.id,
                "prompt": it.question,
                "reference": reference,
                "generation": generation,
                "score": muse.rouge_f1(reference, generation) * 100,
            }
        )
    return out


def knowmem_items(subject: Subject, split: Split, cfg: EvalConfig) -> dict[str, list[dict]]:
    """Forget and retain questions after their own in-context examples, in one call."""
    asked = []
    for side in ("forget", "retain"):
        examples = [(e.question, e.answer) for e in split.eval_sets[f"knowmem_{side}_icl"]]
        asked += [
            (side, it, muse.knowmem_prompt(examples, it.question))
            for it in split.eval_sets[f"knowmem_{side}"]
        ]
    generations = subject.generate([p for _, _, p in asked], cfg.muse.knowmem_tokens, cfg.batch_size)
    out: dict[str, list[dict]] = {"knowmem_forget": [], "knowmem_retain": []}
    for (side, it, _), generation in zip(asked, generations, strict=True):
        answer = muse.knowmem_answer(generation)
        out[f"knowmem_{side}"].append(
            {
                "id": it.id,
                "question": it.question,
                "reference": it.answer,
                "generation": generation,
                "answer": answer,
                "score": muse.rouge_f1(it.answer, answer) * 100,
            }
        )
    return out


def privleak_scores(subject: Subject, split: Split, cfg: EvalConfig) -> dict[str, list[float]]:
    """Min-K% mean log p of each privleak forget (member) and holdout (non-member) document."""
    out = {}
    for side, docs in (("forget", split.member), ("holdout", split.nonmember)):
        stats = subject.token_stats([d.text for d in docs], cfg.mia_batch_size)
        out[side] = [mia.min_k_score(s.logps, cfg.muse.min_k) for s in stats]
    out["forget_ids"] = [d.id for d in split.member]
    out["holdout_ids"] = [d.id for d in split.nonmember]
    return out


def run(subject: Subject, split: Split, cfg: EvalConfig, baseline) -> tuple[dict, dict]:
    """The MUSE metrics of `subject` on `split`, and the seconds each part took."""
    if baseline.tokenizer is None:
        raise ValueError("the MUSE protocol cuts VerbMem references with the run's tokenizer: none was given")
    timings = {}
    t = time.perf_counter()
    items = {
        "verbmem": verbmem_items(subject, split, cfg, baseline.tokenizer),
        **knowmem_items(subject, split, cfg),
    }
    timings["generation_s"] = time.perf_counter() - t
    t = time.perf_counter()
    items["privleak"] = privleak_scores(subject, split, cfg)
    oracle = privleak_scores(baseline.oracle, split, cfg) if baseline.oracle is not None else None
    timings["privleak_s"] = time.perf_counter() - t
    result: dict = {key: float(np.mean([r["score"] for r in items[s]])) for s, key in SCORED.items()}
    result["privleak/auc"] = mia.privleak_auc(items["privleak"]["forget"], items["privleak"]["holdout"])
    result["privleak"] = None
    if oracle is not None:
        result["privleak/oracle_auc"] = mia.privleak_auc(oracle["forget"], oracle["holdout"])
        result["privleak"] = mia.privleak(result["privleak/auc"], result["privleak/oracle_auc"])
    result["items"] = items
    result["oracle"] = oracle
    uncertainty.add_intervals(result, draws, cfg.bootstrap)
    return result, timings


def draws(result: Mapping, cfg: BootstrapConfig) -> dict[str, np.ndarray]:
    """Each number recomputed on resampled items (the oracle's privleak scores with the same counts)."""
    items = result["items"]
    out: dict[str, np.ndarray] = {}
    for set_name, key in SCORED.items():
        rows = items[set_name]
        counts = uncertainty.resample_counts(f"muse/{set_name}", [r["id"] for r in rows], cfg)
        out[key] = counts @ np.array([r["score"] for r in rows]) / len(rows)
    leak = items["privleak"]
    forget_counts = uncertainty.resample_counts("muse/privleak/forget", leak["forget_ids"], cfg)
    holdout_counts = uncertainty.resample_counts("muse/privleak/holdout", leak["holdout_ids"], cfg)

    def auc(scores: Mapping) -> np.ndarray:
        return 1.0 - uncertainty.auc_draws(scores["forget"], scores["holdout"], forget_counts, holdout_counts)

    out["privleak/auc"] = auc(leak)
    if result.get("oracle") is not None:
        out["privleak"] = mia.privleak(out["privleak/auc"], auc(result["oracle"]))
    return out
