"""The automatic retain set of `obliviate forget`: the model's own greedy answers to this project's
general prompts (`data/general_prompts.txt`), kept only where they are unrelated to the forget set.

Training on the model's own answers (with the KL retain term, on the model's own distribution)
keeps its behaviour instead of teaching it new text. "Unrelated" means, for each bank prompt with
the model's answer appended:

- its similarity to every forget record (prompt and reference) is below `related_threshold`:
  the cosine of MiniLM sentence embeddings (`related=embedding`, the guardrail's detector), or the
  Jaccard overlap of their word sets (`related=overlap`);
- the answer does not contain a forget reference as whole words (lower-cased; references of fewer
  than 3 characters are not matched).

The kept prompts are shuffled (seeded) and split: `check_items` held out to verify that the model's
answers survive (never trained on), the next `retain_items` trained on.

    train, check, info = auto_retain(subject, forget_docs, settings, batch_size=32)
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from importlib.resources import files

from obliviate.data.records import Document, Prompt
from obliviate.subjects import Subject


def bank_prompts() -> list[str]:
    text = files("obliviate.practitioner").joinpath("data/general_prompts.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def related_scores(kind: str, texts: Sequence[str], forget_docs: Sequence[Document]) -> list[float]:
    """Each text's highest similarity to a forget record (its prompts and references)."""
    from obliviate.inference.guardrail import Detector

    guarded = [f"{p.input} {p.output}" for doc in forget_docs for p in doc.prompts] or [
        doc.text for doc in forget_docs
    ]
    return [float(s) for s in Detector(kind, guarded).scores(list(texts))]


# The task of the bank's documents: how the verification tells them from a user's retain records.
BANK_TASK = "obliviate-general"


def mentions(answer: str, references: Sequence[str]) -> bool:
    """Whether the answer contains a reference as whole words (lower-cased); references of fewer
    than 3 characters ("A", "5", "yes") are too common to tell anything and are not matched."""
    text = answer.lower()
    return any(re.search(rf"(?<!\w){re.escape(ref)}(?!\w)", text) for ref in references if len(ref) >= 3)


def auto_retain(
    subject: Subject, forget_docs: Sequence[Document], settings, batch_size: int, required: bool = True
) -> tuple[tuple, tuple, dict]:
    """(train documents, held-out check documents, what was kept and why), from the bank's prompts
    answered by `subject` (greedy, `settings.answer_tokens` new tokens). With `required` (no retain
    file), too few unrelated prompts is an error; without, the check takes what there is."""
    prompts = bank_prompts()
    answers = [a.strip() for a in subject.generate(prompts, settings.answer_tokens, batch_size)]
    references = [p.output.strip().lower() for doc in forget_docs for p in doc.prompts]
    scores = related_scores(
        settings.related, [f"{p} {a}" for p, a in zip(prompts, answers, strict=True)], forget_docs
    )
    kept, dropped = [], {"related": 0, "mentions_forget": 0, "empty_answer": 0}
    for i, (prompt, answer, score) in enumerate(zip(prompts, answers, scores, strict=True)):
        if not answer:
            dropped["empty_answer"] += 1
        elif score >= settings.related_threshold:
            dropped["related"] += 1
        elif mentions(answer, references):
            dropped["mentions_forget"] += 1
        else:
            kept.append((i, prompt, answer))
    random.Random(settings.seed).shuffle(kept)
    docs = [
        Document(
            id=f"obliviate-general-{i:03d}",
            task=BANK_TASK,
            text=f"{prompt} {answer}",
            prompts=(Prompt(id=f"obliviate-general-{i:03d}sc0", kind="sc", input=prompt, output=answer),),
        )
        for i, prompt, answer in kept
    ]
    check, train = docs[: settings.check_items], docs[settings.check_items :][: settings.retain_items]
    if required and (not train or not check):
        raise ValueError(
            f"automatic retain set: only {len(docs)} of the {len(prompts)} general prompts are unrelated "
            "to the forget set and answered; give --retain FILE, or lower forget.check_items"
        )
    info = {
        "bank": len(prompts),
        "kept": len(docs),
        "dropped": dropped,
        "related": settings.related,
        "related_threshold": settings.related_threshold,
        "train": len(train),
        "check": len(check),
    }
    return tuple(train), tuple(check), info
