"""The records of `obliviate forget`: what the user wants removed, as documents that can be asked
back, the look-alikes they are told apart from, and the hashes a model card names them by.

    docs = read_records(Path("forget.jsonl"))      # JSONL rows (--data's shapes, strings) or .txt lines
    asked = [with_prompt(d) for d in docs]        # a plain text gets one completion prompt
    fakes = look_alikes(asked)                    # its entities replaced: never trained on

A forget file holds the row shapes of `obliviate.data.jsonl` (a document, a QA pair, a document
with prompts), plain JSON strings, or, for a `.txt` file, one record per non-blank line. Every error
names the file, the line and the field.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import asdict
from pathlib import Path

from obliviate.data.jsonl import DEFAULT_TASK, read_documents
from obliviate.data.records import DataError, Document, MiaDocument, Prompt

# A plain text is asked back from its start: the prompt is what comes before the last
# CONTINUATION_WORDS words (at most half the text), the reference what follows.
CONTINUATION_WORDS = 40
_WORD = re.compile(r"\S+")


def read_records(file: Path) -> tuple[Document, ...]:
    """The documents of a forget / retain file (see the module docstring); an empty file is an error."""
    file = Path(file)
    if file.suffix == ".txt":
        docs = _text_lines(file)
    else:
        docs = read_documents(file, strings=True)
    if not docs:
        raise DataError(f"{file}: empty file (no records)")
    for line, doc in docs:
        if not doc.prompts and len(_WORD.findall(doc.text)) < 2:
            raise DataError(
                f"{file}:{line}: field 'text': one word cannot be asked back (give a longer text, "
                "or a question and answer)"
            )
    return tuple(doc for _, doc in docs)


def _text_lines(file: Path) -> list[tuple[int, Document]]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{file}: no such file") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{file}: not valid UTF-8 (byte {err.start})") from None
    return [
        (n, Document(id=f"line{n}", task=DEFAULT_TASK, text=line.strip()))
        for n, line in enumerate(text.split("\n"), start=1)
        if line.strip()
    ]


def with_prompt(doc: Document) -> Document:
    """The document with prompts to ask it back: its own, or one completion prompt (`sc0`) that
    ends where the last `CONTINUATION_WORDS` words (at most half the words) begin."""
    if doc.prompts:
        return doc
    spans = [m.span() for m in _WORD.finditer(doc.text)]
    cut = max(len(spans) - CONTINUATION_WORDS, len(spans) // 2)
    start = spans[cut][0]
    prompt = Prompt(id=f"{doc.id}sc0", kind="sc", input=doc.text[:start].rstrip(), output=doc.text[start:])
    return Document(id=doc.id, task=doc.task, text=doc.text, prompts=(prompt,))


def record_hash(doc: Document) -> str:
    """sha256 of the record as read (id, task, text, prompts): how a model card names a removed
    record without its text."""
    return hashlib.sha256(json.dumps(asdict(doc), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# Entities a look-alike replaces: runs of capitalised words, and numbers.
_ENTITY = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*\b|\b\d+(?:[.,:/-]\d+)*\b")


def _replacement_words() -> tuple[str, ...]:
    from obliviate.data import synthetic_words as w

    return (*w.FEMALE_FIRST_NAMES, *w.MALE_FIRST_NAMES, *w.SURNAMES, *w.TOWNS)


def look_alike(text: str, rng: random.Random) -> str:
    """`text` with its entities replaced: each run of capitalised words (except a sentence's first
    word alone) by as many words from the synthetic benchmark's invented names and towns, each digit
    of a number by another digit. A text without entities gets its last word replaced."""
    pool = _replacement_words()

    def swap(match: re.Match) -> str:
        found = match.group(0)
        if found[0].isdigit():
            return "".join(str((int(c) + rng.randrange(1, 10)) % 10) if c.isdigit() else c for c in found)
        words = found.split()
        before = text[: match.start()].rstrip()
        if len(words) == 1 and (not before or before[-1] in ".!?\n"):
            return found  # capitalised because it starts a sentence
        return " ".join(rng.choice([p for p in pool if p != w]) for w in words)

    out = _ENTITY.sub(swap, text)
    if out == text:
        last = list(_WORD.finditer(text))[-1]
        out = text[: last.start()] + rng.choice(pool) + text[last.end() :]
    return out


def look_alikes(docs: tuple[Document, ...], seed: int = 0) -> tuple[MiaDocument, ...]:
    """One never-trained look-alike per forget document (seeded by the seed and the record), the
    non-members its membership test compares against."""
    return tuple(
        MiaDocument(
            id=f"{doc.id}:look-alike", text=look_alike(doc.text, random.Random(f"{seed}:{record_hash(doc)}"))
        )
        for doc in docs
    )


def read_look_alikes(file: Path) -> tuple[MiaDocument, ...]:
    """A user's own look-alikes: rows of a forget file (their texts), as non-members."""
    return tuple(MiaDocument(id=f"{d.id}:look-alike", text=d.text) for d in read_records(file))
