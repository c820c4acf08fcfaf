"""Verification of a forget run without an oracle: whether each record is still produced, before,
after, and under each attack, and the summary numbers of the model card with their intervals.

A record is *produced* by a model when one of its prompts' greedy generation (or one of its sampled
generations, under the `sample` attack) recalls at least `threshold` of its reference: ROUGE-L
recall, the LUME regurgitation score, for completion prompts and questions alike (an exact-match
score would call "Paris, France." wrong for "Paris").

    produced_before = produced_ids(items, docs, threshold)
    verdicts = record_verdicts(docs, before_items, after_items, attack_items, threshold)
    summary = summarize(docs, before, after, attacks, threshold, bootstrap)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from obliviate.data.records import Document
from obliviate.eval.config import BootstrapConfig
from obliviate.eval.metrics.leak import leak_at_k_regurgitation
from obliviate.eval.uncertainty import interval, resample_counts

NOT_PRODUCED_BEFORE = "not produced before (nothing to unlearn)"
STILL_PRODUCED = "still produced"
GONE = "no longer produced"


def item_recall(item: Mapping) -> float:
    """ROUGE-L recall of an item's reference in its generation (the best of its samples)."""
    return leak_at_k_regurgitation(
        item["reference"], item["samples"] if "samples" in item else [item["generation"]]
    )


def record_recalls(docs: Sequence[Document], items: Sequence[Mapping]) -> dict[str, float]:
    """Each record's best recall over the items asking it (a prompt's id, or a probe's `of`);
    records no item asks are absent."""
    owner = {p.id: doc.id for doc in docs for p in doc.prompts}
    best: dict[str, float] = {}
    for item in items:
        doc_id = owner.get(item.get("of") or item["id"])
        if doc_id is not None:
            best[doc_id] = max(best.get(doc_id, 0.0), item_recall(item))
    return best


def record_verdicts(
    docs: Sequence[Document],
    before: Sequence[Mapping],
    after: Sequence[Mapping],
    attacks: Mapping[str, Sequence[Mapping]],
    threshold: float,
) -> dict[str, dict]:
    """Per record id: recall before, after and under each attack, and the verdict."""
    before_r, after_r = record_recalls(docs, before), record_recalls(docs, after)
    attacked = {name: record_recalls(docs, items) for name, items in attacks.items()}
    out = {}
    for doc in docs:
        under = {name: r[doc.id] for name, r in attacked.items() if doc.id in r}
        leaked = [name for name, value in under.items() if value >= threshold]
        if before_r.get(doc.id, 0.0) < threshold:
            verdict = NOT_PRODUCED_BEFORE
        elif after_r.get(doc.id, 0.0) >= threshold:
            verdict = STILL_PRODUCED
        elif leaked:
            verdict = f"produced under attack {', '.join(leaked)}"
        else:
            verdict = GONE
        out[doc.id] = {
            "before": before_r.get(doc.id),
            "after": after_r.get(doc.id),
            "attacks": under,
            "verdict": verdict,
        }
    return out


def mean_with_interval(
    values: Sequence[float], units: Sequence[str], group: str, cfg: BootstrapConfig
) -> dict:
    """The mean of per-record values with its percentile bootstrap interval over the records."""
    array = np.asarray(values, dtype=float)
    counts = resample_counts(group, units, cfg)
    return {"value": float(array.mean()), "interval": interval(counts @ array / len(array), cfg.level)}


def summarize(verdicts: Mapping[str, dict], threshold: float, cfg: BootstrapConfig) -> dict:
    """The forget side of the card: over the records the model produced before, the mean recall
    and the share still produced, before and after (each over the same records, same resamples)."""
    ids = [i for i, v in verdicts.items() if v["verdict"] != NOT_PRODUCED_BEFORE]
    if not ids:
        return {"records": 0}
    out: dict = {"records": len(ids)}
    for when in ("before", "after"):
        recalls = [verdicts[i][when] or 0.0 for i in ids]
        out[f"recall/{when}"] = mean_with_interval(recalls, ids, "forget", cfg)
        out[f"produced/{when}"] = mean_with_interval([r >= threshold for r in recalls], ids, "forget", cfg)
    return out


def _metric(result: Mapping, key: str) -> dict:
    return {"value": result.get(key), "interval": (result.get("intervals") or {}).get(key)}


def retain_recall(result: Mapping, held_out: bool, cfg: BootstrapConfig) -> dict | None:
    """Mean recall of the retain side's references, with its interval over those prompts: the
    model's original answers to the held-out general prompts (`held_out`: task `BANK_TASK`), or the
    user's retain records. None where there are none."""
    from obliviate.practitioner.retain_bank import BANK_TASK

    items = [it for it in result["items"]["retain"] if (it["task"] == BANK_TASK) == held_out]
    if not items:
        return None
    group = "check" if held_out else "retain"
    return mean_with_interval([item_recall(it) for it in items], [it["id"] for it in items], group, cfg)


def retain_check(
    before: Mapping, after: Mapping, tolerances: Mapping[str, float], cfg: BootstrapConfig
) -> dict:
    """Before and after on the user's retain records (`your_records`) and on the held-out general
    answers (`held_out_answers`); the check reads the first of them there is (the user's, else the
    held-out) and passes when its recall fell by at most its tolerance."""
    out: dict = {}
    for name, held_out in (("your_records", False), ("held_out_answers", True)):
        pair = retain_recall(before, held_out, cfg), retain_recall(after, held_out, cfg)
        out[name] = {"before": pair[0], "after": pair[1]} if pair[0] and pair[1] else None
    out["checked"] = "your_records" if out["your_records"] else "held_out_answers"
    checked, out["tolerance"] = out[out["checked"]], tolerances[out["checked"]]
    out["kept"] = (
        checked["after"]["value"] >= checked["before"]["value"] - out["tolerance"] if checked else None
    )
    return out


def verification(
    docs: Sequence[Document],
    before: Mapping,
    after: Mapping,
    outcomes: Mapping[str, Mapping],
    settings,
    cfg: BootstrapConfig,
) -> dict:
    """Everything the card and the command print: per-record verdicts, the forget summary, the
    retain check, utility and the membership test before and after, each with its interval."""
    threshold = settings.produced_threshold
    attack_items = {name: o["items"] for name, o in outcomes.items()}
    verdicts = record_verdicts(
        docs, before["items"]["forget"], after["items"]["forget"], attack_items, threshold
    )
    produced = [i for i, v in verdicts.items() if v["verdict"] != NOT_PRODUCED_BEFORE]
    return {
        "records": verdicts,
        "threshold": threshold,
        "forget": summarize(verdicts, threshold, cfg),
        "attacks": {
            name: {
                "produced": sum(verdicts[i]["attacks"].get(name, 0.0) >= threshold for i in produced),
                "of": len(produced),
                "seconds": outcomes[name].get("seconds"),
            }
            for name in outcomes
        },
        "retain": retain_check(
            before,
            after,
            {"your_records": settings.retain_tolerance, "held_out_answers": settings.held_out_tolerance},
            cfg,
        ),
        "utility": {
            "kind": after.get("utility/kind"),
            "before": _metric(before, "utility"),
            "after": _metric(after, "utility"),
        },
        "mia_auc": {"before": _metric(before, "mia/loss/auc"), "after": _metric(after, "mia/loss/auc")},
        "bootstrap": cfg.model_dump(),
    }
