"""Tests for the practitioner JSONL loader and the `load_benchmark` dispatch to it.

Every test writes tiny files into tmp_path.

Run: PYTHONPATH=src python -m pytest tests/data/test_jsonl.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from obliviate.data import (
    DataError,
    Document,
    MiaDocument,
    Prompt,
    load_benchmark,
    load_jsonl,
    require_prompts,
)


def _write(file: Path, rows: list) -> Path:
    """Write `rows` one per line: a string verbatim (bad JSON, blank lines), anything else as JSON."""
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return file


def _load(tmp_path: Path, forget: list, retain: list | None = None):
    _write(tmp_path / "forget.jsonl", forget)
    if retain is not None:
        _write(tmp_path / "retain.jsonl", retain)
    return load_jsonl(tmp_path)


# --- round trips ----------------------------------------------------------------------------------


def test_each_row_format_round_trips(tmp_path):
    forget = [
        {"id": "plain", "text": "A whole document."},
        {"id": "pair", "question": "Who wrote it?", "answer": "Ada", "task": "people"},
        {
            "id": "rich",
            "text": "Ada wrote the note in 1843.",
            "prompts": [
                {"input": "Ada wrote", "output": "the note in 1843.", "kind": "sc"},
                {"input": "Who wrote the note?", "output": "Ada", "kind": "qa"},
                {"input": "When?", "output": "1843", "kind": "qa"},
            ],
        },
    ]
    bench = _load(tmp_path, forget, [{"id": "kept", "text": "Something to keep."}])
    assert bench.name == f"jsonl:{tmp_path.name}"
    assert list(bench.splits) == ["train"]
    split = bench.split("train")
    assert split.forget == (
        Document(id="plain", task="Custom", text="A whole document."),
        Document(
            id="pair",
            task="people",
            text="Who wrote it? Ada",
            prompts=(Prompt(id="pairqa0", kind="qa", input="Who wrote it?", output="Ada"),),
        ),
        Document(
            id="rich",
            task="Custom",
            text="Ada wrote the note in 1843.",
            prompts=(
                Prompt(id="richsc0", kind="sc", input="Ada wrote", output="the note in 1843."),
                Prompt(id="richqa0", kind="qa", input="Who wrote the note?", output="Ada"),
                Prompt(id="richqa1", kind="qa", input="When?", output="1843"),
            ),
        ),
    )
    assert split.retain == (Document(id="kept", task="Custom", text="Something to keep."),)
    assert split.member == () and split.nonmember == ()


def test_retain_absent_or_empty_and_mia(tmp_path):
    bench = _load(tmp_path, [{"id": "a", "text": "x"}])
    assert bench.split("train").retain == ()
    _write(tmp_path / "retain.jsonl", [])
    _write(tmp_path / "member.jsonl", [{"id": "m1", "text": "seen"}, {"id": "m2", "text": "seen too"}])
    _write(tmp_path / "nonmember.jsonl", [{"id": "n1", "text": "never seen"}])
    split = load_jsonl(tmp_path).split("train")
    assert split.retain == ()
    assert split.member == (MiaDocument("m1", "seen"), MiaDocument("m2", "seen too"))
    assert split.nonmember == (MiaDocument("n1", "never seen"),)


def test_fingerprint_follows_content(tmp_path):
    first = _load(tmp_path, [{"id": "a", "text": "x"}]).fingerprint()
    assert _load(tmp_path, [{"id": "a", "text": "x"}]).fingerprint() == first
    assert _load(tmp_path, [{"id": "a", "text": "y"}]).fingerprint() != first


def test_dispatch(tmp_path):
    _write(tmp_path / "forget.jsonl", ["", {"id": "a", "text": "x"}])
    assert load_benchmark(str(tmp_path)).name == f"jsonl:{tmp_path.name}"
    with pytest.raises(DataError, match=r"absent: no such directory$"):
        load_benchmark(tmp_path / "absent")
    with pytest.raises(DataError, match="not a directory"):
        load_benchmark(tmp_path / "forget.jsonl")
    (tmp_path / "forget.jsonl").unlink()
    with pytest.raises(DataError, match="no benchmark files"):
        load_benchmark(tmp_path)


# --- bad input ------------------------------------------------------------------------------------

FORGET = "forget.jsonl"
OK = {"id": "ok", "text": "fine"}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([OK, "{not json"], [f"{FORGET}:2: invalid JSON: Expecting property name"], id="json"),
        pytest.param(
            [OK, '"a string"'], [f"{FORGET}:2: expected a JSON object, got string"], id="not-object"
        ),
        pytest.param([{"text": "x"}], [f"{FORGET}:1: field 'id': missing"], id="missing-id"),
        pytest.param(
            [{"id": 7, "text": "x"}], [f"{FORGET}:1: field 'id': expected a string, got number"], id="id"
        ),
        pytest.param([{"id": "a"}], [f"{FORGET}:1: field 'text': missing"], id="missing-text"),
        pytest.param([{"id": "a", "text": " "}], [f"{FORGET}:1: field 'text': empty"], id="empty-text"),
        pytest.param(
            [{"id": "a", "text": "x", "taks": "t"}], [f"{FORGET}:1: field 'taks': unknown field"], id="typo"
        ),
        pytest.param(
            [{"id": "a", "qestion": "q", "answer": "x"}],
            [f"{FORGET}:1: field 'qestion': unknown field", "question/answer row"],
            id="qa-typo",
        ),
        pytest.param(
            [{"id": "a", "question": "q", "answer": "x", "text": "t"}],
            [f"{FORGET}:1: field 'text': unknown field"],
            id="qa-with-text",
        ),
        pytest.param(
            [{"id": "a", "question": "q"}], [f"{FORGET}:1: field 'answer': missing"], id="no-answer"
        ),
        pytest.param(
            [{"id": "a", "text": "x", "task": ""}], [f"{FORGET}:1: field 'task': empty"], id="empty-task"
        ),
        pytest.param(
            [{"id": "a", "text": "x", "task": None}],
            [f"{FORGET}:1: field 'task': expected a string, got null"],
            id="null-task",
        ),
        pytest.param(
            [{"id": "a", "text": "x", "prompts": {}}],
            [f"{FORGET}:1: field 'prompts': expected an array, got object"],
            id="prompts-type",
        ),
        pytest.param(
            [{"id": "a", "text": "x", "prompts": [{"input": "i", "output": "o", "kind": "mc"}]}],
            [f"{FORGET}:1: field 'prompts[0].kind': unknown kind 'mc' (expected sc, qa)"],
            id="prompt-kind",
        ),
        pytest.param(
            [
                {
                    "id": "a",
                    "text": "x",
                    "prompts": [{"input": "i", "output": "o", "kind": "qa", "answer": "o"}],
                }
            ],
            [f"{FORGET}:1: field 'prompts[0].answer': unknown field"],
            id="prompt-extra",
        ),
        pytest.param(
            [{"id": "a", "text": "x", "prompts": [{"input": "i", "kind": "qa"}]}],
            [f"{FORGET}:1: field 'prompts[0].output': missing"],
            id="prompt-missing",
        ),
        pytest.param(
            [{"id": "a", "text": "x", "prompts": ["i"]}],
            [f"{FORGET}:1: field 'prompts[0]': expected an object, got string"],
            id="prompt-not-object",
        ),
        pytest.param(
            [OK, {"id": "b", "text": "x"}, {"id": "ok", "question": "q", "answer": "a"}],
            [f"{FORGET}:3: field 'id': duplicate id 'ok' (first on line 1)"],
            id="duplicate",
        ),
        pytest.param(
            [OK, '{"id": "a", "text": "x", "id": "b"}'],
            [f"{FORGET}:2: field 'id': given twice in one object"],
            id="duplicate-field",
        ),
        pytest.param(
            [
                '{"id": "a", "text": "x", "prompts": '
                '[{"input": "i", "output": "o", "kind": "sc", "kind": "qa"}]}'
            ],
            [f"{FORGET}:1: field 'kind': given twice in one object"],
            id="duplicate-prompt-field",
        ),
        pytest.param([], [f"{FORGET}: empty file"], id="empty"),
        pytest.param(["", ""], [f"{FORGET}: empty file"], id="blank"),
    ],
)
def test_bad_forget_file(tmp_path, rows, expected):
    with pytest.raises(DataError) as err:
        _load(tmp_path, rows)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / FORGET))
    for part in expected:
        assert part in message


def test_bad_retain_file_names_retain(tmp_path):
    with pytest.raises(DataError, match=r"retain\.jsonl:2: field 'answer': expected a string, got array"):
        _load(tmp_path, [OK], [{"id": "r", "text": "x"}, {"id": "s", "question": "q", "answer": ["a"]}])


def test_id_in_forget_and_retain_names_both_files(tmp_path):
    with pytest.raises(DataError) as err:
        _load(tmp_path, [{"id": "x", "text": "x"}, OK], [{"id": "r", "text": "r"}, {"id": "ok", "text": "o"}])
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'retain.jsonl'}:2: field 'id': document 'ok' is also in")
    assert f"{tmp_path / 'forget.jsonl'}:2" in message
    assert "both forget and retain" in message


def test_missing_forget_file(tmp_path):
    _write(tmp_path / "retain.jsonl", [OK])
    with pytest.raises(DataError, match=r"forget\.jsonl: no such file"):
        load_jsonl(tmp_path)


def test_undecodable_bytes(tmp_path):
    (tmp_path / "forget.jsonl").write_bytes(b'{"id": "a", "text": "x"}\n{"id": "b", "text": "\xff"}\n')
    with pytest.raises(DataError, match=r"forget\.jsonl:2: not valid UTF-8: byte 0xff at column 22"):
        load_jsonl(tmp_path)


def test_byte_order_mark_and_line_separator_inside_strings(tmp_path):
    """A BOM is skipped; a raw U+2028 inside a JSON string does not split the line."""
    line = json.dumps({"id": "a", "text": "one\u2028two"}, ensure_ascii=False)
    (tmp_path / "forget.jsonl").write_bytes(b"\xef\xbb\xbf" + line.encode() + b"\n")
    assert load_jsonl(tmp_path).split("train").forget[0].text == "one\u2028two"


@pytest.mark.parametrize(
    ("member", "nonmember", "expected"),
    [
        pytest.param([{"id": "m", "text": "t"}], None, "nonmember.jsonl: no such file", id="half"),
        pytest.param(
            [{"id": "m", "document": "t"}],
            [{"id": "n", "text": "u"}],
            "member.jsonl:1: field 'document': unknown field",
            id="lume-field",
        ),
        pytest.param(
            [{"id": "m", "text": "t"}],
            [{"id": "n", "text": "u"}, {"id": "m", "text": "v"}],
            "nonmember.jsonl:2: field 'id': 'm' is also a member",
            id="both",
        ),
        pytest.param([{"id": "m", "text": "t"}], [], "nonmember.jsonl: empty file", id="empty"),
    ],
)
def test_bad_mia_files(tmp_path, member, nonmember, expected):
    _write(tmp_path / "forget.jsonl", [OK])
    _write(tmp_path / "member.jsonl", member)
    if nonmember is not None:
        _write(tmp_path / "nonmember.jsonl", nonmember)
    with pytest.raises(DataError) as err:
        load_jsonl(tmp_path)
    assert expected in str(err.value)


def test_documents_without_prompts_load_but_cannot_be_evaluated(tmp_path):
    data = tmp_path / "plain"
    bench = _load(data, [{"id": "f", "text": "Forget me."}], [{"id": "r", "text": "Keep me."}])
    with pytest.raises(DataError) as err:
        require_prompts(bench, "train")
    assert str(err.value) == (
        "benchmark 'jsonl:plain', split 'train': evaluation needs sc/qa prompts in the forget or retain "
        "documents, and these have none (give rows a 'prompts' field, or write question/answer rows "
        '{"id", "question", "answer"}); `obliviate target` and `obliviate unlearn` work without prompts'
    )
    with pytest.raises(DataError, match="has no split 'test'"):
        require_prompts(bench, "test")
    # one question/answer row among the retain documents is enough to score
    bench = _load(data, [{"id": "f", "text": "Forget me."}], [{"id": "r", "question": "Q?", "answer": "A"}])
    assert require_prompts(bench, "train") is bench.split("train")
