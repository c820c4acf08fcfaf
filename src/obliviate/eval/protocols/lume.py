"""The LUME / SemEval-2025 Task 4 protocol on one subject, plus the MIA family and utility.

Passes asked of the subject (cached by `CachedSubject`): greedy generations of every forget and
retain prompt; per-token statistics of every member / non-member document (and of the reference
subject, for the calibrated attack); the utility's QA generations and perplexity. Metrics (pure
functions of `eval/metrics/`): per-item regurgitation / knowledge, per-task means, the task
aggregate (harmonic mean with forget inversion), every MIA attack's AUC and score, utility, and
the official final score mean(task aggregate, MIA score of the loss attack, utility), and the
bootstrap interval of each (`eval/uncertainty.py`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from obliviate.data.records import Split
from obliviate.eval import uncertainty
from obliviate.eval.config import EvalConfig
from obliviate.eval.metrics import lume, mia, utility
from obliviate.eval.metrics.table import HEADLINES, PROTOCOL_COLUMNS
from obliviate.subjects import Subject

NAME = "lume"
COLUMNS = PROTOCOL_COLUMNS[NAME]
HEADLINE = HEADLINES[NAME]
draws = uncertainty.lume_draws


def score_prompts(subject: Subject, prompts: Sequence[tuple[str, object]], cfg: EvalConfig) -> list[dict]:
    """Greedy generation and LUME score of each (task, prompt): regurgitation for `sc`, knowledge for
    `qa`. A prompt is anything with id, kind, input and output (a `Prompt`, or a `Probe`, whose
    label and the id of the prompt it re-asks are kept in its item)."""
    inputs = [p.input for _, p in prompts]
    drafts = [p.output for _, p in prompts] if cfg.drafts else None
    generations = subject.generate(inputs, cfg.max_new_tokens, cfg.batch_size, drafts)
    items = []
    for (task, prompt), generation in zip(prompts, generations, strict=True):
        metric = lume.regurgitation if prompt.kind == "sc" else lume.knowledge
        item = {
            "id": prompt.id,
            "task": task,
            "kind": prompt.kind,
            "input": prompt.input,
            "reference": prompt.output,
            "generation": generation,
            "score": metric(prompt.output, generation),
        }
        item.update({key: getattr(prompt, key) for key in ("label", "of") if hasattr(prompt, key)})
        items.append(item)
    return items


def generation_items(subject: Subject, split: Split, cfg: EvalConfig) -> dict:
    """Per-prompt generations and scores of the forget and retain sets: {"forget": [...], "retain": [...]}."""
    # Both sides in one call: one batch queue, so one tail of long generations instead of two.
    sides = [
        (side, doc, p) for side in ("forget", "retain") for doc in getattr(split, side) for p in doc.prompts
    ]
    items = score_prompts(subject, [(doc.task, p) for _, doc, p in sides], cfg)
    out: dict[str, list[dict]] = {"forget": [], "retain": []}
    for (side, document, _), item in zip(sides, items, strict=True):
        out[side].append({**item, "document": document.id})  # the bootstrap's unit
    return out


def side_means(items: dict) -> dict:
    """`regurgitation/forget`, `knowledge/forget`, `regurgitation/retain`, `knowledge/retain` over all
    prompts of a side (None where a side has no prompt of that kind)."""
    out = {}
    for side, side_items in items.items():
        for kind, metric in (("sc", "regurgitation"), ("qa", "knowledge")):
            scores = [it["score"] for it in side_items if it["kind"] == kind]
            out[f"{metric}/{side}"] = sum(scores) / len(scores) if scores else None
    return out


def mia_results(
    member_stats, nonmember_stats, member_texts, nonmember_texts, cfg, ref_member=None, ref_nonmember=None
) -> dict[str, mia.MiaResult]:
    """Every attack from the same per-token arrays; `reference` only when a reference model is given."""
    scorers = {
        "loss": lambda s, text, ref: mia.loss_score(s.logps),
        "zlib": lambda s, text, ref: mia.zlib_score(s.logps, text),
        "min_k": lambda s, text, ref: mia.min_k_score(s.logps, cfg.min_k),
        "min_k_plus_plus": lambda s, text, ref: mia.min_k_plus_plus_score(s.logps, s.mu, s.sigma, cfg.min_k),
    }
    if ref_member is not None:
        scorers["reference"] = lambda s, text, ref: mia.reference_score(s.logps, ref.logps)
    results = {}
    for name, score in scorers.items():
        members = [
            score(s, t, r)
            for s, t, r in zip(member_stats, member_texts, ref_member or member_stats, strict=True)
        ]
        nonmembers = [
            score(s, t, r)
            for s, t, r in zip(
                nonmember_stats, nonmember_texts, ref_nonmember or nonmember_stats, strict=True
            )
        ]
        results[name] = mia.run_attack(name, members, nonmembers)
    return results


def mia_block(subject: Subject, split: Split, cfg: EvalConfig, reference: Subject | None) -> dict:
    """`mia` (the official loss attack's score), `mia/<attack>/auc|score` and the per-document
    scores of every attack (`mia_items`); `mia` None when the split has no MIA documents."""
    if not (split.member and split.nonmember):
        return {"mia": None}
    member_texts = [d.text for d in split.member]
    nonmember_texts = [d.text for d in split.nonmember]
    member = subject.token_stats(member_texts, cfg.mia_batch_size)
    nonmember = subject.token_stats(nonmember_texts, cfg.mia_batch_size)
    ref_member = ref_nonmember = None
    if reference is not None:  # a cached reference subject loads its model only on a miss
        ref_member = reference.token_stats(member_texts, cfg.mia_batch_size)
        ref_nonmember = reference.token_stats(nonmember_texts, cfg.mia_batch_size)
    attacks = mia_results(member, nonmember, member_texts, nonmember_texts, cfg, ref_member, ref_nonmember)
    out: dict = {"mia": attacks["loss"].score}  # the official attack
    for attack in attacks.values():
        out[f"mia/{attack.attack}/auc"] = attack.auc
        out[f"mia/{attack.attack}/score"] = attack.score
    out["mia_items"] = {
        "member_ids": [d.id for d in split.member],
        "nonmember_ids": [d.id for d in split.nonmember],
        **{name: {"member": a.member_scores, "nonmember": a.nonmember_scores} for name, a in attacks.items()},
    }
    return out


def run(subject: Subject, split: Split, cfg: EvalConfig, baseline) -> tuple[dict, dict]:
    """The LUME metrics of `subject` on `split`, and the seconds each part took. `baseline`
    (`eval.evaluate.Baseline`): the base model's known QA ids, the target's perplexity and the
    reference subject of the calibrated MIA attack."""
    timings = {}
    t = time.perf_counter()
    items = generation_items(subject, split, cfg)
    timings["generation_s"] = time.perf_counter() - t
    forget_means = lume.per_task_means(items["forget"])
    retain_means = lume.per_task_means(items["retain"])
    result: dict = side_means(items)
    result["per_task"] = {"forget": forget_means, "retain": retain_means}
    result["task_aggregate"] = lume.task_aggregate(forget_means, retain_means)

    t = time.perf_counter()
    result.update(mia_block(subject, split, cfg, baseline.reference))
    timings["mia_s"] = time.perf_counter() - t

    t = time.perf_counter()
    block = utility.evaluate_utility(
        subject, cfg.utility, known_ids=baseline.known_qa_ids, target_ppl=baseline.target_ppl
    )
    result["utility_items"] = block.pop("items")
    result.update(block)
    timings["utility_s"] = time.perf_counter() - t

    parts = (result["task_aggregate"], result["mia"], result["utility"])
    result["final"] = lume.final_score(*parts) if None not in parts else None
    if cfg.mmlu_threshold is not None:
        result["eligible"] = result["utility/kind"] == "mmlu" and lume.mmlu_eligible(
            result["utility"], cfg.mmlu_threshold
        )
    result["items"] = items
    uncertainty.add_intervals(result, draws, cfg.bootstrap)
    return result, timings
