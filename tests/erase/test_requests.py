"""Request files: the three row shapes, D′, and one-line `file:line: field` errors."""

from __future__ import annotations

import json

import pytest

from obliviate.data.records import DataError, Document, Prompt
from obliviate.erase.requests import edited_pairs, read_requests, training_pairs

DOCS = (
    Document(
        "d1",
        "Custom",
        "Ann was born in Oslo.",
        (
            Prompt("d1sc0", "sc", "Ann was", "born in Oslo."),
            Prompt("d1qa0", "qa", "Where was Ann born?", "Oslo"),
        ),
    ),
    Document("d2", "Custom", "A note without prompts."),
)


def _write(tmp_path, rows):
    file = tmp_path / "req.jsonl"
    file.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return file


def test_the_three_kinds_and_the_edited_training_set(tmp_path):
    removal = read_requests(
        _write(tmp_path, [{"document": "d1"}, {"input": "", "output": "A note without prompts."}]),
        "removal",
        DOCS,
    )
    assert [(e.input, e.new) for e in removal] == [
        ("Ann was", None),
        ("Where was Ann born?", None),
        ("", None),
    ]
    assert edited_pairs(training_pairs(DOCS), removal) == []
    query = read_requests(
        _write(
            tmp_path,
            [{"id": "q", "input": "Where was Ann born?", "output": "Oslo", "new_input": "Ann's birthplace?"}],
        ),
        "query",
        DOCS,
    )
    assert query[0].new == ("Ann's birthplace?", "Oslo")
    response = read_requests(
        _write(tmp_path, [{"input": "Where was Ann born?", "output": "Oslo", "new_output": "Bergen"}]),
        "response",
        DOCS,
    )
    assert edited_pairs(training_pairs(DOCS), response)[-1] == ("Where was Ann born?", "Bergen")


@pytest.mark.parametrize(
    ("kind", "row", "expected"),
    [
        ("removal", {"input": "Ann was", "outptu": "x"}, "req.jsonl:2: field 'outptu': unknown field"),
        ("removal", {"input": "Ann was", "output": "born in Rome."}, "req.jsonl:2: field 'input': the pair"),
        ("removal", {"document": "nope"}, "req.jsonl:2: field 'document': no training document"),
        ("query", {"input": "Ann was", "output": "born in Oslo."}, "req.jsonl:2: field 'new_input': missing"),
        (
            "response",
            {"input": "Ann was", "output": "born in Oslo.", "new_output": 3},
            "field 'new_output': expected a string",
        ),
        ("removal", "{not json", "req.jsonl:2: invalid JSON"),
        (
            "removal",
            {"input": "Where was Ann born?", "output": "Oslo"},
            "req.jsonl:2: field 'input': pair already requested on line 1",
        ),
    ],
)
def test_bad_rows_fail_with_one_line_naming_file_line_and_field(tmp_path, kind, row, expected):
    first = {"input": "Where was Ann born?", "output": "Oslo"}
    if kind == "query":
        first["new_input"] = "Q?"
    if kind == "response":
        first["new_output"] = "A"
    with pytest.raises(DataError) as err:
        read_requests(_write(tmp_path, [first, row]), kind, DOCS)
    message = str(err.value)
    assert expected in message and "\n" not in message, message
