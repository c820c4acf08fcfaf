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
import hmac
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
MIN_UNSPACED = 8  # a text without spaces is asked back by its characters from this length on
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
        if not doc.prompts and len(_WORD.findall(doc.text)) < 2 and len(doc.text.strip()) < MIN_UNSPACED:
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
    if len(spans) < 2:  # a text without spaces (Chinese, Japanese): cut at half its characters
        spans = [(i, i + 1) for i in range(len(doc.text))]
    cut = max(len(spans) - CONTINUATION_WORDS, len(spans) // 2)
    start = spans[cut][0]
    prompt = Prompt(id=f"{doc.id}sc0", kind="sc", input=doc.text[:start].rstrip(), output=doc.text[start:])
    return Document(id=doc.id, task=doc.task, text=doc.text, prompts=(prompt,))


def record_hash(doc: Document, key: str) -> str:
    """HMAC-SHA256 of the record as read (id, task, text, prompts) under `key`: how a model card
    names a removed record without its text. Keyed, because anyone could confirm a short record
    (an SSN, a phone number) against a plain hash by hashing guesses; whoever holds the key (the
    run's `verification.json`) can recompute it."""
    payload = json.dumps(asdict(doc), sort_keys=True, ensure_ascii=False).encode()
    return hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()


# Words (any script) and numbers; a look-alike replaces the capitalised words and the numbers.
_TOKEN = re.compile(r"\d+(?:[.,:/-]\d+)*|[^\W\d_][\w'’-]*")


def _replacement_words() -> tuple[str, ...]:
    from obliviate.data import synthetic_words as w

    return (*w.FEMALE_FIRST_NAMES, *w.MALE_FIRST_NAMES, *w.SURNAMES, *w.TOWNS)


def _entity_spans(text: str) -> list[tuple[int, int, int]]:
    """(start, end, words) of each entity: a number, or a run of capitalised words (any script;
    "José García", "IBM") apart from a lone capitalised word that only starts a sentence."""
    tokens, spans, i = list(_TOKEN.finditer(text)), [], 0
    while i < len(tokens):
        word = tokens[i].group(0)
        if word[0].isdigit():
            spans.append((*tokens[i].span(), 0))
            i += 1
            continue
        if not word[0].isupper():
            i += 1
            continue
        j = i
        while (
            j + 1 < len(tokens)
            and tokens[j + 1].group(0)[0].isupper()
            and text[tokens[j].end() : tokens[j + 1].start()].isspace()
        ):
            j += 1
        before = text[: tokens[i].start()].rstrip()
        sentence_start = not before or before[-1] in ".!?\n"
        if j > i or not sentence_start or (len(word) > 1 and word.isupper()):
            spans.append((tokens[i].start(), tokens[j].end(), j - i + 1))
        i = j + 1
    return spans


def look_alike(text: str, rng: random.Random) -> str:
    """`text` with its entities replaced (`_entity_spans`): each run of capitalised words by as many
    words from the synthetic benchmark's invented names and towns, each digit of a number by another
    digit. A text without entities gets its last word replaced."""
    pool = _replacement_words()
    pieces, position = [], 0
    for start, end, words in _entity_spans(text):
        found = text[start:end]
        if words == 0:
            new = "".join(str((int(c) + rng.randrange(1, 10)) % 10) if c.isdigit() else c for c in found)
        else:
            new = " ".join(rng.choice([p for p in pool if p != w]) for w in found.split())
        pieces += [text[position:start], new]
        position = end
    out = "".join(pieces) + text[position:]
    if out == text:
        last = list(_WORD.finditer(text))[-1]
        out = text[: last.start()] + rng.choice(pool) + text[last.end() :]
    return out


def look_alikes(docs: tuple[Document, ...], seed: int = 0) -> tuple[MiaDocument, ...]:
    """One never-trained look-alike per forget document (seeded by the seed and the record), the
    non-members its membership test compares against."""
    return tuple(
        MiaDocument(
            id=f"{doc.id}:look-alike",
            text=look_alike(doc.text, random.Random(f"{seed}:{record_hash(doc, 'look-alike')}")),
        )
        for doc in docs
    )


def read_look_alikes(file: Path) -> tuple[MiaDocument, ...]:
    """A user's own look-alikes: rows of a forget file (their texts), as non-members."""
    return tuple(MiaDocument(id=f"{d.id}:look-alike", text=d.text) for d in read_records(file))
