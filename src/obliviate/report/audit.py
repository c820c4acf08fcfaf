"""The per-item audit: every forget and retain prompt, its reference and each row's generation.

Generations are shown with the tokens ROUGE-L matched highlighted: the longest common subsequence
of the reference's and the generation's tokens, tokenized and stemmed as `rouge_score` does, so
the highlighted count over the reference's tokens is the item's ROUGE-L recall. Every text is
HTML-escaped here and nowhere else; `redact` masks personal data before anything is shown.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from obliviate.eval.metrics.lume import _scorer
from obliviate.eval.uncertainty import document_of

# Masked in this order: an e-mail address holds digits a phone pattern would take.
PII_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("EMAIL", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    (
        "DATE",
        re.compile(
            r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"
            r"|\b(?:\d{1,2}\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
            r"(?:\s+\d{1,2}(?:st|nd|rd|th)?)?,?\s+\d{4}\b"
        ),
    ),
    ("PHONE", re.compile(r"(?<![\w-])(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?\d{3}[\s.-]?\d{4}\b")),
)

_WORD = re.compile(r"[A-Za-z0-9]+")  # rouge_score's tokens: lowercased runs of [a-z0-9]


def redact(text: str) -> str:
    """`text` with every e-mail address, SSN, date and phone number replaced by `[KIND]`."""
    for kind, pattern in PII_PATTERNS:
        text = pattern.sub(f"[{kind}]", text)
    return text


class _CachedStemmer:
    """rouge_score's Porter stemmer with a memory: the audit stems the same words thousands of times."""

    def __init__(self, stemmer):
        self.stem = lru_cache(maxsize=None)(stemmer.stem)


@lru_cache(maxsize=1)
def _stemmer() -> _CachedStemmer:
    return _CachedStemmer(_scorer()._tokenizer._stemmer)


def _tokens(text: str) -> tuple[list[str], list[tuple[int, int]]] | None:
    """ROUGE's (stemmed) tokens of `text` with their character spans; None if they cannot be aligned."""
    from rouge_score.tokenize import tokenize

    tokens = tokenize(text, _stemmer())  # what `_scorer()` scores, through the cached stemmer
    spans = [m.span() for m in _WORD.finditer(text)]
    return (tokens, spans) if len(tokens) == len(spans) else None


def lcs_matched(reference: Sequence[str], generation: Sequence[str]) -> set[int]:
    """Indices of the generation's tokens in one longest common subsequence with the reference."""
    n, m = len(reference), len(generation)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if reference[i] == generation[j]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    matched, i, j = set(), 0, 0
    while i < n and j < m:
        if reference[i] == generation[j]:
            matched.add(j)
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return matched


def highlighted(reference: str, generation: str) -> str:
    """The generation as escaped HTML, the tokens of its ROUGE-L match with the reference in <mark>."""
    ref, gen = _tokens(reference), _tokens(generation)
    if ref is None or gen is None:
        return html.escape(generation)
    matched = lcs_matched(ref[0], gen[0])
    out, last = [], 0
    for index, (begin, end) in enumerate(gen[1]):
        if index in matched:
            out.append(html.escape(generation[last:begin]))
            out.append(f"<mark>{html.escape(generation[begin:end])}</mark>")
            last = end
    out.append(html.escape(generation[last:]))
    return "".join(out)


def _lume_item(item: Mapping) -> Mapping:
    return item


def _question_item(protocol: str):
    """A TOFU / MUSE item in the audit's shape: its question set is the side, ROUGE-L its score
    (TOFU's stemmed recall; MUSE's unstemmed F1 × 100, shown / 100)."""

    def shaped(item: Mapping) -> Mapping | None:
        if "generation" not in item:  # TOFU's holdout: likelihood only
            return None
        score = item["rouge"] if protocol == "tofu" else item["score"] / 100
        return {
            **item,
            "task": protocol.upper(),
            "kind": "sc",
            "document": item["id"],
            "input": item.get("question", item.get("prompt", "")),
            "reference": item.get("reference", item.get("answer", "")),
            "score": score,
        }

    return shaped


def audit_rows(results: Mapping[str, Mapping], redact_pii: bool = False) -> list[dict]:
    """One entry per (prompt, row), prompts in split order and rows in leaderboard order: the
    escaped prompt, reference and highlighted generation, with the item's score."""
    show = redact if redact_pii else (lambda text: text)
    entries = []
    prompts: dict[tuple[str, str], list[tuple[str, Mapping]]] = {}
    for row, result in results.items():
        protocol = result.get("protocol", "lume")
        shaped = _lume_item if protocol == "lume" else _question_item(protocol)
        for side, items in (result.get("items") or {}).items():
            if not isinstance(items, list):  # MUSE's privleak scores
                continue
            for item in map(shaped, items):
                if item is not None:
                    prompts.setdefault((side, item["id"]), []).append((row, item))
    for (side, _), per_row in prompts.items():
        for row, item in per_row:
            reference, generation = show(item["reference"]), show(item["generation"])
            exact = item["kind"] == "qa"
            entries.append(
                {
                    "side": side,
                    "task": item["task"],
                    "kind": item["kind"],
                    "id": item["id"],
                    "document": document_of(item),
                    "row": row,
                    "score": float(item["score"]),
                    "metric": "EM" if exact else "ROUGE-L",
                    "prompt": html.escape(show(item["input"])),
                    "reference": html.escape(reference),
                    "generation": (
                        (
                            f"<mark>{html.escape(generation)}</mark>"
                            if item["score"]
                            else html.escape(generation)
                        )
                        if exact
                        else highlighted(reference, generation)
                    ),
                }
            )
    return entries
