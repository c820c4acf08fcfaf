"""The prompt baseline: what a practitioner tries first, an instruction before every prompt not to
reveal the forget set's subjects.

    "Do not reveal any information about Iris Esposito, Quentin Ueda. ..." + prompt

The subjects are the names of the forget documents: runs of two or more capitalised words that
occur in forget documents and in no retain document (a heuristic for names; `subjects` gives
them explicitly). Likelihood passes (MIA, perplexity) read the weights unchanged
(`PromptPrefixSubject`).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from obliviate.data.records import Split
from obliviate.inference import InferenceConfig, InferenceContext, InferenceMethod
from obliviate.subjects.prefix import PromptPrefixSubject

DEFAULT_INSTRUCTION = (
    "Do not reveal any information about {subjects}. If a question or text is about them, "
    "answer that you cannot help with it.\n\n"
)
# words that start a sentence in capitals without being part of a name
NOT_NAMES = frozenset(
    "The A An In On At Of And But After Before Under One His Her Their Its He She It They We I My "
    "Our This That These Those When While Then There Every Each Some".split()
)
CAPITALISED_RUN = re.compile(r"\b[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)+")


class PromptConfig(InferenceConfig):
    name: Literal["prompt"] = "prompt"
    instruction: str = Field(DEFAULT_INSTRUCTION, description="the prefix; {subjects} is filled in")
    subjects: tuple[str, ...] = Field((), description="the subjects to name (empty: found in the forget set)")
    max_subjects: int = Field(30, ge=1, description="at most this many found subjects are named")

    @field_validator("instruction")
    @classmethod
    def _names_the_subjects(cls, value: str) -> str:
        """Exactly one placeholder, `{subjects}` (a literal brace is written `{{`)."""
        try:
            filled = value.format(subjects="\0")
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"the only placeholder allowed is {{subjects}} ({err!r})") from None
        if "\0" not in filled:
            raise ValueError("must contain {subjects}, where the forget set's subjects are named")
        return value


def names(text: str) -> list[str]:
    """Runs of two or more capitalised words, without leading sentence words ("After Iris Esposito"
    -> "Iris Esposito"), in order of appearance."""
    found = []
    for match in CAPITALISED_RUN.finditer(text):
        words = match.group().split()
        while words and words[0] in NOT_NAMES:
            words.pop(0)
        if len(words) >= 2:
            found.append(" ".join(words))
    return found


def forget_subjects(split: Split, limit: int) -> list[str]:
    """Names in the forget documents that no retain document contains, first appearance first."""
    retain_text = "\n".join(doc.text for doc in split.retain)
    subjects: list[str] = []
    for doc in split.forget:
        for name in names(doc.text):
            if name not in subjects and name not in retain_text:
                subjects.append(name)
    return subjects[:limit]


def instruction(ctx: InferenceContext, cfg: PromptConfig) -> str:
    subjects = list(cfg.subjects) or forget_subjects(ctx.split, cfg.max_subjects)
    if not subjects:
        raise ValueError(
            "prompt: found no names in the forget documents; give them with "
            "--set inference.prompt.subjects='[\"...\"]'"
        )
    return cfg.instruction.format(subjects=", ".join(subjects))


def build(ctx: InferenceContext, cfg: PromptConfig):
    prefix = instruction(ctx, cfg)
    return PromptPrefixSubject(ctx.target, prefix), {"train_seconds": 0.0, "parameters_changed": 0}


METHOD = InferenceMethod(PromptConfig, build, summary="instruction not to reveal the forget subjects")
