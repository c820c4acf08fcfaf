"""A quick LUME-style evaluation of one model on one split: regurgitation and knowledge.

Per prompt: the greedy generation and its score; per split (forget, retain): the mean
regurgitation over `sc` prompts and the mean knowledge over `qa` prompts. This is what the
foundation's result table and memorization check use; the full protocol (MIA, utility, the final
score) builds on the same passes.
"""

from __future__ import annotations

from statistics import fmean

from obliviate.benchmarks.records import Document, Split
from obliviate.eval.metrics.lume import knowledge, regurgitation
from obliviate.eval.passes import greedy_generate


def score_documents(model, tokenizer, docs: tuple[Document, ...], max_new_tokens: int) -> dict:
    """Per-prompt generations and scores, and the two means, for a set of documents."""
    prompts = [p for doc in docs for p in doc.prompts]
    generations = greedy_generate(model, tokenizer, [p.input for p in prompts], max_new_tokens)
    items = []
    for prompt, generation in zip(prompts, generations, strict=True):
        score = regurgitation if prompt.kind == "sc" else knowledge
        items.append(
            {
                "id": prompt.id,
                "kind": prompt.kind,
                "reference": prompt.output,
                "generation": generation,
                "score": score(prompt.output, generation),
            }
        )
    sc = [it["score"] for it in items if it["kind"] == "sc"]
    qa = [it["score"] for it in items if it["kind"] == "qa"]
    return {
        "regurgitation": fmean(sc) if sc else None,
        "knowledge": fmean(qa) if qa else None,
        "items": items,
    }


def evaluate_split(model, tokenizer, split: Split, max_new_tokens: int) -> dict:
    """`regurgitation/forget`, `knowledge/forget`, `regurgitation/retain`, `knowledge/retain` + items."""
    out: dict = {"items": {}}
    for name in ("forget", "retain"):
        scores = score_documents(model, tokenizer, getattr(split, name), max_new_tokens)
        out[f"regurgitation/{name}"] = scores["regurgitation"]
        out[f"knowledge/{name}"] = scores["knowledge"]
        out["items"][name] = scores["items"]
    return out
