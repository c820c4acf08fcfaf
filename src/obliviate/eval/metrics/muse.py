"""MUSE's metrics as muse-bench computes them (`eval.py`, `metrics/*.py`; see
`../shared/reference/BENCHMARKS_ATTACKS_INFERENCE.md` §2). Where open-unlearning differs (it
stems before ROUGE and takes privleak's reference as 0.5 without retain logs), these follow
muse-bench.

- VerbMem: ROUGE-L F1, no stemming, of the greedy continuation of a forget prompt against the true
  continuation cut to its first 128 tokens, × 100;
- KnowMem: ROUGE-L F1, no stemming, of the greedy answer (cut at the first blank line or the next
  question) after in-context examples `Question: q\\nAnswer: a\\n\\n`, × 100;
- PrivLeak: `mia.privleak` of the Min-40% score (`mia.privleak_auc`), against our retrain oracle's
  AUC rather than a published constant.

Test: tests/eval/test_tofu_muse_metrics.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

MIN_K = 0.4  # Min-40%
KNOWMEM_STOPS = ("\n\n", "\nQuestion", "Question:")


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_f1(reference: str, generation: str) -> float:
    """ROUGE-L F1 without stemming, reference first (muse-bench's `rouge`)."""
    return _scorer().score(reference, generation)["rougeL"].fmeasure


def knowmem_prompt(examples: Sequence[tuple[str, str]], question: str) -> str:
    """The in-context examples, each `Question: q\\nAnswer: a\\n\\n`, then the question."""
    context = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in examples)
    return f"{context}Question: {question}\nAnswer: "


def knowmem_answer(generation: str) -> str:
    """The generation cut at the first blank line or the start of a next question."""
    cut = len(generation)
    for stop in KNOWMEM_STOPS:
        at = generation.find(stop)
        if at != -1:
            cut = min(cut, at)
    return generation[:cut]
