"""Edit requests: which training examples leave the target's training set D, and what replaces them.

A request file is JSONL, one affected example per line, in the shape its kind asks for:

    removal   {"input": "...", "output": "..."}                          z = (x, y) -> nothing
              {"document": "<document id>"}                              every pair of that document
    query     {"input": "...", "output": "...", "new_input": "..."}       (x, y) -> (x′, y)
    response  {"input": "...", "output": "...", "new_output": "..."}      (x, y) -> (x, y′)

Any row may carry an `"id"` for the user's bookkeeping. `input` / `output` are a training pair as
`training_data.document_pairs` makes it (prompt and answer; a prompt-less document's pair is
("", text)); a pair that is not in D is an error, since its gradient must be the one the target
was trained on. Every error is a `DataError` with one line `file:line: field 'x': ...`.

    edits = read_requests(Path("req.jsonl"), "removal", training_documents(cfg, benchmark, "target"))
    removed, added = tokenize_edits(tokenizer, edits, max_length)   # S and S′ as Examples
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from obliviate.data.jsonl import read_rows, reject_unknown_fields, string_field
from obliviate.data.records import DataError, Document
from obliviate.training_data import Example, document_pairs, tokenize_pair

RequestKind = Literal["removal", "query", "response"]
REQUEST_KINDS: tuple[RequestKind, ...] = ("removal", "query", "response")
FIELDS = {
    "removal": ("id", "input", "output", "document"),
    "query": ("id", "input", "output", "new_input"),
    "response": ("id", "input", "output", "new_output"),
}


@dataclass(frozen=True)
class Edit:
    """One training pair (input, output) and its replacement (None: removed)."""

    input: str
    output: str
    new: tuple[str, str] | None = None


def training_pairs(documents: Sequence[Document]) -> list[tuple[str, str]]:
    """D as (prompt, answer) pairs, in training order."""
    return [pair for doc in documents for pair in document_pairs(doc)]


def _row_edits(row: dict, kind: RequestKind, where: str, documents: dict[str, Document]) -> list[Edit]:
    reject_unknown_fields(row, FIELDS[kind], where, what=f"{kind} request")
    if "id" in row:
        string_field(row, "id", where)
    if kind == "removal" and "document" in row:
        if "input" in row or "output" in row:
            raise DataError(f"{where}: field 'document': give either 'document' or 'input' and 'output'")
        doc_id = string_field(row, "document", where, non_empty=True)
        if doc_id not in documents:
            raise DataError(f"{where}: field 'document': no training document with id {doc_id!r}")
        return [Edit(prompt, answer) for prompt, answer in document_pairs(documents[doc_id])]
    prompt = string_field(row, "input", where)  # "" is the pair of a prompt-less document
    answer = string_field(row, "output", where, non_empty=True)
    if kind == "query":
        return [Edit(prompt, answer, (string_field(row, "new_input", where, non_empty=True), answer))]
    if kind == "response":
        return [Edit(prompt, answer, (prompt, string_field(row, "new_output", where, non_empty=True)))]
    return [Edit(prompt, answer)]


def read_requests(file: Path, kind: RequestKind, documents: Sequence[Document]) -> list[Edit]:
    """The edits of a request file, each checked against the training pairs of `documents`."""
    if kind not in REQUEST_KINDS:
        raise DataError(f"unknown request kind {kind!r} (expected {', '.join(REQUEST_KINDS)})")
    by_id = {doc.id: doc for doc in documents}
    available = Counter(training_pairs(documents))
    edits: list[Edit] = []
    first_line: dict[tuple[str, str], int] = {}
    for lineno, row in read_rows(Path(file)):
        where = f"{file}:{lineno}"
        for edit in _row_edits(row, kind, where, by_id):
            pair = (edit.input, edit.output)
            if pair not in available:
                raise DataError(
                    f"{where}: field 'input': the pair (input, output) is not in the target's training set"
                )
            if pair in first_line:
                raise DataError(f"{where}: field 'input': pair already requested on line {first_line[pair]}")
            first_line[pair] = lineno
            edits.append(edit)
    if not edits:
        raise DataError(f"{file}: empty request file (no rows)")
    return edits


def tokenize_edits(tokenizer, edits: Sequence[Edit], max_length: int) -> tuple[list[Example], list[Example]]:
    """S (the affected examples as trained) and S′ (their replacements; none for removals)."""
    removed = [tokenize_pair(tokenizer, e.input, e.output, max_length) for e in edits]
    added = [tokenize_pair(tokenizer, *e.new, max_length) for e in edits if e.new is not None]
    return removed, added


def edited_pairs(pairs: Sequence[tuple[str, str]], edits: Sequence[Edit]) -> list[tuple[str, str]]:
    """D′ = D \\ S ∪ S′ as pairs: each edited pair removed once, its replacement appended."""
    remaining = list(pairs)
    for edit in edits:
        remaining.remove((edit.input, edit.output))
    return remaining + [e.new for e in edits if e.new is not None]
