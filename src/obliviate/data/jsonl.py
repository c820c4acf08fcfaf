"""Load a practitioner's own forget/retain data from JSONL files into `Benchmark` records.

    load_jsonl(Path("my_data"))  # reads my_data/forget.jsonl and, if present, the files below

Layout: a directory holding

    forget.jsonl                  required, at least one row
    retain.jsonl                  optional; absent or empty means no retain documents
    member.jsonl, nonmember.jsonl optional, both or neither: `{"id": ..., "text": ...}` rows for MIA
    probes.jsonl                  optional, read by `load_benchmark` (see probes.py)

Everything lands in one split, `train`; the benchmark is named `jsonl:<directory name>`.

A row of forget.jsonl / retain.jsonl is one of three shapes, mixable in one file:

    {"id": "d1", "text": "..."}
        a document without prompts: training uses the whole text
    {"id": "d2", "question": "...", "answer": "..."}
        a QA pair: text = question + " " + answer, one qa prompt with id "d2qa0"
    {"id": "d3", "text": "...", "prompts": [{"input": "...", "output": "...", "kind": "sc"}, ...]}
        a document with prompts; a prompt's id is the document id + kind + its index among the
        document's prompts of that kind, counted from 0: d3sc0, d3qa0, d3qa1, ...

Any row may add `"task": "<non-empty string>"` (default "Custom"); reports group documents by task.
Unknown fields are errors, so a typo ("qestion") fails instead of silently dropping data; so is a
field given twice in one object (JSON parsers keep the last). Every error is a `DataError` whose
one-line message names the file, the 1-based line and the field.

This module also holds the JSONL reading the LUME, TOFU and MUSE loaders share (`read_rows`,
`string_field`, `reject_unknown_fields`, `read_mia`, and `read_records`, which also reads a file
holding one JSON array).

Test: PYTHONPATH=src python -m pytest tests/data/test_jsonl.py -q
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path
from typing import Any

from obliviate.data.records import (
    Benchmark,
    DataError,
    Document,
    MiaDocument,
    Prompt,
    PromptKind,
    Split,
    check_benchmark,
)

DEFAULT_TASK = "Custom"
DOCUMENT_FIELDS = ("id", "text", "task", "prompts")
QA_FIELDS = ("id", "question", "answer", "task")
PROMPT_FIELDS = ("input", "output", "kind")
PROMPT_KINDS: tuple[PromptKind, ...] = ("sc", "qa")
MIA_FIELDS = ("id", "text")

Row = dict[str, Any]


# --- JSONL reading shared with lume.py -------------------------------------------------------------


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages ("array", not "list")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


class _DuplicateField(Exception):
    """A JSON object names a field twice (the field's name is the argument)."""


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads` hook: plain `json.loads` keeps the last of two equal keys, silently dropping data."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateField(key)
            seen.add(key)
    return obj


def decode_utf8(file: Path, data: bytes) -> str:
    """`data` as UTF-8, or a one-line error naming the line and column of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - data.rfind(b"\n", 0, err.start)
        raise DataError(
            f"{file}:{line}: not valid UTF-8: byte 0x{data[err.start]:02x} at column {column}"
        ) from None


def read_rows(file: Path, strings: bool = False) -> list[tuple[int, Row | str]]:
    """(1-based line number, object) for every non-blank line of a UTF-8 JSONL file.

    A missing file, undecodable bytes, invalid JSON, a field given twice in one object and a line
    that is not an object (nor, with `strings`, a JSON string) are errors.
    Lines are split on "\\n" only: `str.splitlines` would also split on U+2028 and similar
    separators, which JSON allows raw inside strings.
    """
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{file}: no such file") from None
    except OSError as err:
        raise DataError(f"{file}: cannot read: {err.strerror}") from None
    if data.startswith(codecs.BOM_UTF8):  # written by some Windows editors; not part of the JSON
        data = data[len(codecs.BOM_UTF8) :]
    text = decode_utf8(file, data)
    rows: list[tuple[int, Row]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, object_pairs_hook=_object_without_duplicates)
        except json.JSONDecodeError as err:
            raise DataError(f"{file}:{lineno}: invalid JSON: {err.msg} at column {err.colno}") from None
        except _DuplicateField as err:
            raise DataError(f"{file}:{lineno}: field {err.args[0]!r}: given twice in one object") from None
        if strings and isinstance(obj, str):
            if not obj.strip():
                raise DataError(f"{file}:{lineno}: empty string")
        elif not isinstance(obj, dict):
            expected = "a JSON object or string" if strings else "a JSON object"
            raise DataError(f"{file}:{lineno}: expected {expected}, got {json_type(obj)}")
        rows.append((lineno, obj))
    return rows


def string_field(row: Row, name: str, where: str, *, non_empty: bool = False, label: str = "") -> str:
    """`row[name]`, which must be present and a string (and not blank if `non_empty`).

    `where` is "file:line"; `label` is the field as the message names it (default `name`).
    """
    label = label or name
    if name not in row:
        raise DataError(f"{where}: field {label!r}: missing")
    value = row[name]
    if not isinstance(value, str):
        raise DataError(f"{where}: field {label!r}: expected a string, got {json_type(value)}")
    if non_empty and not value.strip():
        raise DataError(f"{where}: field {label!r}: empty")
    return value


def reject_unknown_fields(
    row: Row, allowed: tuple[str, ...], where: str, *, what: str, prefix: str = ""
) -> None:
    """Fail on the first field of `row` not in `allowed`: a typo must not drop data silently."""
    for name in row:
        if name not in allowed:
            raise DataError(
                f"{where}: field {prefix + name!r}: unknown field (a {what} has {', '.join(allowed)})"
            )


def read_mia(file: Path, text_field: str) -> list[tuple[int, MiaDocument]]:
    """(line, MiaDocument) for each row `{"id": ..., <text_field>: ...}` of a non-empty MIA file."""
    rows = read_rows(file)
    if not rows:
        raise DataError(f"{file}: empty file (no rows)")
    allowed = ("id", text_field)
    docs: list[tuple[int, MiaDocument]] = []
    first_line: dict[str, int] = {}
    for lineno, row in rows:
        where = f"{file}:{lineno}"
        reject_unknown_fields(row, allowed, where, what="membership-inference row")
        doc_id = string_field(row, "id", where, non_empty=True)
        text = string_field(row, text_field, where, non_empty=True)
        if doc_id in first_line:
            raise DataError(
                f"{where}: field 'id': duplicate id {doc_id!r} (first on line {first_line[doc_id]})"
            )
        first_line[doc_id] = lineno
        docs.append((lineno, MiaDocument(id=doc_id, text=text)))
    return docs


def check_mia_disjoint(
    member_file: Path,
    member: list[tuple[int, MiaDocument]],
    nonmember_file: Path,
    nonmember: list[tuple[int, MiaDocument]],
) -> None:
    """A document cannot be both a member and a non-member."""
    member_lines = {doc.id: line for line, doc in member}
    for line, doc in nonmember:
        if doc.id in member_lines:
            raise DataError(
                f"{nonmember_file}:{line}: field 'id': {doc.id!r} is also a member "
                f"({member_file}:{member_lines[doc.id]})"
            )


# --- the practitioner's format ---------------------------------------------------------------------


def _prompts(row: Row, doc_id: str, where: str) -> tuple[Prompt, ...]:
    raw = row.get("prompts", [])
    if not isinstance(raw, list):
        raise DataError(f"{where}: field 'prompts': expected an array, got {json_type(raw)}")
    counts = dict.fromkeys(PROMPT_KINDS, 0)
    prompts: list[Prompt] = []
    for index, item in enumerate(raw):
        label = f"prompts[{index}]"
        if not isinstance(item, dict):
            raise DataError(f"{where}: field {label!r}: expected an object, got {json_type(item)}")
        reject_unknown_fields(item, PROMPT_FIELDS, where, what="prompt", prefix=f"{label}.")
        kind = string_field(item, "kind", where, label=f"{label}.kind")
        if kind not in PROMPT_KINDS:
            raise DataError(
                f"{where}: field '{label}.kind': unknown kind {kind!r} (expected {', '.join(PROMPT_KINDS)})"
            )
        input_ = string_field(item, "input", where, non_empty=True, label=f"{label}.input")
        output = string_field(item, "output", where, non_empty=True, label=f"{label}.output")
        prompts.append(Prompt(id=f"{doc_id}{kind}{counts[kind]}", kind=kind, input=input_, output=output))
        counts[kind] += 1
    return tuple(prompts)


def _document(row: Row, where: str) -> Document:
    """One row in any of the three shapes (see the module docstring) as a Document."""
    is_qa = "question" in row or "answer" in row
    if is_qa:
        reject_unknown_fields(row, QA_FIELDS, where, what="question/answer row")
    else:
        reject_unknown_fields(row, DOCUMENT_FIELDS, where, what="document row")
    doc_id = string_field(row, "id", where, non_empty=True)
    task = string_field(row, "task", where, non_empty=True) if "task" in row else DEFAULT_TASK
    if is_qa:
        question = string_field(row, "question", where, non_empty=True)
        answer = string_field(row, "answer", where, non_empty=True)
        prompt = Prompt(id=f"{doc_id}qa0", kind="qa", input=question, output=answer)
        return Document(id=doc_id, task=task, text=f"{question} {answer}", prompts=(prompt,))
    if "text" not in row:
        raise DataError(f"{where}: field 'text': missing (a row needs 'text', or 'question' and 'answer')")
    text = string_field(row, "text", where, non_empty=True)
    return Document(id=doc_id, task=task, text=text, prompts=_prompts(row, doc_id, where))


def read_documents(file: Path, strings: bool = False) -> list[tuple[int, Document]]:
    """(line, Document) of every row of a forget / retain file. With `strings`, a row may also be a
    plain JSON string: a prompt-less document with id `line<N>`."""
    docs: list[tuple[int, Document]] = []
    first_line: dict[str, int] = {}
    for lineno, row in read_rows(file, strings):
        where = f"{file}:{lineno}"
        if isinstance(row, str):
            doc = Document(id=f"line{lineno}", task=DEFAULT_TASK, text=row)
        else:
            doc = _document(row, where)
        if doc.id in first_line:
            raise DataError(
                f"{where}: field 'id': duplicate id {doc.id!r} (first on line {first_line[doc.id]})"
            )
        first_line[doc.id] = lineno
        docs.append((lineno, doc))
    return docs


def load_jsonl(path: Path) -> Benchmark:
    """Read a directory of practitioner JSONL files (layout and row shapes in the module docstring)."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: no such directory")
    forget_file = path / "forget.jsonl"
    forget = read_documents(forget_file)
    if not forget:
        raise DataError(f"{forget_file}: empty file (the forget set needs at least one row)")

    retain_file = path / "retain.jsonl"
    retain = read_documents(retain_file) if retain_file.exists() else []
    forget_lines = {doc.id: line for line, doc in forget}
    for line, doc in retain:
        if doc.id in forget_lines:
            raise DataError(
                f"{retain_file}:{line}: field 'id': document {doc.id!r} is also in "
                f"{forget_file}:{forget_lines[doc.id]} (a document cannot be in both forget and retain)"
            )

    member_file, nonmember_file = path / "member.jsonl", path / "nonmember.jsonl"
    member: list[tuple[int, MiaDocument]] = []
    nonmember: list[tuple[int, MiaDocument]] = []
    if member_file.exists() or nonmember_file.exists():
        # One side alone is a mistake, not "no MIA": read_rows reports the missing file.
        member = read_mia(member_file, "text")
        nonmember = read_mia(nonmember_file, "text")
        check_mia_disjoint(member_file, member, nonmember_file, nonmember)

    split = Split(
        forget=tuple(doc for _, doc in forget),
        retain=tuple(doc for _, doc in retain),
        member=tuple(doc for _, doc in member),
        nonmember=tuple(doc for _, doc in nonmember),
    )
    benchmark = Benchmark(name=f"jsonl:{path.resolve().name}", splits={"train": split})
    return check_benchmark(benchmark, str(path))


# JSON arrays as well as JSON Lines (the TOFU and MUSE releases ship both)
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _position(text: str, pos: int) -> str:
    """`line L, column C` (1-based) of character `pos` of `text`."""
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    return f"line {line}, column {column}"


def _array_elements(file: Path, text: str) -> list[object]:
    """The elements of the JSON array `text`, decoded one at a time so that a field given twice
    names its element."""
    decoder = json.JSONDecoder(object_pairs_hook=_object_without_duplicates)
    pos = _JSON_WHITESPACE.match(text, text.index("[") + 1).end()  # only blanks come before the "["
    elements: list[object] = []
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            try:
                value, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as err:
                raise DataError(f"{file}: invalid JSON at {_position(text, err.pos)}: {err.msg}") from None
            except _DuplicateField as err:
                raise DataError(
                    f"{file}:{len(elements) + 1}: field {err.args[0]!r}: given twice in one object"
                ) from None
            elements.append(value)
            pos = _JSON_WHITESPACE.match(text, pos).end()
            if text.startswith(",", pos):
                pos = _JSON_WHITESPACE.match(text, pos + 1).end()
            elif text.startswith("]", pos):
                pos += 1
                break
            else:
                raise DataError(f"{file}: invalid JSON at {_position(text, pos)}: expected ',' or ']'")
    pos = _JSON_WHITESPACE.match(text, pos).end()
    if pos < len(text):
        raise DataError(f"{file}: invalid JSON at {_position(text, pos)}: extra data after the array")
    return elements


def read_records(file: Path, strings: bool = False) -> list[tuple[int, Row | str]]:
    """(number, object) for every record of `file`: a JSON array or JSON Lines, told apart by the
    first non-blank character (`[` is an array).

    For JSON Lines the number is the 1-based line (`read_rows`); for an array it is the element's
    1-based position, so `file:3` names the third element. Elements must be objects (or, with
    `strings`, non-blank strings), as `read_rows` requires of lines.
    """
    try:
        data = file.read_bytes()
    except OSError:
        return read_rows(file, strings)  # it names the missing or unreadable file
    if not data.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"["):
        return read_rows(file, strings)
    data = data.removeprefix(codecs.BOM_UTF8)
    text = decode_utf8(file, data)
    records: list[tuple[int, Row | str]] = []
    for number, value in enumerate(_array_elements(file, text), start=1):
        if strings and isinstance(value, str):
            if not value.strip():
                raise DataError(f"{file}:{number}: empty string")
        elif not isinstance(value, dict):
            expected = "a JSON object or string" if strings else "a JSON object"
            raise DataError(f"{file}:{number}: expected {expected}, got {json_type(value)}")
        records.append((number, value))
    return records
