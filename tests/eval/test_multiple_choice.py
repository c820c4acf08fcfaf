"""MMLU and WMDP through lm-eval from a local copy in their own formats (`eval/multiple_choice.py`).

The fixtures (`tests/fixtures/multiple_choice/`, written for this project) run end to end through
lm-eval on the project's tiny random model, steered by scripted logits, and every score must equal
a count made here from the fixture files, without lm-eval:
- steered to one option letter whatever the prompt, a model scores the share of the fixture's
  answers that are that letter;
- steered to the right letter on chosen questions and a wrong one on the others, recognised by
  their prompt as written out here (description, few-shot examples, question, options,
  'Answer:'), it scores the share of chosen questions; a prompt lm-eval builds otherwise fails;
- left alone, it scores the share of questions where, by log-likelihoods computed here, the
  gold letter comes first.
The refusals (no lm-eval, no data, bad rows) need no lm-eval and no model.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch

import obliviate.eval.multiple_choice as mc
from obliviate.eval.config import MMLUConfig, UtilityConfig, WMDPConfig
from obliviate.eval.metrics.utility import UtilityUnavailable, evaluate_utility, mmlu_accuracy
from obliviate.eval.multiple_choice import (
    SUITES,
    SuiteDataError,
    SuiteUnavailable,
    local_subjects,
    multiple_choice_scores,
    write_local_tasks,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "multiple_choice"
MMLU_DIR, WMDP_DIR = FIXTURES / "mmlu", FIXTURES / "wmdp"
LETTERS = "ABCD"
ABOUT = {
    "high_school_biology": "high school biology",
    "elementary_mathematics": "elementary mathematics",
    "wmdp-bio": "biology",
    "wmdp-cyber": "cybersecurity",
}
TASKS = {
    "mmlu_high_school_biology": (MMLU_DIR, "high_school_biology"),
    "mmlu_elementary_mathematics": (MMLU_DIR, "elementary_mathematics"),
    "wmdp_bio": (WMDP_DIR, "wmdp-bio"),
    "wmdp_cyber": (WMDP_DIR, "wmdp-cyber"),
}
GROUPS = {
    "mmlu": ["mmlu_elementary_mathematics", "mmlu_high_school_biology"],
    "wmdp": ["wmdp_bio", "wmdp_cyber"],
}
# The questions the steered model gets right (by position in their test file); it gets the others wrong.
KNOWN = {
    "mmlu_high_school_biology": {0, 2, 3},
    "mmlu_elementary_mathematics": {1},
    "wmdp_bio": {0, 1},
    "wmdp_cyber": {2},
}

needs_lm_eval = pytest.mark.skipif(
    importlib.util.find_spec("lm_eval") is None, reason="lm-eval not installed"
)


# --- the fixtures, read here without the module under test --------------------------------------


def fixture_rows(task: str, split: str = "test") -> list[dict]:
    root, subject = TASKS[task]
    (path,) = (root / subject).glob(f"{split}.json*")
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else [json.loads(line) for line in text.splitlines()]


def question_text(row: dict) -> str:
    """lm-eval's doc_to_text of MMLU and WMDP, written out."""
    options = "".join(f"\n{letter}. {choice}" for letter, choice in zip(LETTERS, row["choices"], strict=True))
    return f"{row['question'].strip()}{options}\nAnswer:"


def prompt(task: str, row: dict, shots: list[dict] = ()) -> str:
    """The description, the few-shot examples (question, ' <letter>', blank line), the question."""
    head = f"The following are multiple choice questions (with answers) about {ABOUT[TASKS[task][1]]}.\n\n"
    examples = "".join(f"{question_text(s)} {LETTERS[s['answer']]}\n\n" for s in shots)
    return head + examples + question_text(row)


def test_fixture_answers_are_as_documented():
    answers = {task: "".join(LETTERS[r["answer"]] for r in fixture_rows(task)) for task in TASKS}
    assert answers == {
        "mmlu_high_school_biology": "BADB",
        "mmlu_elementary_mathematics": "CBAB",
        "wmdp_bio": "ACCB",
        "wmdp_cyber": "DCA",
    }


def expected_scores(counts: dict[str, tuple[int, int]], group: str) -> dict[str, float]:
    """Each task's right / asked, and the group's over all its questions (lm-eval's weight_by_size)."""
    scores = {task: right / n for task, (right, n) in counts.items()}
    scores[group] = sum(counts[t][0] for t in GROUPS[group]) / sum(counts[t][1] for t in GROUPS[group])
    return scores


def configs(num_fewshot: int = 0):
    return {
        "mmlu": MMLUConfig(data_dir=MMLU_DIR, num_fewshot=num_fewshot),
        "wmdp": WMDPConfig(data_dir=WMDP_DIR),
    }


# --- the model: tiny, random, steerable -----------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The project's `tiny` base (random Llama, BPE tokenizer trained on the fixture questions)."""
    from obliviate.models import BaseSpec, TinyConfig, load_base

    texts = [json.dumps(fixture_rows(task)) for task in TASKS]
    small = TinyConfig(vocab_size=300, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64)
    model, tokenizer, _ = load_base(BaseSpec(name="tiny", tiny=small), tmp_path_factory.mktemp("mc"), texts)
    return model.eval(), tokenizer


@contextlib.contextmanager
def steered(model, tokenizer, pick):
    """Within the block, each sequence the model reads gets +10 on the logits of the tokens of
    ' <letter>' for the letter `pick(text)` returns (its text decoded; None: no change)."""
    own = {L: set(tokenizer(" " + L, add_special_tokens=False)["input_ids"]) for L in LETTERS}
    unique = {L: sorted(own[L] - set().union(*(own[M] for M in LETTERS if M != L))) for L in LETTERS}
    assert all(unique.values())

    def hook(module, args, kwargs, output):
        ids = args[0] if args else kwargs["input_ids"]  # (B, T)
        for b, row in enumerate(ids.tolist()):
            letter = pick(tokenizer.decode(row, skip_special_tokens=True))
            if letter is not None:
                output.logits[b, :, unique[letter]] += 10.0

    handle = model.register_forward_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def oracle(group: str, num_fewshot: int = 0):
    """(pick, unknown prompts): the right letter for the KNOWN questions, the next one for the
    others, recognised only by their prompt exactly as `prompt` writes it."""
    letters = {}
    for task in GROUPS[group]:
        shots = fixture_rows(task, "dev")[:num_fewshot] if num_fewshot else []
        for i, row in enumerate(fixture_rows(task)):
            answer = row["answer"] if i in KNOWN[task] else (row["answer"] + 1) % 4
            letters[prompt(task, row, shots)] = LETTERS[answer]
    unknown = []

    def pick(text):
        for context, letter in letters.items():
            # lm-eval feeds context + continuation but its last token: ' X' less 1 token is '' or ' '
            if text.startswith(context) and text[len(context) :] in ("", " "):
                return letter
        unknown.append(text)
        return None

    return pick, unknown


def known_counts(group: str) -> dict[str, tuple[int, int]]:
    return {task: (len(KNOWN[task]), len(fixture_rows(task))) for task in GROUPS[group]}


@torch.no_grad()
def letter_logliks(model, tokenizer, context: str) -> list[float]:
    """log p(' A' | context) .. log p(' D' | context): the context encoded alone, the continuation
    as the tokens that encoding context + continuation adds (lm-eval's split for causal models)."""
    context_ids = tokenizer(context)["input_ids"]
    out = []
    for letter in LETTERS:
        ids = tokenizer(context + " " + letter)["input_ids"]
        assert ids[: len(context_ids)] == context_ids
        logprobs = model(torch.tensor([ids[:-1]])).logits[0].log_softmax(-1)  # (T-1, V)
        out.append(sum(float(logprobs[t - 1, ids[t]]) for t in range(len(context_ids), len(ids))))
    return out


def hand_count(model, tokenizer, task: str) -> tuple[int, int]:
    """(questions whose gold letter has the highest log-likelihood, questions)."""
    rows = fixture_rows(task)
    right = 0
    for row in rows:
        ll = letter_logliks(model, tokenizer, prompt(task, row))
        first, second = sorted(ll, reverse=True)[:2]
        assert first - second > 1e-4, "a near tie: the count would hang on rounding"
        right += ll.index(first) == row["answer"]
    return right, len(rows)


# --- end to end through lm-eval ------------------------------------------------------------------


@needs_lm_eval
@pytest.mark.parametrize("letter", ["B", "C"])
def test_a_model_that_always_says_one_letter_scores_that_letters_share(tiny, letter):
    model, tokenizer = tiny
    with steered(model, tokenizer, lambda text: letter):
        for group, cfg in configs().items():
            counts = {}
            for task in GROUPS[group]:
                answers = [LETTERS[r["answer"]] for r in fixture_rows(task)]
                counts[task] = (answers.count(letter), len(answers))
            assert multiple_choice_scores(model, tokenizer, cfg) == pytest.approx(
                expected_scores(counts, group)
            )


@needs_lm_eval
@pytest.mark.parametrize(("group", "num_fewshot"), [("mmlu", 0), ("wmdp", 0), ("mmlu", 2)])
def test_a_model_that_knows_chosen_questions_scores_their_share(tiny, group, num_fewshot):
    """Also checks every prompt lm-eval scored, few-shot examples included, against `prompt`."""
    model, tokenizer = tiny
    pick, unknown = oracle(group, num_fewshot)
    with steered(model, tokenizer, pick):
        scores = multiple_choice_scores(model, tokenizer, configs(num_fewshot)[group])
    assert not unknown, f"lm-eval scored a prompt not written here: {unknown[0]!r}"
    assert scores == pytest.approx(expected_scores(known_counts(group), group))


@needs_lm_eval
@pytest.mark.parametrize("group", ["mmlu", "wmdp"])
def test_scores_equal_a_hand_count_on_the_tiny_model(tiny, group):
    model, tokenizer = tiny
    counts = {task: hand_count(model, tokenizer, task) for task in GROUPS[group]}
    assert multiple_choice_scores(model, tokenizer, configs()[group]) == pytest.approx(
        expected_scores(counts, group)
    )


@needs_lm_eval
def test_mmlu_utility_reads_the_local_copy(tiny):
    model, tokenizer = tiny

    class Subject:
        def hf_model(self):
            return model, tokenizer

    pick, unknown = oracle("mmlu")
    cfg = UtilityConfig(kind="mmlu", mmlu=configs()["mmlu"])
    with steered(model, tokenizer, pick):
        out = evaluate_utility(Subject(), cfg, known_ids=None, target_ppl=None)
    assert not unknown
    assert out["utility/kind"] == "mmlu"
    assert (
        out["utility"]
        == out["utility/mmlu"]
        == pytest.approx(expected_scores(known_counts("mmlu"), "mmlu")["mmlu"])
    )
    assert out["provenance"]["mmlu"]["data_dir"] == str(MMLU_DIR)  # JSON-ready


@needs_lm_eval
def test_a_hub_snapshot_in_parquet_and_single_tasks(tiny, tmp_path):
    """The layout `huggingface-cli download cais/mmlu` leaves: parquet shards per subject, an
    'all' directory repeating them (skipped) and a hidden cache folder."""
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    model, tokenizer = tiny
    snapshot = tmp_path / "mmlu"
    for task in GROUPS["mmlu"]:
        subject = TASKS[task][1]
        (snapshot / subject).mkdir(parents=True)
        for split in ("test", "dev"):
            table = pa.Table.from_pylist(fixture_rows(task, split))
            pq.write_table(table, snapshot / subject / f"{split}-00000-of-00001.parquet")
    (snapshot / "all").mkdir()
    pq.write_table(
        pa.Table.from_pylist(fixture_rows("mmlu_elementary_mathematics")), snapshot / "all" / "test.parquet"
    )
    (snapshot / ".cache").mkdir()
    assert [s.name for s in local_subjects(SUITES["mmlu"], snapshot)] == [
        "elementary_mathematics",
        "high_school_biology",
    ]
    expected = expected_scores(known_counts("mmlu"), "mmlu")
    pick, unknown = oracle("mmlu")
    with steered(model, tokenizer, pick):
        assert multiple_choice_scores(model, tokenizer, MMLUConfig(data_dir=snapshot, num_fewshot=0)) == (
            pytest.approx(expected)
        )
        one = MMLUConfig(data_dir=snapshot, num_fewshot=0, task="mmlu_elementary_mathematics")
        assert multiple_choice_scores(model, tokenizer, one) == pytest.approx(
            {"mmlu_elementary_mathematics": expected["mmlu_elementary_mathematics"]}
        )
    assert not unknown


@needs_lm_eval
def test_local_tasks_read_only_the_local_copies(tmp_path):
    """The generated tasks: lm-eval's template, `json` on the checked copies, the group by size."""
    import yaml

    tasks_dir = write_local_tasks(SUITES["wmdp"], WMDPConfig(data_dir=WMDP_DIR), tmp_path)
    bio = yaml.safe_load((tasks_dir / "wmdp_bio.yaml").read_text())
    assert bio["include"].endswith("lm_eval/tasks/wmdp/_default_template_yaml")
    assert bio["dataset_path"] == "json" and bio["dataset_name"] is None
    assert all(Path(f).is_relative_to(tmp_path) for f in bio["dataset_kwargs"]["data_files"].values())
    group = yaml.safe_load((tasks_dir / "_wmdp.yaml").read_text())
    assert group["task"] == ["wmdp_bio", "wmdp_cyber"]
    assert group["aggregate_metric_list"][0]["weight_by_size"] is True


# --- refusals: one line each, and never a fallback ------------------------------------------------


@pytest.fixture
def no_harness(monkeypatch):
    """lm-eval's modules stubbed out: the data checks come before any of them is used."""
    monkeypatch.setattr(mc, "lm_eval_modules", lambda: (None, None, None))


def refusal(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


def copy_mmlu(tmp_path: Path) -> Path:
    return Path(shutil.copytree(MMLU_DIR, tmp_path / "mmlu"))


def test_missing_or_empty_data_dir(no_harness, tmp_path):
    with pytest.raises(SuiteUnavailable) as err:
        multiple_choice_scores(None, None, MMLUConfig(data_dir=tmp_path / "nowhere"))
    assert "does not exist" in refusal(err)
    (tmp_path / "all").mkdir()
    (tmp_path / "all" / "test.jsonl").write_text(
        MMLU_DIR.joinpath("high_school_biology/test.jsonl").read_text()
    )
    (tmp_path / "auxiliary_train").mkdir()
    with pytest.raises(SuiteUnavailable) as err:
        multiple_choice_scores(None, None, MMLUConfig(data_dir=tmp_path))
    assert "no mmlu test files" in refusal(err) and "cais/mmlu" in refusal(err)
    with pytest.raises(SuiteUnavailable) as err:
        multiple_choice_scores(None, None, WMDPConfig(data_dir=tmp_path / "auxiliary_train"))
    assert "wmdp-bio" in refusal(err)


def test_wmdp_refuses_an_mmlu_directory(no_harness):
    with pytest.raises(SuiteDataError) as err:
        multiple_choice_scores(None, None, WMDPConfig(data_dir=MMLU_DIR))
    assert "not a wmdp config" in refusal(err)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"question": "Q?", "choices": ["a", "b", "c", "d"], "answer": "B"}', "'answer'"),
        ('{"question": "Q?", "choices": ["a", "b", "c", "d"], "answer": 4}', "'answer'"),
        ('{"question": "Q?", "choices": ["a", "b", "c", "d"], "answer": true}', "'answer'"),
        ('{"question": "Q?", "choices": ["a", "b", "c"], "answer": 0}', "'choices'"),
        ('{"question": "Q?", "choices": ["a", "b", "c", 4], "answer": 0}', "'choices'"),
        ('{"choices": ["a", "b", "c", "d"], "answer": 0}', "'question'"),
        ('["Q?", ["a", "b", "c", "d"], 0]', "an object"),
        ('{"question": "Q?", "choices": ', "not valid JSON"),
    ],
)
def test_a_bad_row_names_the_file_the_line_and_the_field(no_harness, tmp_path, line, field):
    data = copy_mmlu(tmp_path)
    bad = data / "high_school_biology" / "test.jsonl"
    bad.write_text(bad.read_text().splitlines()[0] + "\n" + line + "\n")
    with pytest.raises(SuiteDataError) as err:
        multiple_choice_scores(None, None, MMLUConfig(data_dir=data, num_fewshot=0))
    assert str(bad) in refusal(err) and "line 2" in refusal(err) and field in refusal(err)


def test_a_bad_row_in_a_json_list_and_unsupported_files(no_harness, tmp_path):
    data = copy_mmlu(tmp_path)
    bad = data / "elementary_mathematics" / "test.json"
    rows = json.loads(bad.read_text())
    rows[2]["choices"] = "9, 8, 6, 3"
    bad.write_text(json.dumps(rows))
    with pytest.raises(SuiteDataError) as err:
        multiple_choice_scores(None, None, MMLUConfig(data_dir=data, num_fewshot=0))
    assert str(bad) in refusal(err) and "row 3" in refusal(err) and "'choices'" in refusal(err)
    bad.rename(bad.with_suffix(".csv"))
    with pytest.raises(SuiteDataError) as err:
        multiple_choice_scores(None, None, MMLUConfig(data_dir=data, num_fewshot=0))
    assert "unsupported format '.csv'" in refusal(err)


def test_few_shot_needs_enough_dev_examples(no_harness, tmp_path):
    with pytest.raises(SuiteDataError) as err:
        multiple_choice_scores(None, None, MMLUConfig(data_dir=MMLU_DIR, num_fewshot=5))  # 2 dev rows
    assert "num_fewshot=5" in refusal(err) and "2 rows" in refusal(err)
    data = copy_mmlu(tmp_path)
    (data / "high_school_biology" / "dev.jsonl").unlink()
    with pytest.raises(SuiteUnavailable) as err:
        multiple_choice_scores(None, None, MMLUConfig(data_dir=data, num_fewshot=1))
    assert "high_school_biology" in refusal(err) and "num_fewshot=0" in refusal(err)


def test_a_task_not_in_the_local_copy_is_refused_not_fetched(no_harness):
    for task in ("mmlu_anatomy", "mmlu_stem"):
        with pytest.raises(ValueError, match="mmlu_elementary_mathematics, mmlu_high_school_biology") as err:
            multiple_choice_scores(None, None, MMLUConfig(data_dir=MMLU_DIR, task=task))
        assert "\n" not in str(err.value)


def test_without_lm_eval_both_suites_say_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def no_lm_eval(name, *args, **kwargs):
        if name == "lm_eval" or name.startswith("lm_eval."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lm_eval)
    with pytest.raises(SuiteUnavailable, match="pip install lm-eval") as err:
        multiple_choice_scores(None, None, WMDPConfig(data_dir=WMDP_DIR))
    refusal(err)
    with pytest.raises(UtilityUnavailable, match="pip install lm-eval") as err:
        mmlu_accuracy(None, None, MMLUConfig(data_dir=MMLU_DIR))
    assert "utility.kind=offline" in refusal(err)


def test_mmlu_utility_turns_a_missing_copy_into_utility_unavailable(no_harness, tmp_path):
    with pytest.raises(UtilityUnavailable, match="does not exist") as err:
        mmlu_accuracy(None, None, MMLUConfig(data_dir=tmp_path / "nowhere"))
    assert "utility.kind=offline" in refusal(err)


def test_configs():
    assert MMLUConfig().data_dir is None and MMLUConfig().num_fewshot == 5  # the hub, as before
    assert WMDPConfig().task == "wmdp" and WMDPConfig().data_dir is None
    with pytest.raises(ValueError):
        WMDPConfig(num_fewshot=5)  # lm-eval's wmdp tasks fix 0 and would ignore it
    assert UtilityConfig.model_validate({"mmlu": {"data_dir": "data/mmlu"}}).mmlu.data_dir == Path(
        "data/mmlu"
    )
