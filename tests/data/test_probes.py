"""Probes: records, a user's probes.jsonl (data/probes.py) and the builders of attacks/probes.py.

Run: PYTHONPATH=src python -m pytest tests/data/test_probes.py -q
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from obliviate.attacks.probes import AFFIRMATIVE, affirmative_probes, in_context_probes, probe_set
from obliviate.data import load_benchmark, load_probes
from obliviate.data.records import (
    Benchmark,
    DataError,
    Document,
    Probe,
    Prompt,
    Split,
    check_benchmark,
    subset_benchmark,
)
from obliviate.data.synthetic import SyntheticConfig, generate


@pytest.fixture(scope="module")
def bench() -> Benchmark:
    return generate(SyntheticConfig(seed=2, docs_per_task=3))


def write_jsonl(file: Path, rows: list) -> Path:
    file.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return file


def practitioner_dir(tmp_path: Path) -> Path:
    forget = [
        {"id": "d1", "question": "Where does Ada live?", "answer": "Paris"},
        {"id": "d2", "question": "What is Bo's pet?", "answer": "a cat"},
    ]
    retain = [{"id": f"r{i}", "question": f"What is {i} plus {i}?", "answer": str(2 * i)} for i in range(5)]
    write_jsonl(tmp_path / "forget.jsonl", forget)
    write_jsonl(tmp_path / "retain.jsonl", retain)
    return tmp_path


def probe_row(**fields) -> dict:
    row = {
        "id": "p1",
        "of": "d1qa0",
        "label": "paraphrase",
        "kind": "qa",
        "input": "Ada's city?",
        "output": "Paris",
    }
    return {**row, **fields}


# --- records ----------------------------------------------------------------------------------------


def test_probes_are_not_in_the_fingerprint(bench: Benchmark) -> None:
    bare = replace(bench, splits={k: replace(v, probes=()) for k, v in bench.splits.items()})
    assert bare.fingerprint() == bench.fingerprint()
    assert bare.probes_fingerprint() != bench.probes_fingerprint()


def test_subset_keeps_the_probes_of_kept_forget_documents(bench: Benchmark) -> None:
    small = subset_benchmark(bench, 1)
    for name, split in small.splits.items():
        kept = {p.id for doc in split.forget for p in doc.prompts}
        expected = [p for p in bench.splits[name].probes if p.of in kept]
        assert list(split.probes) == expected and expected
        assert len(split.probes) == 6 + 22 + 6  # one forget document per task
    check_benchmark(small, "subset")


def test_check_benchmark_rejects_a_probe_of_no_forget_prompt(bench: Benchmark) -> None:
    train = bench.splits["train"]
    retain_prompt = train.retain[0].prompts[1].id
    stray = Probe("x:alias0", retain_prompt, "alias", "qa", "q?", "a")
    bad = replace(bench, splits={**bench.splits, "train": replace(train, probes=(*train.probes, stray))})
    with pytest.raises(
        DataError, match=rf"^src: probe 'x:alias0': field 'of': no forget prompt '{retain_prompt}'"
    ):
        check_benchmark(bad, "src")
    # a forget prompt of another split is not this split's
    other = bench.splits["test"].forget[0].prompts[1].id
    moved = replace(stray, of=other)
    bad = replace(bench, splits={**bench.splits, "train": replace(train, probes=(moved,))})
    with pytest.raises(DataError, match="in split 'train'"):
        check_benchmark(bad, "src")


def test_check_benchmark_rejects_duplicate_probe_ids(bench: Benchmark) -> None:
    train, test = bench.splits["train"], bench.splits["test"]
    twice = replace(train, probes=(*train.probes, train.probes[0]))
    with pytest.raises(DataError, match=r"duplicate probe id .*\(splits 'train' and 'train'\)"):
        check_benchmark(replace(bench, splits={**bench.splits, "train": twice}), "src")
    copied = replace(test.probes[0], id=train.probes[0].id)
    across = replace(test, probes=(copied,))
    with pytest.raises(DataError, match=r"\(splits 'train' and 'test'\)"):
        check_benchmark(replace(bench, splits={**bench.splits, "test": across}), "src")


# --- a user's probes.jsonl --------------------------------------------------------------------------


def test_load_benchmark_reads_probes_jsonl(tmp_path: Path) -> None:
    path = practitioner_dir(tmp_path)
    without = load_benchmark(path)
    write_jsonl(path / "probes.jsonl", [probe_row(), probe_row(id="p2", of="d2qa0", label="mine", kind="sc")])
    bench = load_benchmark(path)
    (split,) = bench.splits.values()
    assert split.probes == (
        Probe("p1", "d1qa0", "paraphrase", "qa", "Ada's city?", "Paris"),
        Probe("p2", "d2qa0", "mine", "sc", "Ada's city?", "Paris"),
    )
    assert bench.fingerprint() == without.fingerprint()


def test_load_probes_finds_the_split_from_the_prompt_id(bench: Benchmark, tmp_path: Path) -> None:
    val_prompt = bench.splits["validation"].forget[2].prompts[0].id
    file = write_jsonl(
        tmp_path / "probes.jsonl",
        [
            probe_row(of=val_prompt),
            probe_row(id="p2", of=bench.splits["test"].forget[0].prompts[1].id, split="test"),
            "",  # blank lines are skipped
        ],
    )
    loaded = load_probes(file, bench)
    assert loaded.splits["validation"].probes[-1].id == "p1"
    assert loaded.splits["test"].probes[-1].id == "p2"
    assert loaded.splits["train"].probes == bench.splits["train"].probes
    assert loaded.fingerprint() == bench.fingerprint()
    # the generated probes are still there, before the user's
    assert loaded.splits["test"].probes[:-1] == bench.splits["test"].probes


def test_an_empty_probes_file_adds_nothing(tmp_path: Path) -> None:
    path = practitioner_dir(tmp_path)
    (path / "probes.jsonl").write_text("\n")
    assert load_benchmark(path) == load_benchmark_without_probes(path)


def load_benchmark_without_probes(path: Path) -> Benchmark:
    from obliviate.data import load_jsonl

    return load_jsonl(path)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([probe_row(of="xyz")], "probes.jsonl:1: field 'of': no forget prompt 'xyz' in any split"),
        (
            [probe_row(), probe_row(id="p2", of="r1qa0")],
            "probes.jsonl:2: field 'of': no forget prompt 'r1qa0' in any split",
        ),
        ([probe_row(), "{not json"], "probes.jsonl:2: invalid JSON"),
        ([probe_row(), probe_row(id="p2"), "[1]"], "probes.jsonl:3: expected a JSON object, got array"),
        ([{k: v for k, v in probe_row().items() if k != "label"}], "probes.jsonl:1: field 'label': missing"),
        ([probe_row(input="")], "probes.jsonl:1: field 'input': empty"),
        ([probe_row(output=3)], "probes.jsonl:1: field 'output': expected a string, got number"),
        ([probe_row(kind="mcq")], "probes.jsonl:1: field 'kind': unknown kind 'mcq' (expected sc, qa)"),
        ([probe_row(), probe_row()], "probes.jsonl:2: field 'id': duplicate id 'p1' (first on line 1)"),
        ([probe_row(lable="x")], "probes.jsonl:1: field 'lable': unknown field"),
        ([probe_row(split="test")], "probes.jsonl:1: field 'split': no split 'test'"),
    ],
)
def test_probes_jsonl_errors_name_file_line_and_field(tmp_path: Path, rows: list, message: str) -> None:
    path = practitioner_dir(tmp_path)
    write_jsonl(path / "probes.jsonl", rows)
    with pytest.raises(DataError) as err:
        load_benchmark(path)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(str(path / "probes.jsonl")), text
    assert message in text, text


def test_probes_jsonl_rejects_an_id_the_benchmark_has(bench: Benchmark, tmp_path: Path) -> None:
    taken = bench.splits["train"].probes[0]
    file = write_jsonl(tmp_path / "probes.jsonl", [probe_row(id=taken.id, of=taken.of)])
    with pytest.raises(DataError, match=r"probes.jsonl:1: field 'id': the benchmark already has a probe"):
        load_probes(file, bench)
    wrong_split = write_jsonl(tmp_path / "p2.jsonl", [probe_row(of=taken.of, split="test")])
    with pytest.raises(
        DataError, match=rf"p2.jsonl:1: field 'of': no forget prompt '{taken.of}' in split 'test'"
    ):
        load_probes(wrong_split, bench)


# --- attacks/probes.py ---------------------------------------------------------------------------------


def forget_answers(split: Split) -> set[str]:
    return {p.output for doc in split.forget for p in doc.prompts if p.kind == "qa"}


def test_in_context_probes_show_k_retain_answers_and_no_forget_answer(bench: Benchmark) -> None:
    split = bench.splits["train"]
    retain_qa = {(p.input, p.output) for doc in split.retain for p in doc.prompts if p.kind == "qa"}
    forget_qa = [p for doc in split.forget for p in doc.prompts if p.kind == "qa"]
    probes = in_context_probes(split, k=3, seed=0)
    assert [p.of for p in probes] == [p.id for p in forget_qa]
    for probe, prompt in zip(probes, forget_qa, strict=True):
        assert (probe.id, probe.label, probe.kind, probe.output) == (
            f"{prompt.id}:in_context0",
            "in_context",
            "qa",
            prompt.output,
        )
        *shots, asked = probe.input.split("\n\n")
        assert asked == f"Question: {prompt.input}\nAnswer:"
        assert len(shots) == 3
        for shot in shots:
            question, answer = shot.removeprefix("Question: ").split("\nAnswer: ")
            assert (question, answer) in retain_qa
            assert answer not in forget_answers(split)
        context = "\n\n".join(shots)
        assert prompt.output.removesuffix(".") not in context
    assert in_context_probes(split, k=3, seed=0) == probes
    assert in_context_probes(split, k=3, seed=1) != probes


def test_in_context_probes_use_what_retain_there_is(tmp_path: Path) -> None:
    split = load_benchmark(practitioner_dir(tmp_path)).splits["train"]
    for k, shots in ((2, 2), (5, 5), (9, 5)):
        (first, _) = in_context_probes(split, k=k)
        assert first.input.count("Question: ") == shots + 1
    assert in_context_probes(replace(split, retain=()), k=3) == ()
    # no shot is drawn twice
    probe = in_context_probes(split, k=5)[0]
    assert len(set(probe.input.split("\n\n"))) == 6


def test_in_context_shots_never_mention_the_asked_answer() -> None:
    forget = Document("f", "Custom", "t", (Prompt("fqa0", "qa", "Where does Ada live?", "Paris"),))
    leaky = [
        Document("r0", "Custom", "t", (Prompt("r0qa0", "qa", "Which city is Paris?", "a capital"),)),
        Document("r1", "Custom", "t", (Prompt("r1qa0", "qa", "Where is the Louvre?", "Paris"),)),
        Document("r2", "Custom", "t", (Prompt("r2qa0", "qa", "What is 1+1?", "2"),)),
    ]
    (probe,) = in_context_probes(Split((forget,), tuple(leaky)), k=3)
    assert probe.input == "Question: What is 1+1?\nAnswer: 2\n\nQuestion: Where does Ada live?\nAnswer:"


def test_affirmative_probes(bench: Benchmark) -> None:
    split = bench.splits["test"]
    probes = affirmative_probes(split)
    forget_qa = [p for doc in split.forget for p in doc.prompts if p.kind == "qa"]
    assert len(probes) == len(forget_qa)
    for probe, prompt in zip(probes, forget_qa, strict=True):
        assert probe.input == f"{prompt.input} {AFFIRMATIVE}" == f"{prompt.input} Sure, here is the answer:"
        assert (probe.of, probe.output, probe.label) == (prompt.id, prompt.output, "affirmative")
    assert affirmative_probes(split, prefix="Of course.")[0].input.endswith("? Of course.")


def test_probe_set_filters_by_label_in_a_fixed_order(bench: Benchmark) -> None:
    split = bench.splits["validation"]
    everything = probe_set(split)
    labels = [p.label for p in everything]
    assert set(labels) == {"mid_document", "paraphrase", "alias", "two_hop", "in_context", "affirmative"}
    assert everything[: len(split.probes)] == split.probes
    assert probe_set(split) == everything
    chosen = probe_set(split, labels=["alias", "affirmative"])
    assert chosen == tuple(p for p in everything if p.label in ("alias", "affirmative"))
    assert probe_set(split, labels=[]) == ()
    assert probe_set(split, labels=["in_context"], k=1, seed=5) == in_context_probes(split, k=1, seed=5)
    forget_prompts = {p.id for doc in split.forget for p in doc.prompts}
    assert all(p.of in forget_prompts for p in everything)


def test_probe_set_rejects_a_user_probe_with_a_generated_id(bench: Benchmark) -> None:
    split = bench.splits["train"]
    prompt = split.forget[0].prompts[1]
    clash = Probe(f"{prompt.id}:affirmative0", prompt.id, "mine", "qa", "q?", "a")
    with pytest.raises(DataError, match="used twice"):
        probe_set(replace(split, probes=(clash,)))
