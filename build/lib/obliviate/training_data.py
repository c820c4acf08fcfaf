"""Benchmark documents -> token-level training examples and padded batches.

A document trains on each of its prompts as `input + " " + output + EOS`, with the prompt tokens
masked (-100) so the loss covers the answer only; the `sc1` prompt covers the full document, so
the model memorizes the text and the answers and learns to stop after an answer (which LUME's
exact-match knowledge score requires). A document without prompts trains on its whole text.

Prompt and answer are tokenized separately and concatenated, so the prompt tokens are exactly
those an evaluation prompt produces (no BPE merge across the boundary).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from obliviate.data.records import Document

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Example:
    """One tokenized sequence; `labels` is `input_ids` with unscored positions set to -100."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]

    @property
    def num_label_tokens(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


def document_pairs(doc: Document) -> list[tuple[str, str]]:
    """(prompt, answer) pairs a document trains on; a prompt-less document is one ("", text) pair."""
    if not doc.prompts:
        return [("", doc.text)]
    return [(p.input, p.output) for p in doc.prompts]


def tokenize_pair(tokenizer, prompt: str, answer: str, max_length: int) -> Example:
    """`prompt + " " + answer + EOS`, labels on the answer (and EOS) only; truncated on the right,
    except that an over-long prompt loses its start instead of the answer its labels."""
    if prompt:
        prompt_ids = tokenizer(prompt).input_ids  # special tokens as the tokenizer adds them (BOS)
        answer_ids = tokenizer(" " + answer, add_special_tokens=False).input_ids
    else:
        prompt_ids = []
        answer_ids = tokenizer(answer).input_ids
    answer_ids = [*answer_ids, tokenizer.eos_token_id]
    answer_room = min(len(answer_ids), max_length // 2)
    if len(prompt_ids) > max_length - answer_room:
        # A prompt that fills the window would leave no labels (a NaN loss): cut the prompt's start
        # (keeping a leading BOS) so the answer keeps at least half the window.
        bos = prompt_ids[:1] if prompt_ids[0] == tokenizer.bos_token_id else []
        prompt_ids = bos + prompt_ids[len(prompt_ids) - (max_length - answer_room - len(bos)) :]
    input_ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + answer_ids)[:max_length]
    if not prompt:
        # No prompt: every token is a target except a leading BOS, which nothing predicts anyway.
        labels = list(input_ids)
    return Example(tuple(input_ids), tuple(labels))


def tokenize_documents(tokenizer, docs: Iterable[Document], max_length: int) -> list[Example]:
    return [
        tokenize_pair(tokenizer, prompt, answer, max_length)
        for doc in docs
        for prompt, answer in document_pairs(doc)
    ]


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of examples into `input_ids`, `attention_mask`, `labels`, all (B, T)."""
    width = max(len(ex.input_ids) for ex in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, ex in enumerate(examples):
        n = len(ex.input_ids)
        input_ids[row, :n] = torch.tensor(ex.input_ids)
        labels[row, :n] = torch.tensor(ex.labels)
        attention_mask[row, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
