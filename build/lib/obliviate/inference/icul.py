"""In-context unlearning (ICUL; Pawelczyk et al. 2023, "In-Context Unlearning: Language Models as
Few Shot Unlearners", arXiv 2310.07579): examples before the prompt that contradict the forget data.

The paper's prompt for a forget point x with label y is "x ¬y\\n" followed by n-1 training points
with their true labels and then the query. For generation tasks the context here is

    k forget prompts, each with a non-answer      "<forget prompt> <non-answer>\\n"
    k retain prompts, each with its true answer   "<retain prompt> <answer>\\n"
    the query

The forget examples are the k forget prompts that share the most words with the query (ties: the
benchmark's order), so a query about a forget item sees that item with a non-answer, as the paper
places the point to unlearn in the context. The retain examples are drawn once (seeded). A
non-answer is a refusal (`pairing=refusal`, the lines of `methods/data/refusals.txt`) or the
answer of another forget prompt of the same kind (`pairing=other_answer`: wrong but plausible,
the paper's flipped label, for benchmarks without perturbed answers).

The context must fit the model with the prompt and the generated tokens: examples are dropped,
lowest-ranked first, until `context + prompt + max_new_tokens` fits `max_tokens` (the model's
position limit by default); the shortened contexts are counted in the row's cost. Built
deterministically: the same query always gets the same context. Likelihood passes (MIA,
perplexity) read the weights unchanged.
"""

from __future__ import annotations

import json
import random
import re
from typing import Literal

from pydantic import Field

from obliviate.data.records import Prompt, Split
from obliviate.inference import (
    InferenceConfig,
    InferenceContext,
    InferenceMethod,
    forget_prompts,
    retain_prompts,
)
from obliviate.subjects.base import Subject
from obliviate.subjects.prefix import PromptRewriteSubject

WORD = re.compile(r"\w+")


class ICULConfig(InferenceConfig):
    name: Literal["icul"] = "icul"
    k: int = Field(2, ge=1, description="forget examples and retain examples in each context (each k)")
    pairing: Literal["refusal", "other_answer"] = Field(
        "refusal", description="a forget example's non-answer: a refusal, or another forget prompt's answer"
    )
    seed: int = Field(0, description="seed of the retain examples and the non-answers")
    max_tokens: int | None = Field(
        None, ge=16, description="context + prompt + generated tokens (None: the model's position limit)"
    )


def words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def overlap(a: set[str], b: set[str]) -> float:
    """Jaccard similarity of two word sets (0 for two empty sets)."""
    return len(a & b) / len(a | b) if a or b else 0.0


class ICULContext:
    """The context of each query: see the module docstring. `count_tokens(text)` measures a text
    as the model's tokenizer does; `budget(prompt)` is how many tokens the context may take."""

    def __init__(self, split: Split, cfg: ICULConfig, non_answers: list[str], count_tokens, budget):
        forget, retain = forget_prompts(split), retain_prompts(split)
        if len(forget) < 1 or len(retain) < 1:
            raise ValueError("icul needs forget and retain prompts in the split")
        rng = random.Random(cfg.seed)
        self.k, self.count_tokens, self.budget = cfg.k, count_tokens, budget
        self.forget = [
            (p, words(p.input), self._non_answer(p, forget, cfg, non_answers, rng)) for p in forget
        ]
        self.retain = [f"{p.input} {p.output}\n" for p in rng.sample(retain, min(cfg.k, len(retain)))]

    @staticmethod
    def _non_answer(prompt: Prompt, forget: list[Prompt], cfg: ICULConfig, lines: list[str], rng) -> str:
        if cfg.pairing == "refusal":
            return rng.choice(lines)
        others = [p.output for p in forget if p.kind == prompt.kind and p.output != prompt.output]
        return rng.choice(others) if others else rng.choice(lines)

    def examples(self, query: str) -> list[str]:
        """The k most overlapping forget examples, then the retain examples, before any cut."""
        q = words(query)
        ranked = sorted(range(len(self.forget)), key=lambda i: -overlap(q, self.forget[i][1]))  # stable
        chosen = [self.forget[i] for i in ranked[: self.k]]
        return [f"{p.input} {non_answer}\n" for p, _, non_answer in chosen] + self.retain

    def fitted(self, query: str) -> list[str]:
        """The examples that fit before `query`: the last are dropped first (the retain examples,
        then the least overlapping forget examples)."""
        examples = self.examples(query)
        budget = self.budget(query)
        while examples and self.count_tokens("".join(examples)) > budget:
            examples.pop()
        return examples

    def context(self, query: str) -> str:
        return "".join(self.fitted(query))


class ICULSubject(PromptRewriteSubject):
    def __init__(self, inner: Subject, context: ICULContext, key: dict):
        self.icul, self.key = context, key
        super().__init__(inner, {"wrapper": "icul", **key}, "in-context unlearning")

    def rewrite(self, prompt: str) -> str:
        return self.icul.context(prompt) + prompt

    def with_inner(self, inner: Subject) -> ICULSubject:
        return ICULSubject(inner, self.icul, self.key)


def build(ctx: InferenceContext, cfg: ICULConfig):
    from transformers import AutoConfig, AutoTokenizer

    from obliviate.unlearn import refusal_lines

    tokenizer = AutoTokenizer.from_pretrained(ctx.target_dir)
    limit = cfg.max_tokens or AutoConfig.from_pretrained(ctx.target_dir).max_position_embeddings
    new_tokens = ctx.cfg.eval.max_new_tokens

    def count_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False).input_ids)

    def budget(prompt: str) -> int:
        room = limit - new_tokens - len(tokenizer(prompt).input_ids)
        if room < 0:
            raise ValueError(f"icul: a prompt of the split alone exceeds max_tokens={limit} with its answer")
        return room

    context = ICULContext(ctx.split, cfg, refusal_lines(), count_tokens, budget)
    key = {
        "config": cfg.model_dump(),
        "limit": limit,
        "new_tokens": new_tokens,
        "examples": context_key(context),
    }
    subject = ICULSubject(ctx.target, context, key)
    queries = [p.input for doc in (*ctx.split.forget, *ctx.split.retain) for p in doc.prompts]
    fitted = [context.fitted(q) for q in queries]
    cost = {
        "train_seconds": 0.0,
        "parameters_changed": 0,
        "context_tokens_max": max(count_tokens("".join(f)) for f in fitted),
        "context_token_limit": limit,
        "contexts_shortened": sum(
            len(f) < len(context.examples(q)) for f, q in zip(fitted, queries, strict=True)
        ),
    }
    return subject, cost


def context_key(context: ICULContext) -> str:
    """What the contexts are built from (the examples and their non-answers), for the fingerprint."""
    return json.dumps([[p.id, p.input, n] for p, _, n in context.forget] + [context.retain])


METHOD = InferenceMethod(ICULConfig, build, summary="forget prompts with non-answers in context")
