"""Tests for the synthetic LUME-shaped benchmark (src/obliviate/data/synthetic.py).

Run: `.venv/bin/python -m pytest tests/data/test_synthetic.py -q` (with PYTHONPATH=src when the
package isn't installed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from obliviate.data.records import TASKS, Benchmark, Document, Probe, subset_benchmark
from obliviate.data.synthetic import (
    FIRST_NAMES,
    MIN_COMPLETION_WORDS,
    MIN_PROBE_COMPLETION_WORDS,
    NAME_POOL_SIZE,
    SURNAMES,
    SyntheticConfig,
    generate,
    split_for_completion,
)

FULL_NAME = re.compile(rf"\b(?:{'|'.join(FIRST_NAMES)}) (?:{'|'.join(SURNAMES)})\b")
DOC_ID = re.compile(r"syn-t(?P<task>[123])-(?P<split>\w+)-(?P<kind>[frn])\d{3,}")
WORD_RANGES = {"Task1": (60, 130), "Task2": (45, 90), "Task3": (70, 120)}


@pytest.fixture(scope="module")
def bench() -> Benchmark:
    return generate(SyntheticConfig(seed=3, docs_per_task=6))


def documents(bench: Benchmark) -> list[Document]:
    return [*bench.all_documents("forget"), *bench.all_documents("retain")]


def full_names(text: str) -> set[str]:
    return set(FULL_NAME.findall(text))


def test_same_config_gives_identical_benchmark() -> None:
    cfg = SyntheticConfig(seed=7, docs_per_task=3)
    first, second = generate(cfg), generate(SyntheticConfig(seed=7, docs_per_task=3))
    assert first == second
    assert first.fingerprint() == second.fingerprint()


def test_output_does_not_depend_on_the_hash_seed() -> None:
    # Set or dict iteration over strings would vary with PYTHONHASHSEED; a fresh process shows it doesn't.
    code = (
        "from obliviate.data.synthetic import SyntheticConfig, generate;"
        "print(generate(SyntheticConfig(seed=7, docs_per_task=3)).fingerprint())"
    )
    paths = [str(Path(__file__).resolve().parents[2] / "src"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == generate(SyntheticConfig(seed=7, docs_per_task=3)).fingerprint()


def test_fingerprint_is_pinned() -> None:
    # Any edit to the word lists, the templates or the generator's draws changes every synthetic
    # benchmark, its cache keys and the leaderboard built on it: these are the values since the
    # templates got per-document phrasings (2026-12-04).
    assert generate(SyntheticConfig(docs_per_task=2)).fingerprint() == "4adc3b13c7c94ba4"
    assert generate().fingerprint() == "cea7d259870214bb"
    assert generate(SyntheticConfig(seed=3, docs_per_task=6)).fingerprint() == "c13c1180870785e3"
    assert subset_benchmark(generate(), 2).fingerprint() == "a2503d4a33cc494f"


def test_other_seed_gives_other_texts() -> None:
    seed0, seed1 = generate(SyntheticConfig(seed=0)), generate(SyntheticConfig(seed=1))
    assert seed0.fingerprint() != seed1.fingerprint()
    assert not set(seed0.texts()) & set(seed1.texts())


def test_name_and_default_config() -> None:
    assert generate(SyntheticConfig(seed=5, docs_per_task=2)).name == "synthetic-s5-d2"
    default = generate()
    assert default.name == "synthetic-s0-d4"
    assert list(default.splits) == ["train", "validation", "test"]


def test_counts_per_split_task_and_kind() -> None:
    bench = generate(SyntheticConfig(docs_per_task=2, splits=("train", "test")))
    assert list(bench.splits) == ["train", "test"]
    for split in bench.splits.values():
        for docs in (split.forget, split.retain):
            assert [doc.task for doc in docs].count("Task1") == 2
            assert sorted({doc.task for doc in docs}) == list(TASKS)
            assert len(docs) == 6
        assert len(split.member) == len(split.forget) == 6
        assert len(split.nonmember) == 6
    for doc in documents(bench):
        kinds = [p.kind for p in doc.prompts]
        assert kinds == (["sc", "qa", "qa", "qa", "qa", "qa"] if doc.task == "Task2" else ["sc", "qa"])


def test_nonmembers_per_split_overrides_member_count() -> None:
    bench = generate(SyntheticConfig(docs_per_task=2, nonmembers_per_split=5))
    assert all(len(split.nonmember) == 5 for split in bench.splits.values())
    assert all(len(split.member) == 6 for split in bench.splits.values())
    without = generate(SyntheticConfig(nonmembers_per_split=0))
    assert all(not split.nonmember for split in without.splits.values())


def test_sc_prompt_rebuilds_the_document(bench: Benchmark) -> None:
    for doc in documents(bench):
        sc = doc.prompts[0]
        assert sc.id == f"{doc.id}sc1"
        assert sc.input + " " + sc.output == doc.text
        assert len(sc.output.split()) >= MIN_COMPLETION_WORDS
        assert len(sc.input.split()) >= 10


def test_split_for_completion_cuts_only_at_a_single_space() -> None:
    text = "Title line\n\n" + " ".join(f"w{i}" for i in range(40)) + "\nEnd here."
    head, tail = split_for_completion(text)
    assert head + " " + tail == text
    assert len(tail.split()) >= MIN_COMPLETION_WORDS
    with pytest.raises(ValueError):
        split_for_completion("one\ntwo\nthree")


def test_task2_answers_are_verbatim_and_in_fixed_order(bench: Benchmark) -> None:
    expected = [
        (
            "birth date",
            r"(?:January|February|March|April|May|June|July|August|September|October|November|"
            r"December) \d{1,2}, \d{4}",
        ),
        ("Social Security Number", r"9\d\d-\d\d-\d{4}"),
        ("phone number", r"\+1-555-\d{3}-\d{4}"),
        ("email address", r"[a-z0-9._]+@[a-z]+\.example"),
        ("home address", r"\d+ [A-Z][a-z]+ [A-Z][a-z]+, [A-Z][A-Za-z ]+, [A-Z]{2} \d{5}"),
    ]
    task2 = [doc for doc in documents(bench) if doc.task == "Task2"]
    assert task2
    for doc in task2:
        qa = doc.prompts[1:]
        assert [p.id for p in qa] == [f"{doc.id}qa{i}" for i in range(5)]
        (name,) = full_names(doc.text)
        for prompt, (asked, answer_shape) in zip(qa, expected, strict=True):
            assert asked in prompt.input and name in prompt.input
            assert re.fullmatch(answer_shape, prompt.output), prompt.output
            assert prompt.output in doc.text


def test_task1_and_task3_answers_come_from_the_text(bench: Benchmark) -> None:
    for doc in documents(bench):
        if doc.task == "Task2":
            continue
        (qa,) = doc.prompts[1:]
        assert qa.id == f"{doc.id}qa0"
        assert qa.input.endswith("?") and next(iter(full_names(doc.text))) in qa.input
        fact = qa.output.removesuffix(".").removeprefix("In ")
        assert fact.lower() in doc.text.lower(), (qa.output, doc.text)
        assert len(qa.output.split()) <= 12


def test_ids_unique_and_shaped_like_lume(bench: Benchmark) -> None:
    ids: list[str] = []
    for split_name, split in bench.splits.items():
        for kind, docs in (("f", split.forget), ("r", split.retain)):
            for doc in docs:
                shape = DOC_ID.fullmatch(doc.id)
                assert shape, doc.id
                assert (shape["task"], shape["split"], shape["kind"]) == (doc.task[-1], split_name, kind)
                ids.append(doc.id)
                ids.extend(p.id for p in doc.prompts)
                assert all(re.fullmatch(re.escape(doc.id) + r"(sc1|qa[0-4])", p.id) for p in doc.prompts)
        for mia in split.nonmember:
            shape = DOC_ID.fullmatch(mia.id)
            assert shape and shape["kind"] == "n" and shape["split"] == split_name, mia.id
            ids.append(mia.id)
    assert len(ids) == len(set(ids))
    forget_ids = {doc.id for doc in bench.all_documents("forget")}
    assert not forget_ids & {doc.id for doc in bench.all_documents("retain")}


def test_members_are_the_forget_documents(bench: Benchmark) -> None:
    for split in bench.splits.values():
        assert [(m.id, m.text) for m in split.member] == [(d.id, d.text) for d in split.forget]


def test_nonmembers_share_no_text_or_name_with_trained_documents(bench: Benchmark) -> None:
    trained = documents(bench)
    trained_texts = {doc.text for doc in trained}
    trained_names = set().union(*(full_names(doc.text) for doc in trained))
    nonmembers = [m for split in bench.splits.values() for m in split.nonmember]
    assert len({m.text for m in nonmembers}) == len(nonmembers)
    for mia in nonmembers:
        assert mia.text not in trained_texts
        names = full_names(mia.text)
        assert len(names) == 1 and not names & trained_names, (names, mia.id)
    # Non-members look like members: the same three kinds of document.
    assert {DOC_ID.fullmatch(m.id)["task"] for m in nonmembers} == {"1", "2", "3"}


def test_every_document_has_its_own_main_character(bench: Benchmark) -> None:
    texts = [doc.text for doc in documents(bench)]
    texts += [m.text for split in bench.splits.values() for m in split.nonmember]
    names = [full_names(text) for text in texts]
    assert all(len(found) == 1 for found in names), [n for n in names if len(n) != 1]
    assert len({next(iter(found)) for found in names}) == len(texts)


def test_texts_are_clean_ascii_in_the_expected_length(bench: Benchmark) -> None:
    for doc in documents(bench):
        low, high = WORD_RANGES[doc.task]
        assert low <= len(doc.text.split()) <= high, (doc.id, len(doc.text.split()))
        for text in (doc.text, *(p.input for p in doc.prompts), *(p.output for p in doc.prompts)):
            assert text.isascii() and text == text.strip()
            assert "  " not in text and "{" not in text and "}" not in text and " ," not in text
    texts = [doc.text for doc in documents(bench)]
    assert len(set(texts)) == len(texts)


def test_templates_vary_within_a_task(bench: Benchmark) -> None:
    for task in TASKS:
        openings = {doc.text.split()[0] for doc in documents(bench) if doc.task == task}
        if task == "Task3":  # every entry opens with its title, the name; the lead sentence varies instead
            openings = {"Born in" in doc.text for doc in documents(bench) if doc.task == task}
        assert len(openings) >= 2, task


@pytest.mark.parametrize(
    "bad",
    [
        {"docs_per_task": 0},
        {"docs_per_task": -1},
        {"doc_per_task": 3},
        {"splits": ()},
        {"splits": ("train", "train")},
        {"splits": ("my split",)},
        {"nonmembers_per_split": -1},
        {"docs_per_task": NAME_POOL_SIZE},
    ],
)
def test_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ValidationError):
        SyntheticConfig(**bad)


def test_fifty_docs_per_task_is_fast() -> None:
    start = time.perf_counter()
    bench = generate(SyntheticConfig(docs_per_task=50))
    assert time.perf_counter() - start < 1.0
    assert len(bench.all_documents("forget")) == 3 * 3 * 50


# --- probes --------------------------------------------------------------------------------------


def test_probes_leave_the_fingerprint_alone() -> None:
    # Cached targets and oracles are keyed by the records: probes are kept out of `fingerprint()`
    # so that adding or editing them retrains nothing.
    bench = generate()
    assert all(split.probes for split in bench.splits.values())
    bare = replace(bench, splits={k: replace(v, probes=()) for k, v in bench.splits.items()})
    assert bare.fingerprint() == bench.fingerprint()
    assert bare.probes_fingerprint() != bench.probes_fingerprint()


def test_probes_are_deterministic(bench: Benchmark) -> None:
    again = generate(SyntheticConfig(seed=3, docs_per_task=6))
    assert [split.probes for split in again.splits.values()] == [
        split.probes for split in bench.splits.values()
    ]
    assert again.probes_fingerprint() == bench.probes_fingerprint()
    assert (
        generate(SyntheticConfig(seed=4, docs_per_task=6)).probes_fingerprint() != bench.probes_fingerprint()
    )


def probes_by_prompt(bench: Benchmark) -> dict[str, list[Probe]]:
    out: dict[str, list[Probe]] = {}
    for split in bench.splits.values():
        for probe in split.probes:
            out.setdefault(probe.of, []).append(probe)
    return out


def test_every_forget_document_and_only_those_get_probes(bench: Benchmark) -> None:
    by_prompt = probes_by_prompt(bench)
    per_task = {"Task1": 6, "Task2": 22, "Task3": 6}
    for split in bench.splits.values():
        for doc in split.forget:
            probes = [p for prompt in doc.prompts for p in by_prompt.get(prompt.id, [])]
            assert len(probes) == per_task[doc.task], doc.id
            labels = [p.label for p in probes]
            assert labels.count("mid_document") == 2
            qa = [p for p in doc.prompts if p.kind == "qa"]
            for label, n in (("paraphrase", 2), ("alias", 1), ("two_hop", 1)):
                assert labels.count(label) == n * len(qa), (doc.id, label)
            for probe in probes:
                assert re.fullmatch(
                    re.escape(probe.of) + r":(paraphrase[01]|alias0|two_hop0|mid_document[01])", probe.id
                )
        retain_prompts = {p.id for doc in split.retain for p in doc.prompts}
        assert not retain_prompts & set(by_prompt)
    ids = [p.id for split in bench.splits.values() for p in split.probes]
    assert len(ids) == len(set(ids))


def test_mid_document_probes_rebuild_the_text(bench: Benchmark) -> None:
    for doc in bench.all_documents("forget"):
        sc = doc.prompts[0]
        mids = [p for p in probes_by_prompt(bench)[sc.id] if p.label == "mid_document"]
        assert len(mids) == 2 and mids[0].kind == "sc"
        starts = [len(sc.input)]
        for probe in mids:
            assert probe.input + " " + probe.output == doc.text
            assert len(probe.output.split()) >= MIN_PROBE_COMPLETION_WORDS
            starts.append(len(probe.input))
        words = len(doc.text.split())
        # about a third and two thirds in, and never the sc prompt's own cut
        assert len(mids[0].input.split()) <= words // 2 < len(mids[1].input.split()) + 5
        assert len(set(starts)) == 3, doc.id


def test_probe_answers_come_from_the_facts(bench: Benchmark) -> None:
    by_prompt = probes_by_prompt(bench)
    for doc in bench.all_documents("forget"):
        (name,) = full_names(doc.text)
        for prompt in doc.prompts[1:]:
            probes = {p.label + p.id[-1]: p for p in by_prompt[prompt.id]}
            for key in ("paraphrase0", "paraphrase1", "alias0"):  # the same question: the same answer
                assert probes[key].output == prompt.output, probes[key]
                assert probes[key].input != prompt.input and probes[key].input.endswith("?")
            assert probes["paraphrase0"].input != probes["paraphrase1"].input
            assert name not in probes["alias0"].input and name not in probes["two_hop0"].input
            for probe in probes.values():
                # the question never gives its answer away
                assert probe.output.lower().removesuffix(".") not in probe.input.lower(), probe
                assert "{" not in probe.input + probe.output and probe.input.isascii()
            hop = probes["two_hop0"]
            fact = hop.output.removesuffix(".").removeprefix("In ")
            assert fact.lower() in doc.text.lower(), (hop, doc.text)
            assert hop.output != prompt.output
    # the fixture asks each of the three story questions, so each story template is checked above
    story_questions = {
        " ".join(p.input.split()[:2])
        for d in bench.all_documents("forget")
        if d.task == "Task1"
        for p in d.prompts[1:]
    }
    assert story_questions == {"Where did", "What did", "Who went"}


def test_task2_two_hops_follow_the_pii(bench: Benchmark) -> None:
    by_prompt = probes_by_prompt(bench)
    for doc in bench.all_documents("forget"):
        if doc.task != "Task2":
            continue
        birth, ssn, phone, _email, address = (p.output for p in doc.prompts[1:])
        hops = [next(p for p in by_prompt[q.id] if p.label == "two_hop") for q in doc.prompts[1:]]
        town = address.split(", ")[1]
        assert [h.output for h in hops] == [town, birth[-4:], town, birth[-4:], ssn]
        assert f", {town}, " in address
        assert phone in hops[2].input and address in hops[4].input


def test_task3_two_hop_years_and_awards_are_in_the_text(bench: Benchmark) -> None:
    by_prompt = probes_by_prompt(bench)
    task3 = [doc for doc in bench.all_documents("forget") if doc.task == "Task3"]
    kinds = set()
    for doc in task3:
        (hop,) = (p for p in by_prompt[doc.prompts[1].id] if p.label == "two_hop")
        assert hop.output in doc.text
        if hop.output.isdigit():  # the year of the first award: the question names that award
            award = re.search(r"receive (the .*)\?$", hop.input)[1]
            (sentence,) = (line for line in re.split(r"(?<=\.)\s", doc.text) if award in line)
            assert hop.output in sentence, (hop, sentence)
        kinds.add("year" if hop.output.isdigit() else "award" if hop.output.startswith("the ") else "city")
    assert kinds == {"year", "award", "city"}  # each of the three questions is covered
