"""`obliviate eval`: the LUME / SemEval-2025 Task 4 protocol on one model, plus the MIA family
and utility, from passes computed once.

    result = evaluate_model(model_dir, benchmark, EvalConfig(), cache=PassCache(dir), baseline=baseline)

Phase 1, passes (cached by model content, inputs and settings): greedy generations of every
forget/retain prompt; per-token statistics of every member / non-member document (and of the
reference model, for the calibrated attack). Phase 2, metrics (pure functions): per-item
regurgitation / knowledge, per-task means, the task aggregate (harmonic mean with forget
inversion), every MIA attack's AUC and score, utility, and the official final score
mean(task aggregate, MIA score of the loss attack, utility).

The `baseline` carries what utility is measured against: the QA items the BASE model answers
and the TARGET's perplexity on the reference text. `result["utility/kind"]` always says which
utility entered the final score (offline QA fraction, or MMLU accuracy); they are never mixed.
"""

from __future__ import annotations

import importlib.metadata
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from obliviate.data.records import Benchmark, Split
from obliviate.eval.cache import PassCache
from obliviate.eval.config import EvalConfig
from obliviate.eval.metrics import lume, mia, utility
from obliviate.eval.passes import GENERATION_VERSION, greedy_generate, token_statistics
from obliviate.models import load_model, model_fingerprint

EVAL_VERSION = 1


@dataclass
class Baseline:
    """What utility and the calibrated attack are measured against."""

    known_qa_ids: list[str] | None  # QA items the base model answers (offline utility)
    target_ppl: float | None  # the target's perplexity on the reference text
    reference_dir: Path | None  # model of the reference-calibrated MIA attack (base or oracle)


def _dtype(name: str) -> torch.dtype:
    return torch.bfloat16 if name == "bf16" else torch.float32


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("obliviate", "torch", "transformers", "rouge-score", "scikit-learn"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def draft_tokens(tokenizer, output: str) -> list[int]:
    """A prompt's reference output as the model saw it in training, after the prompt's tokens
    (`training_data.tokenize_pair`: `prompt + " " + answer`). The engine verifies it, so a
    draft the model would not write costs speed only."""
    return tokenizer(" " + output, add_special_tokens=False).input_ids


def generation_items(
    model, tokenizer, model_fp: str, split: Split, cfg: EvalConfig, cache: PassCache | None = None
) -> dict:
    """Per-prompt generations and scores of the forget and retain sets: {"forget": [...], "retain": [...]}."""
    cache = cache or PassCache(None)
    # Both sides in one call: one batch queue, so one tail of long generations instead of two.
    prompts = [
        (side, doc, p) for side in ("forget", "retain") for doc in getattr(split, side) for p in doc.prompts
    ]
    inputs = [p.input for _, _, p in prompts]
    # Drafts change the speed, not the tokens, so they stay out of the cache key.
    drafts = [draft_tokens(tokenizer, p.output) for _, _, p in prompts] if cfg.drafts else None
    settings = {
        "max_new_tokens": cfg.max_new_tokens,
        "dtype": cfg.dtype,
        "pass": "greedy",
        "version": GENERATION_VERSION,
    }
    generations = cache.generations(
        model_fp,
        inputs,
        settings,
        lambda: greedy_generate(model, tokenizer, inputs, cfg.max_new_tokens, cfg.batch_size, drafts),
    )
    out: dict[str, list[dict]] = {"forget": [], "retain": []}
    for (side, doc, prompt), generation in zip(prompts, generations, strict=True):
        metric = lume.regurgitation if prompt.kind == "sc" else lume.knowledge
        out[side].append(
            {
                "id": prompt.id,
                "task": doc.task,
                "kind": prompt.kind,
                "input": prompt.input,
                "reference": prompt.output,
                "generation": generation,
                "score": metric(prompt.output, generation),
            }
        )
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


def stats_of(load, model_fp: str, texts: list[str], cfg: EvalConfig, cache: PassCache):
    """Per-token statistics of `texts`; `load()` returns (model, tokenizer) and is called only on a
    cache miss (so a cached reference model is never loaded)."""
    settings = {"dtype": cfg.dtype, "pass": "token_stats"}
    return cache.token_stats(
        model_fp, texts, settings, lambda: token_statistics(*load(), texts, cfg.mia_batch_size)
    )


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


def model_perplexity(load, model_fp: str, cfg: EvalConfig, cache: PassCache) -> float:
    """Perplexity on the reference text; `load()` returns (model, tokenizer), called on a cache miss."""
    ucfg = cfg.utility
    settings = {
        "chars": ucfg.text_chars,
        "window": ucfg.ppl_window,
        "stride": ucfg.ppl_stride,
        "text": utility.reference_text_fingerprint(ucfg.text_chars),
        "dtype": cfg.dtype,
    }
    text = utility.reference_text(ucfg.text_chars)
    return cache.value(
        "ppl",
        model_fp,
        settings,
        lambda: utility.perplexity(*load(), text, ucfg.ppl_window, ucfg.ppl_stride, ucfg.ppl_batch_size),
    )


def known_qa_ids(model_dir: Path, cfg: EvalConfig, cache: PassCache) -> list[str]:
    """The QA items the base model answers (computed once per base model)."""
    ucfg = cfg.utility
    settings = {
        "qa": utility.qa_set_fingerprint(),
        "max_items": ucfg.qa_max_items,
        "max_new_tokens": ucfg.qa_max_new_tokens,
        "dtype": cfg.dtype,
    }

    def compute():
        model, tokenizer = load_model(model_dir, dtype=_dtype(cfg.dtype))
        items = utility.load_general_qa(ucfg.qa_max_items)
        return utility.select_known_items(model, tokenizer, items, ucfg.qa_max_new_tokens, ucfg.qa_batch_size)

    return cache.value("known_qa", model_fingerprint(model_dir), settings, compute)


def target_perplexity(model_dir: Path, cfg: EvalConfig, cache: PassCache) -> float:
    load = lambda: load_model(model_dir, dtype=_dtype(cfg.dtype))  # noqa: E731
    return model_perplexity(load, model_fingerprint(model_dir), cfg, cache)


def evaluate_model(
    model_dir: Path,
    benchmark: Benchmark,
    split_name: str,
    cfg: EvalConfig,
    *,
    cache: PassCache,
    baseline: Baseline,
    name: str | None = None,
) -> dict:
    """Evaluate the model saved in `model_dir` on one split; returns the full result (JSON-able)."""
    start = time.perf_counter()
    timings = {}
    split = benchmark.split(split_name)
    model_fp = model_fingerprint(model_dir)
    model, tokenizer = load_model(model_dir, dtype=_dtype(cfg.dtype))

    t = time.perf_counter()
    items = generation_items(model, tokenizer, model_fp, split, cfg, cache)
    timings["generation_s"] = time.perf_counter() - t
    forget_means = lume.per_task_means(items["forget"])
    retain_means = lume.per_task_means(items["retain"])
    result: dict = {
        "name": name or model_dir.name,
        "model": str(model_dir),
        "model_fingerprint": model_fp,
        "benchmark": benchmark.name,
        "benchmark_fingerprint": benchmark.fingerprint(),
        "split": split_name,
        "settings": cfg.model_dump(mode="json"),
        "eval_version": EVAL_VERSION,
    }
    result.update(side_means(items))
    result["per_task"] = {"forget": forget_means, "retain": retain_means}
    result["task_aggregate"] = lume.task_aggregate(forget_means, retain_means)

    t = time.perf_counter()
    if split.member and split.nonmember:
        member_texts = [d.text for d in split.member]
        nonmember_texts = [d.text for d in split.nonmember]
        member_stats = stats_of(lambda: (model, tokenizer), model_fp, member_texts, cfg, cache)
        nonmember_stats = stats_of(lambda: (model, tokenizer), model_fp, nonmember_texts, cfg, cache)
        ref_member = ref_nonmember = None
        if baseline.reference_dir is not None:
            # The reference model is loaded only if its statistics are not cached yet.
            loaded: list = []

            def reference():
                if not loaded:
                    loaded.append(load_model(baseline.reference_dir, dtype=_dtype(cfg.dtype)))
                return loaded[0]

            ref_fp = model_fingerprint(baseline.reference_dir)
            ref_member = stats_of(reference, ref_fp, member_texts, cfg, cache)
            ref_nonmember = stats_of(reference, ref_fp, nonmember_texts, cfg, cache)
        attacks = mia_results(
            member_stats, nonmember_stats, member_texts, nonmember_texts, cfg, ref_member, ref_nonmember
        )
        for attack in attacks.values():
            result[f"mia_{attack.attack}/auc"] = attack.auc
            result[f"mia_{attack.attack}/score"] = attack.score
        result["mia_score"] = attacks["loss"].score  # the official attack
        result["mia_items"] = {
            "member_ids": [d.id for d in split.member],
            "nonmember_ids": [d.id for d in split.nonmember],
            **{
                name: {"member": a.member_scores, "nonmember": a.nonmember_scores}
                for name, a in attacks.items()
            },
        }
    else:
        result["mia_score"] = None
    timings["mia_s"] = time.perf_counter() - t

    t = time.perf_counter()
    # The perplexity goes through the pass cache: the target's was already computed for the baseline.
    ppl = (
        None
        if cfg.utility.kind == "mmlu"
        else model_perplexity(lambda: (model, tokenizer), model_fp, cfg, cache)
    )
    block = utility.evaluate_utility(
        model,
        tokenizer,
        cfg.utility,
        known_ids=baseline.known_qa_ids,
        target_ppl=baseline.target_ppl,
        ppl=ppl,
    )
    result["utility_items"] = block.pop("items")
    result.update(block)
    timings["utility_s"] = time.perf_counter() - t

    parts = (result["task_aggregate"], result["mia_score"], result["utility"])
    result["final"] = lume.final_score(*parts) if None not in parts else None
    if cfg.mmlu_threshold is not None:
        result["eligible"] = result["utility/kind"] == "mmlu" and lume.mmlu_eligible(
            result["utility"], cfg.mmlu_threshold
        )
    result["items"] = items
    timings["total_s"] = time.perf_counter() - start
    result["timings"] = {k: round(v, 2) for k, v in timings.items()}
    result["versions"] = _versions()
    return result
