"""Tests for the LUME loader and the `load_benchmark` dispatch to it.

The real-data tests read the public SemEval splits from ../shared/data/lume (never copied into the
repository) and compare against counts computed here straight from the raw JSON lines; they skip
when that directory is absent. The error tests write tiny files into tmp_path.

Run: PYTHONPATH=src python -m pytest tests/data/test_lume.py -q
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from obliviate.data import DataError, load_benchmark, load_lume

LUME_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lume"
needs_lume = pytest.mark.skipif(not LUME_DIR.is_dir(), reason=f"shared LUME data not found at {LUME_DIR}")

SPLIT_FILES = {
    ("train", "forget"): "forget_train.jsonl",
    ("train", "retain"): "retain_train.jsonl",
    ("validation", "forget"): "forget_validation.jsonl",
    ("validation", "retain"): "retain_validation.jsonl",
}


def _raw(file: Path) -> list[dict]:
    return [json.loads(line) for line in file.read_text(encoding="utf-8").split("\n") if line.strip()]


@pytest.fixture(scope="module")
def lume():
    return load_lume(LUME_DIR)


# --- the real shared data -------------------------------------------------------------------------


@needs_lume
def test_real_data_splits_and_name(lume):
    assert lume.name == "lume:lume"
    assert set(lume.splits) == {"train", "validation"}


@needs_lume
@pytest.mark.parametrize(("split", "kind"), list(SPLIT_FILES))
def test_real_data_counts_match_raw_files(lume, split, kind):
    rows = _raw(LUME_DIR / SPLIT_FILES[split, kind])
    docs = getattr(lume.split(split), kind)

    doc_ids = list(dict.fromkeys(row["id"][:-3] for row in rows))  # first appearance order
    assert [doc.id for doc in docs] == doc_ids
    assert sum(len(doc.prompts) for doc in docs) == len(rows)
    position = {doc_id: index for index, doc_id in enumerate(doc_ids)}
    # grouped by document, file order within one (sorted is stable)
    assert [p.id for doc in docs for p in doc.prompts] == sorted(
        (row["id"] for row in rows), key=lambda i: position[i[:-3]]
    )

    kinds = Counter(p.kind for doc in docs for p in doc.prompts)
    assert kinds["sc"] == sum(row["id"][-3:-1] == "sc" for row in rows)
    assert kinds["qa"] == sum(row["id"][-3:-1] == "qa" for row in rows)
    assert kinds["sc"] + kinds["qa"] == len(rows)

    task_of_doc = {row["id"][:-3]: row["task"] for row in rows}
    assert Counter(doc.task for doc in docs) == Counter(task_of_doc.values())


@needs_lume
@pytest.mark.parametrize(("split", "kind"), list(SPLIT_FILES))
def test_real_data_text_and_prompts_are_the_raw_rows(lume, split, kind):
    by_id = {row["id"]: row for row in _raw(LUME_DIR / SPLIT_FILES[split, kind])}
    for doc in getattr(lume.split(split), kind):
        sc1 = by_id[doc.id + "sc1"]
        assert doc.text == sc1["input"] + " " + sc1["output"]
        for prompt in doc.prompts:
            row = by_id[prompt.id]
            assert (prompt.input, prompt.output, doc.task) == (row["input"], row["output"], row["task"])
            assert prompt.kind == ("sc" if prompt.id.endswith("sc1") else "qa")


@needs_lume
def test_real_data_known_shape(lume):
    """Task2 documents carry five questions (birth date, SSN, phone, email, address); the others one."""
    for split in lume.splits.values():
        for doc in (*split.forget, *split.retain):
            qa = [p for p in doc.prompts if p.kind == "qa"]
            assert len(qa) == (5 if doc.task == "Task2" else 1), doc.id
            assert sum(p.kind == "sc" for p in doc.prompts) == 1
    forget_ids = {d.id for d in lume.all_documents("forget")}
    assert forget_ids.isdisjoint(d.id for d in lume.all_documents("retain"))


@needs_lume
@pytest.mark.parametrize("split", ["train", "validation"])
def test_real_data_mia(lume, split):
    members = _raw(LUME_DIR / "mia" / f"member_{split}.jsonl")
    nonmembers = _raw(LUME_DIR / "mia" / f"nonmember_{split}.jsonl")
    got = lume.split(split)
    assert [(d.id, d.text) for d in got.member] == [(r["id"], r["document"]) for r in members]
    assert [(d.id, d.text) for d in got.nonmember] == [(r["id"], r["document"]) for r in nonmembers]
    assert len(got.member) > 0 and len(got.nonmember) > 0


@needs_lume
def test_real_data_loads_fast_and_dispatches():
    start = time.perf_counter()
    bench = load_benchmark(LUME_DIR)
    assert time.perf_counter() - start < 1.0
    assert bench.fingerprint() == load_benchmark(str(LUME_DIR)).fingerprint()


# --- tiny files -----------------------------------------------------------------------------------


def _row(prompt_id: str, task: str = "Task1", **extra) -> dict:
    return {"id": prompt_id, "input": f"in {prompt_id}", "output": f"out {prompt_id}", "task": task, **extra}


def _write(file: Path, rows: list) -> Path:
    """Write `rows` one per line: a string verbatim (bad JSON, blank lines), anything else as JSON."""
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return file


def _write_pair(tmp_path: Path, forget: list, retain: list | None = None, split: str = "train") -> Path:
    _write(tmp_path / f"forget_{split}.jsonl", forget)
    _write(tmp_path / f"retain_{split}.jsonl", retain if retain is not None else [_row("r1sc1")])
    return tmp_path


def test_full_release_layout_groups_interleaved_rows(tmp_path):
    """The full release interleaves documents and adds a `split` field; it loads as split train."""
    _write(
        tmp_path / "forget.jsonl",
        [
            _row("aqa0", split="forget"),
            _row("bsc1", "Task2", split="forget"),
            _row("asc1", split="forget"),
            _row("bqa1", "Task2", split="forget"),
            _row("bqa0", "Task2", split="forget"),
        ],
    )
    _write(tmp_path / "retain.jsonl", [_row("csc1", "Task3", split="retain")])
    bench = load_benchmark(tmp_path)
    assert list(bench.splits) == ["train"]
    forget = bench.split("train").forget
    assert [d.id for d in forget] == ["a", "b"]
    assert [p.id for p in forget[0].prompts] == ["aqa0", "asc1"]
    assert [p.id for p in forget[1].prompts] == ["bsc1", "bqa1", "bqa0"]
    assert [p.kind for p in forget[1].prompts] == ["sc", "qa", "qa"]
    assert forget[0].text == "in asc1 out asc1"
    assert forget[1].task == "Task2"
    assert bench.split("train").retain[0].id == "c"


def test_split_layout_with_test_split_and_mia(tmp_path):
    _write_pair(tmp_path, [_row("asc1")], [_row("bsc1")], split="test")
    _write(tmp_path / "mia" / "member_test.jsonl", [{"id": "m", "document": "member text"}])
    _write(tmp_path / "mia" / "nonmember_test.jsonl", [{"id": "n", "document": "other text"}])
    bench = load_lume(tmp_path)
    assert list(bench.splits) == ["test"]
    assert [d.text for d in bench.split("test").member] == ["member text"]
    assert [d.id for d in bench.split("test").nonmember] == ["n"]


FORGET = "forget_train.jsonl"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([_row("asc1"), '{"id": "bsc1", "input": '], [f"{FORGET}:2:", "invalid JSON"], id="json"),
        pytest.param(
            [_row("asc1"), "", "[1, 2]"],
            [f"{FORGET}:3:", "expected a JSON object, got array"],
            id="not-object",
        ),
        pytest.param(
            [{"id": "asc1", "input": "x", "task": "Task1"}],
            [f"{FORGET}:1:", "field 'output': missing"],
            id="missing-field",
        ),
        pytest.param(
            [_row("asc1"), {**_row("bsc1"), "input": 3}],
            [f"{FORGET}:2:", "field 'input': expected a string, got number"],
            id="not-string",
        ),
        pytest.param([_row("axy1")], [f"{FORGET}:1:", "field 'id':", "'axy1'"], id="bad-suffix"),
        pytest.param([_row("sc1")], [f"{FORGET}:1:", "field 'id':", "'sc1'"], id="suffix-only"),
        pytest.param(
            [_row("asc1"), _row("bsc1", "Task9")],
            [f"{FORGET}:2: field 'task': unknown task 'Task9' (expected Task1, Task2, Task3)"],
            id="unknown-task",
        ),
        pytest.param(
            [_row("asc1"), _row("aqa0", "Task2")],
            [f"{FORGET}:2:", "field 'task':", "'Task2'", "(line 1)"],
            id="mixed-task",
        ),
        pytest.param(
            [_row("asc1"), _row("bqa0"), _row("bqa1")],
            [f"{FORGET}:2:", "field 'id':", "'b'", "no sc1 row"],
            id="no-sc1",
        ),
        pytest.param(
            [_row("asc1"), _row("aqa0"), _row("aqa0")],
            [f"{FORGET}:3:", "field 'id':", "duplicate prompt id 'aqa0'", "line 2"],
            id="duplicate",
        ),
        pytest.param(
            [_row("asc1", note="x")], [f"{FORGET}:1:", "field 'note': unknown field"], id="unknown-field"
        ),
        pytest.param(
            [_row("asc1", split="retain")],
            [f"{FORGET}:1:", "field 'split':", "'retain'"],
            id="wrong-split-field",
        ),
        pytest.param(
            [_row("asc1"), '{"id": "aqa0", "input": "q", "output": "a", "output": "b", "task": "Task1"}'],
            [f"{FORGET}:2: field 'output': given twice in one object"],
            id="duplicate-field",
        ),
        pytest.param([], [f"{FORGET}: empty file"], id="empty"),
        pytest.param(["", "   "], [f"{FORGET}: empty file"], id="blank-lines"),
    ],
)
def test_bad_forget_file(tmp_path, rows, expected):
    _write_pair(tmp_path, rows)
    with pytest.raises(DataError) as err:
        load_lume(tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / FORGET))
    for part in expected:
        assert part in message


def test_undecodable_bytes(tmp_path):
    _write_pair(tmp_path, [_row("asc1")])
    with (tmp_path / FORGET).open("ab") as f:
        f.write(b'{"id": "bsc1", "input": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"forget_train\.jsonl:2: not valid UTF-8: byte 0xe9"):
        load_lume(tmp_path)


def test_document_in_forget_and_retain_names_both_files(tmp_path):
    _write_pair(tmp_path, [_row("xsc1"), _row("asc1")], [_row("rsc1"), _row("aqa0"), _row("asc1")])
    with pytest.raises(DataError) as err:
        load_lume(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'retain_train.jsonl'}:2: field 'id': document 'a'")
    assert f"{tmp_path / FORGET}:2" in message
    assert "both forget and retain" in message


def test_document_in_two_splits(tmp_path):
    _write_pair(tmp_path, [_row("asc1")], [_row("bsc1")], split="train")
    _write_pair(tmp_path, [_row("asc1")], [_row("csc1")], split="validation")
    with pytest.raises(DataError, match=r"forget_validation\.jsonl:1: field 'id': .*forget_train\.jsonl:1"):
        load_lume(tmp_path)


def test_missing_retain_partner(tmp_path):
    _write(tmp_path / FORGET, [_row("asc1")])
    with pytest.raises(DataError, match=r"retain_train\.jsonl: no such file"):
        load_lume(tmp_path)


def test_empty_retain_file(tmp_path):
    _write_pair(tmp_path, [_row("asc1")], [])
    with pytest.raises(DataError, match=r"retain_train\.jsonl: empty file"):
        load_lume(tmp_path)


def test_no_lume_files_and_no_directory(tmp_path):
    with pytest.raises(DataError, match="no LUME files"):
        load_lume(tmp_path)
    with pytest.raises(DataError, match="no such directory"):
        load_lume(tmp_path / "absent")


def test_both_layouts_is_ambiguous(tmp_path):
    _write_pair(tmp_path, [_row("asc1")])
    _write(tmp_path / "forget.jsonl", [_row("bsc1")])
    with pytest.raises(DataError, match="keep one layout"):
        load_lume(tmp_path)


@pytest.mark.parametrize(
    ("member", "nonmember", "expected"),
    [
        pytest.param([{"id": "m", "document": "t"}], None, "nonmember_train.jsonl: no such file", id="half"),
        pytest.param(
            [{"id": "m", "text": "t"}],
            [{"id": "n", "document": "u"}],
            "member_train.jsonl:1: field 'text': unknown field",
            id="wrong-field",
        ),
        pytest.param(
            [{"id": "m", "document": "t"}, {"id": "m", "document": "u"}],
            [{"id": "n", "document": "u"}],
            "member_train.jsonl:2: field 'id': duplicate id 'm'",
            id="duplicate",
        ),
        pytest.param(
            [{"id": "m", "document": "t"}],
            [{"id": "m", "document": "u"}],
            "nonmember_train.jsonl:1: field 'id': 'm' is also a member",
            id="both",
        ),
        pytest.param(
            [{"id": "m", "document": 5}],
            [{"id": "n", "document": "u"}],
            "member_train.jsonl:1: field 'document': expected a string",
            id="not-string",
        ),
        pytest.param([], [{"id": "n", "document": "u"}], "member_train.jsonl: empty file", id="empty"),
    ],
)
def test_bad_mia_files(tmp_path, member, nonmember, expected):
    _write_pair(tmp_path, [_row("asc1")])
    _write(tmp_path / "mia" / "member_train.jsonl", member)
    if nonmember is not None:
        _write(tmp_path / "mia" / "nonmember_train.jsonl", nonmember)
    with pytest.raises(DataError) as err:
        load_lume(tmp_path)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_mia_for_a_split_without_data(tmp_path):
    _write_pair(tmp_path, [_row("asc1")])
    _write(tmp_path / "mia" / "member_validation.jsonl", [{"id": "m", "document": "t"}])
    with pytest.raises(DataError, match=r"member_validation\.jsonl: split 'validation' has no forget/retain"):
        load_lume(tmp_path)


def test_dispatch_full_release_vs_own_data(tmp_path):
    lume_dir, own_dir = tmp_path / "release", tmp_path / "own"
    _write(lume_dir / "forget.jsonl", [_row("asc1")])
    _write(lume_dir / "retain.jsonl", [_row("bsc1")])
    _write(own_dir / "forget.jsonl", [{"id": "a", "text": "some text"}])
    assert load_benchmark(lume_dir).name == "lume:release"
    assert load_benchmark(own_dir).name == "jsonl:own"
