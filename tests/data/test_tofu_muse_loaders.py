"""Tests for the TOFU and MUSE loaders of the released layouts, and `load_benchmark`'s format choice.

Every test writes a tiny look-alike of the released files into tmp_path: TOFU with 3 authors of 20
rows (2 retain, 1 forget), MUSE with a few articles.

Run: PYTHONPATH=src python -m pytest tests/data/test_tofu_muse_loaders.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from obliviate.data import DataError, load_benchmark, load_muse, load_tofu

# --- fixtures -------------------------------------------------------------------------------------


def _jsonl(file: Path, rows: list) -> Path:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return file


def _array(file: Path, rows: list) -> Path:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return file


def _qa(author: int, i: int) -> dict:
    return {"question": f"What did author {author} do ({i})?", "answer": f"Author {author} did thing {i}."}


def _perturbed(row: dict, extra: bool = True) -> dict:
    out = {
        **row,
        "paraphrased_answer": "In other words: " + row["answer"],
        "perturbed_answer": ["Wrong " + row["answer"], "Also wrong."],
    }
    if extra:
        out["paraphrased_question"] = "Put differently, " + row["question"]
    return out


def _real(i: int, name: str) -> dict:
    return {
        "question": f"{name} question {i}?",
        "answer": f"{name} answer {i}",
        "perturbed_answer": ["x", "y"],
    }


def write_tofu(path: Path, write=_jsonl, forget: str = "forget10") -> Path:
    """2 retain authors (0, 1) and 1 forget author (2), as in full.json: the forget one last."""
    full = [_qa(a, i) for a in range(3) for i in range(20)]
    retain = f"retain{100 - int(forget[-2:])}"
    write(path / "full.json", full)
    write(path / f"{forget}.json", full[40:])
    write(path / f"{retain}.json", full[:40])
    write(path / f"{forget}_perturbed.json", [_perturbed(r) for r in full[40:]])
    write(path / "retain_perturbed.json", [_perturbed(r, extra=False) for r in full[:5]])
    real = [
        {**_real(i, "real"), "option1": "a", "option2": "b", "option3": "c", "option4": "d"} for i in range(3)
    ]
    write(path / "real_authors_perturbed.json", real)
    write(path / "world_facts_perturbed.json", [_real(i, "world") for i in range(4)])
    write(path / f"holdout{forget[-2:]}.json", [_qa(9, i) for i in range(2)])
    return path


def write_muse(path: Path) -> Path:
    (path / "raw").mkdir(parents=True)
    _array(path / "raw" / "forget.json", ["Forget article one.", {"text": "Forget article two."}])
    _jsonl(path / "raw" / "retain1.jsonl", [{"text": "Retain one, first."}, "Retain one, second."])
    (path / "raw" / "retain2.txt").write_text(
        "First retain2 article,\nsecond line.\n\n  \nSecond retain2 article.\n\n\n", encoding="utf-8"
    )
    (path / "raw" / "holdout.txt").write_text("never read\n", encoding="utf-8")
    _array(path / "verbmem" / "forget.json", [{"prompt": "Forget article", "gt": "one."}] * 2)
    qa = [{"question": f"Q{i}?", "answer": f"A{i}"} for i in range(3)]
    for name in ("forget_qa", "forget_qa_icl", "retain_qa", "retain_qa_icl"):
        _array(path / "knowmem" / f"{name}.json", qa)
    _array(path / "privleak" / "forget.json", ["Forget article one.", "Forget article two."])
    _array(path / "privleak" / "holdout.json", [{"text": "Never seen."}])
    _array(path / "privleak" / "retain.json", [{"bad": "ignored"}])
    return path


def _error(call, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- TOFU ------------------------------------------------------------------------------------------


def test_tofu_happy_path(tmp_path):
    bench = load_tofu(write_tofu(tmp_path))
    assert bench.name == "tofu:forget10" and bench.protocol == "tofu"
    split = bench.split("train")
    assert [d.id for d in split.retain] == ["tofu-a000", "tofu-a001"]
    assert [d.id for d in split.forget] == ["tofu-a002"]
    assert len(split.forget[0].prompts) == 20
    first = split.forget[0].prompts[0]
    assert first.id == "tofu-a002qa0"
    assert first.input == "Question: What did author 2 do (0)?\nAnswer:"
    assert first.output == "Author 2 did thing 0."
    assert split.retain[1].prompts[19].output == "Author 1 did thing 19."

    sets = split.eval_sets
    assert {k: len(v) for k, v in sets.items()} == {
        "forget": 20,
        "retain": 5,
        "real_authors": 3,
        "world_facts": 4,
        "holdout": 2,
    }
    item = sets["forget"][7]
    assert item.id == "forget-0007"
    assert item.paraphrased_answer == "In other words: Author 2 did thing 7."
    assert item.perturbed_answers == ("Wrong Author 2 did thing 7.", "Also wrong.")
    assert sets["retain"][3].id == "retain-0003"
    real = sets["real_authors"][2]
    assert (real.id, real.answer, real.paraphrased_answer, real.perturbed_answers) == (
        "real-0002",
        "real answer 2",
        None,
        ("x", "y"),
    )
    assert sets["world_facts"][3].id == "world-0003"
    assert [i.id for i in sets["holdout"]] == ["holdout-0000", "holdout-0001"]


def test_tofu_json_arrays_load_the_same(tmp_path):
    lines = load_tofu(write_tofu(tmp_path / "lines"))
    arrays = load_tofu(write_tofu(tmp_path / "arrays", write=_array))
    assert lines.fingerprint() == arrays.fingerprint()


def test_tofu_forget_split_and_optional_holdout(tmp_path):
    path = write_tofu(tmp_path, forget="forget05")
    (path / "holdout05.json").unlink()
    bench = load_tofu(path, forget="forget05")
    assert bench.name == "tofu:forget05"
    assert "holdout" not in bench.split("train").eval_sets
    message = _error(load_tofu, path)  # forget10 files are absent
    assert message == f"{path}: no forget10.json (TOFU's forget set)"
    assert "expected one of forget01, forget05, forget10" in _error(load_tofu, path, forget="forget20")


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("retain90.json", "TOFU's retain set for forget10"),
        ("forget10_perturbed.json", "TOFU's forget question set"),
        ("retain_perturbed.json", "TOFU's retain question set"),
        ("real_authors_perturbed.json", "TOFU's real-authors question set"),
        ("world_facts_perturbed.json", "TOFU's world-facts question set"),
    ],
)
def test_tofu_missing_file(tmp_path, name, what):
    path = write_tofu(tmp_path)
    (path / name).unlink()
    assert _error(load_tofu, path) == f"{path}: no {name} ({what})"


def test_tofu_rows_not_a_multiple_of_20(tmp_path):
    path = write_tofu(tmp_path)
    _jsonl(path / "forget10.json", [_qa(2, i) for i in range(19)])
    message = _error(load_tofu, path)
    assert message.startswith(f"{path / 'forget10.json'}: 19 rows, not a multiple of 20")


@pytest.mark.parametrize("write", [_jsonl, _array])
def test_tofu_bad_field_type_names_file_line_and_field(tmp_path, write):
    path = write_tofu(tmp_path)
    rows = [_perturbed(_qa(2, i)) for i in range(20)]
    rows[2]["paraphrased_answer"] = 7
    write(path / "forget10_perturbed.json", rows)
    assert _error(load_tofu, path) == (
        f"{path / 'forget10_perturbed.json'}:3: field 'paraphrased_answer': expected a string, got number"
    )


def test_tofu_perturbed_answer_checks(tmp_path):
    path = write_tofu(tmp_path)
    file = path / "world_facts_perturbed.json"
    cases = [
        ("nope", "field 'perturbed_answer': expected an array of strings, got string"),
        ([], "field 'perturbed_answer': empty array"),
        (["ok", None], "field 'perturbed_answer[1]': expected a string, got null"),
    ]
    for value, expected in cases:
        _jsonl(file, [_real(0, "world"), {**_real(1, "world"), "perturbed_answer": value}])
        assert _error(load_tofu, path) == f"{file}:2: {expected}"
    _jsonl(file, [{"question": "q", "answer": "a"}])
    assert _error(load_tofu, path) == f"{file}:1: field 'perturbed_answer': missing"


def test_tofu_unknown_field(tmp_path):
    path = write_tofu(tmp_path)
    rows = [_qa(0, i) for i in range(40)]
    rows[5]["qestion"] = "typo"
    _jsonl(path / "retain90.json", rows)
    message = _error(load_tofu, path)
    assert message.startswith(f"{path / 'retain90.json'}:6: field 'qestion': unknown field")
    # options are an extra of the real-author and world-fact rows only
    _jsonl(path / "retain90.json", [_qa(a, i) for a in range(2) for i in range(20)])
    rows = [{**_perturbed(_qa(2, i)), "option1": "a"} for i in range(20)]
    _jsonl(path / "forget10_perturbed.json", rows)
    assert "field 'option1': unknown field" in _error(load_tofu, path)


def test_tofu_bad_json(tmp_path):
    path = write_tofu(tmp_path)
    (path / "real_authors_perturbed.json").write_text('[{"question": "q",, }]', encoding="utf-8")
    message = _error(load_tofu, path)
    assert message.startswith(f"{path / 'real_authors_perturbed.json'}: invalid JSON at line 1, column 19")
    (path / "real_authors_perturbed.json").write_text(
        '[{"question": "q", "question": "r"}]', encoding="utf-8"
    )
    assert _error(load_tofu, path).endswith(":1: field 'question': given twice in one object")
    (path / "real_authors_perturbed.json").write_text("[1]", encoding="utf-8")
    assert _error(load_tofu, path).endswith(":1: expected a JSON object, got number")


# --- MUSE ------------------------------------------------------------------------------------------


def test_muse_happy_path(tmp_path):
    bench = load_muse(write_muse(tmp_path / "news"))
    assert bench.name == "muse:news" and bench.protocol == "muse"
    split = bench.split("train")
    assert [(d.id, d.text) for d in split.forget] == [
        ("muse-f0000", "Forget article one."),
        ("muse-f0001", "Forget article two."),
    ]
    assert [(d.id, d.text) for d in split.retain] == [
        ("muse-r1-0000", "Retain one, first."),
        ("muse-r1-0001", "Retain one, second."),
        ("muse-r2-0000", "First retain2 article,\nsecond line."),
        ("muse-r2-0001", "Second retain2 article."),
    ]
    assert all(not d.prompts for d in (*split.forget, *split.retain))
    assert [(m.id, m.text) for m in split.member] == [
        ("privleak-f0000", "Forget article one."),
        ("privleak-f0001", "Forget article two."),
    ]
    assert [(m.id, m.text) for m in split.nonmember] == [("privleak-h0000", "Never seen.")]
    sets = split.eval_sets
    assert sorted(sets) == sorted(
        ["verbmem", "knowmem_forget", "knowmem_forget_icl", "knowmem_retain", "knowmem_retain_icl"]
    )
    verbmem = sets["verbmem"][1]
    assert (verbmem.id, verbmem.question, verbmem.answer) == ("verbmem-0001", "Forget article", "one.")
    assert [i.id for i in sets["knowmem_retain_icl"]][:2] == [
        "knowmem-retain-icl-0000",
        "knowmem-retain-icl-0001",
    ]
    assert sets["knowmem_forget"][2].answer == "A2"


def test_muse_accepts_retain2_names_and_json_lines(tmp_path):
    path = write_muse(tmp_path / "books")
    for name in ("retain_qa", "retain_qa_icl"):
        (path / "knowmem" / f"{name}.json").rename(
            path / "knowmem" / f"{name.replace('retain', 'retain2')}.json"
        )
    # HF `to_json` writes JSON Lines under a .json name
    _jsonl(path / "verbmem" / "forget.json", [{"prompt": "p", "gt": "g"}])
    bench = load_muse(path)
    assert len(bench.split("train").eval_sets["knowmem_retain"]) == 3
    assert bench.split("train").eval_sets["verbmem"][0].answer == "g"
    _array(path / "knowmem" / "retain_qa.json", [{"question": "q", "answer": "a"}])
    assert (
        _error(load_muse, path)
        == f"{path}: holds both knowmem/retain_qa.json and knowmem/retain2_qa.json; keep one"
    )


def test_muse_without_raw_forget_says_what_layout(tmp_path):
    path = write_muse(tmp_path / "news")
    (path / "raw" / "forget.json").unlink()
    message = _error(load_muse, path)
    assert message.startswith(f"{path}: no raw/forget.json, .jsonl or .txt (a MUSE directory")
    assert "verbmem/forget.json" in message and "privleak/holdout.json" in message
    (path / "raw" / "forget.txt").write_text("a\n\nb\n", encoding="utf-8")
    (path / "raw" / "forget.jsonl").write_text('"a"\n', encoding="utf-8")
    assert _error(load_muse, path) == f"{path}: holds both raw/forget.jsonl and raw/forget.txt; keep one"


def test_muse_missing_eval_file(tmp_path):
    path = write_muse(tmp_path / "news")
    (path / "privleak" / "holdout.json").unlink()
    assert _error(load_muse, path) == f"{path}: no privleak/holdout.json (MUSE's privleak holdout documents)"
    path = write_muse(tmp_path / "other")
    (path / "knowmem" / "retain_qa.json").unlink()
    assert _error(load_muse, path) == (
        f"{path}: no knowmem/retain_qa.json or knowmem/retain2_qa.json (MUSE's KnowMem retain questions)"
    )


def test_muse_bad_records(tmp_path):
    path = write_muse(tmp_path / "news")
    verbmem = path / "verbmem" / "forget.json"
    _array(verbmem, [{"prompt": "p", "gt": "g"}] * 2 + [{"prompt": "p", "gt": 3}])
    assert _error(load_muse, path) == f"{verbmem}:3: field 'gt': expected a string, got number"
    _array(verbmem, [{"prompt": "p", "gt": "g", "extra": 1}])
    assert _error(load_muse, path).startswith(f"{verbmem}:1: field 'extra': unknown field")
    _array(verbmem, [])
    assert _error(load_muse, path) == f"{verbmem}: empty file (no records)"
    forget = path / "raw" / "forget.json"
    _array(forget, ["ok", {"txt": "typo"}])
    assert _error(load_muse, path).startswith(f"{forget}:2: field 'txt': unknown field")
    _array(forget, ["ok", 5])
    assert _error(load_muse, path) == f"{forget}:2: expected a JSON object or string, got number"
    forget.unlink()
    (path / "raw" / "forget.txt").write_text("\n \n", encoding="utf-8")
    assert _error(load_muse, path) == f"{path / 'raw' / 'forget.txt'}: empty file (no documents)"


# --- load_benchmark: format, manifest, detection ---------------------------------------------------


def test_explicit_format(tmp_path):
    tofu = write_tofu(tmp_path / "tofu", forget="forget01")
    assert load_benchmark(tofu, format="tofu", tofu_forget="forget01").name == "tofu:forget01"
    muse = write_muse(tmp_path / "news")
    assert load_benchmark(muse, format="muse").name == "muse:news"
    assert _error(load_benchmark, muse, format="wiki").startswith("unknown data format 'wiki'")


def test_auto_never_guesses_tofu_or_muse(tmp_path):
    tofu = write_tofu(tmp_path / "tofu")
    message = _error(load_benchmark, tofu)
    assert message.startswith(f"{tofu}: looks like TOFU's released files")
    assert "--set data_format=tofu" in message
    muse = write_muse(tmp_path / "news")
    assert "--set data_format=muse" in _error(load_benchmark, muse)
    assert "no benchmark files" in _error(load_benchmark, tmp_path / "news" / "raw")


def test_manifest(tmp_path):
    tofu = write_tofu(tmp_path / "tofu", forget="forget05")
    (tofu / "obliviate.json").write_text('{"format": "tofu", "forget": "forget05"}', encoding="utf-8")
    assert load_benchmark(tofu).name == "tofu:forget05"
    muse = write_muse(tmp_path / "news")
    (muse / "obliviate.json").write_text('{"format": "muse"}', encoding="utf-8")
    assert load_benchmark(muse).protocol == "muse"
    # an explicit format wins over the manifest
    _jsonl(muse / "forget.jsonl", [{"id": "d1", "text": "Mine."}])
    assert load_benchmark(muse, format="jsonl").name == "jsonl:news"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{", "invalid JSON at line 1, column 2"),
        ("[]", "expected a JSON object, got array"),
        ('{"format": "csv"}', "field 'format': 'csv' is not one of lume, jsonl, tofu, muse"),
        ('{"forget": "forget05"}', "field 'format': missing"),
        ('{"format": "tofu", "forget": "forget50"}', "field 'forget': 'forget50' is not one of forget01"),
        ('{"format": "muse", "forget": "forget05"}', "field 'forget': only for format 'tofu'"),
        ('{"format": "tofu", "split": "x"}', "field 'split': unknown field"),
    ],
)
def test_bad_manifest(tmp_path, text, expected):
    (tmp_path / "obliviate.json").write_text(text, encoding="utf-8")
    message = _error(load_benchmark, tmp_path)
    assert message.startswith(f"{tmp_path / 'obliviate.json'}: {expected}")
