"""Speculative verification in the generation engine: drafts change the speed, never the tokens.

pytest tests/eval/test_drafts.py
"""

from __future__ import annotations

import pytest
import torch

from obliviate.eval.passes import _Row, decode, greedy_generate, stop_token_ids
from tests.conftest import target_or_base

EOS = 2


def test_row_keeps_the_agreeing_prefix_and_then_the_models_token():
    row = _Row(0, [5, 6, 7, 8])
    proposal = row.proposal(room=10)
    assert proposal == [5, 6, 7, 8][: len(proposal)] and len(proposal) >= 3
    # predicted[j] is the model's token after proposal[:j]: it agrees on 5, 6 and then says 9
    kept = row.accept(proposal[:3], [5, 6, 9, 4], {EOS}, limit=100)
    assert kept == 2
    assert row.tokens == [5, 6, 9]
    assert row.cursor is None and not row.done  # off the draft after the miss


def test_row_takes_every_token_and_the_next_when_the_draft_is_right():
    row = _Row(0, [5, 6, 7])
    assert row.accept([5, 6, 7], [5, 6, 7, EOS], {EOS}, limit=100) == 3
    assert row.tokens == [5, 6, 7, EOS] and row.done


def test_row_stops_at_eos_inside_the_draft_and_at_the_limit():
    row = _Row(0, [5, EOS, 7])
    row.accept([5, EOS, 7], [5, EOS, 7, 8], {EOS}, limit=100)
    assert row.tokens == [5, EOS] and row.done  # nothing after EOS, even where the model agrees
    row = _Row(0, [5, 6, 7])
    row.accept([5, 6, 7], [5, 6, 7, 8], {EOS}, limit=2)
    assert row.tokens == [5, 6] and row.done


def test_row_finds_its_draft_again_after_a_miss():
    row = _Row(0, [10, 11, 12, 13, 14, 15])
    row.accept([10, 11], [10, 30, 31], {EOS}, limit=100)  # the model wrote 30 instead of 11
    assert row.tokens == [10, 30] and row.proposal(room=10) == []  # 30 is not in the draft
    row.accept([], [13], {EOS}, limit=100)  # ... then 13: the draft continues after it
    assert row.proposal(room=2) == [14, 15]
    assert row.proposal(room=0) == []


def _one_at_a_time_ids(model, tokenizer, prompts, max_new_tokens):
    """Token ids of the official loop (HF `generate`, one prompt at a time)."""
    out = []
    for prompt in prompts:
        input_ids = torch.tensor([tokenizer(prompt).input_ids])
        generated = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            eos_token_id=stop_token_ids(model, tokenizer),
        )
        out.append(generated[0, input_ids.shape[1] :].tolist())
    return out


def _drafts(kind: str, expected: list[list[int]], vocab: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(0)
    wrong = lambda ids: [(t + 1 + int(torch.randint(vocab - 1, (), generator=g))) % vocab for t in ids]  # noqa: E731
    if kind == "right":  # the generation itself, and tokens after its EOS / past the limit
        return [ids + ids for ids in expected]
    if kind == "wrong":  # wrong at every position
        return [wrong(ids) for ids in expected]
    if kind == "partly":  # right, then one wrong token, then right again (a substitution)
        return [
            ids[: len(ids) // 2] + wrong(ids[len(ids) // 2 : len(ids) // 2 + 1]) + ids[len(ids) // 2 + 1 :]
            for ids in expected
        ]
    return [ids[1:] for ids in expected]  # "shifted": right text, one position late


@pytest.mark.parametrize("which", ["target", "base"])
def test_drafts_never_change_the_generations(which, smoke_cfg, smoke_benchmark, smoke_target):
    # The target stops at EOS after its memorized answer (EOS inside the draft); the random base
    # rambles to max_new_tokens (the limit inside the draft).
    model, tokenizer = target_or_base(which, smoke_cfg, smoke_benchmark, smoke_target)
    split = smoke_benchmark.split("train")
    prompts = [p.input for doc in (*split.forget, *split.retain) for p in doc.prompts]
    expected = _one_at_a_time_ids(model, tokenizer, prompts, max_new_tokens=40)
    official = [decode(tokenizer, ids) for ids in expected]
    assert greedy_generate(model, tokenizer, prompts, max_new_tokens=40, batch_size=5) == official
    for kind in ("right", "wrong", "partly", "shifted"):
        drafts = _drafts(kind, expected, len(tokenizer))
        for batch_size in (5, 16):
            got = greedy_generate(model, tokenizer, prompts, 40, batch_size, drafts=drafts)
            assert got == official, (kind, batch_size)
