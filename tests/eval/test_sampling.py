"""Sampled generations (`passes.sample_generate`) and the subjects' `sample`, on a tiny random
Llama with a BPE tokenizer trained on a few sentences: seeded, independent of the other prompts of
a call, greedy at a tiny top_p, cached by every setting."""

from __future__ import annotations

import pytest
import torch

from obliviate.eval import passes
from obliviate.eval.cache import PassCache
from obliviate.eval.passes import (
    _decode_continuous,
    _sampled_tokens,
    greedy_generate,
    nuclei,
    sample_generate,
    top_p_filter,
)
from obliviate.models import train_tiny_tokenizer
from obliviate.subjects import CachedSubject, HFSubject, PromptPrefixSubject
from tests.conftest import tiny_llama
from tests.subjects.test_subjects import Counting

TEXTS = [
    "Ada Lovelace wrote the first program for the Analytical Engine.",
    "The cat sat on the mat and looked at the garden.",
    "Paris is the capital of France; Rome is the capital of Italy.",
]
PROMPTS = ["Ada Lovelace wrote", "The capital of France is", "The cat"]


@pytest.fixture(scope="module")
def tiny():
    tokenizer = train_tiny_tokenizer(TEXTS, vocab_size=300)
    # the tokenizer's <pad>, <s>, </s> are ids 0, 1, 2, as tiny_llama's config has them
    assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    return tiny_llama(seed=0, vocab=len(tokenizer)).eval(), tokenizer


def _sample(tiny, prompts, seed=0, k=4, top_p=1.0, temperature=1.0):
    return sample_generate(*tiny, prompts, k, 12, temperature, top_p, seed)


def test_samples_are_reproducible_and_change_with_the_seed(tiny):
    first = _sample(tiny, PROMPTS, seed=0)
    assert len(first) == len(PROMPTS) and all(len(s) == 4 for s in first)
    assert _sample(tiny, PROMPTS, seed=0) == first
    # near-uniform next-token distributions over ~300 tokens: 12 tokens per sample leave no chance
    # that two seeds, or two rows of one seed, agree
    assert all(len(set(s)) == 4 for s in first)
    other = _sample(tiny, PROMPTS, seed=1)
    assert all(a != b for a, b in zip(first, other, strict=True))


def test_a_prompts_samples_do_not_depend_on_the_other_prompts(tiny):
    together = _sample(tiny, PROMPTS, seed=3)
    for i, prompt in enumerate(PROMPTS):
        assert _sample(tiny, [prompt], seed=3) == [together[i]]
    assert _sample(tiny, PROMPTS[::-1], seed=3) == together[::-1]


def test_a_tiny_top_p_is_greedy_decoding(tiny):
    greedy = greedy_generate(*tiny, PROMPTS, max_new_tokens=12, batch_size=2)
    assert len(set(greedy)) == len(PROMPTS)
    sampled = _sample(tiny, PROMPTS, k=3, top_p=1e-9, temperature=1.0)
    assert sampled == [[g] * 3 for g in greedy]
    # and a high temperature changes nothing when only the top token is left
    assert _sample(tiny, PROMPTS, k=3, top_p=1e-9, temperature=5.0) == sampled


def _rows(model, prompt, k, limit, stop, batch_size=8):
    generators = [torch.Generator().manual_seed(j) for j in range(k)]
    return _decode_continuous(
        model,
        [prompt] * k,
        [[] for _ in range(k)],
        limit,
        sorted(stop),
        0,
        batch_size,
        choose=_sampled_tokens(1.0, 1.0),
        generators=generators,
    )


def test_rows_stop_at_their_first_stop_token(tiny):
    model, _ = tiny
    stop = set(range(0, 300, 2))  # half of the tokens: rows stop after a couple of tokens, unevenly
    rows = _rows(model, [1, 40, 41], 8, 10, stop)
    assert len(rows) == 8
    for row in rows:
        assert all(t not in stop for t in row[:-1])
        assert row[-1] in stop or len(row) == 10
    assert len({len(r) for r in rows}) > 1  # some rows ran on after others had stopped
    # a row's draws come from its own generator only: the same in a batch of 3 places (rows leave
    # and others enter) as in one of 8
    assert _rows(model, [1, 40, 41], 8, 10, stop, batch_size=3) == rows
    assert all(len(r) == 10 for r in _rows(model, [1, 40, 41], 8, 10, set()))


def test_top_p_filter_keeps_the_nucleus_by_hand():
    # probs (0.5, 0.3, 0.15, 0.05): the nucleus is the smallest top set with mass >= top_p
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
    for top_p, kept in [
        (1e-9, [True, False, False, False]),  # the top token always survives
        (0.5, [True, False, False, False]),  # 0.5 >= 0.5
        (0.7, [True, True, False, False]),
        (0.8, [True, True, False, False]),  # 0.5 + 0.3 = 0.8 >= 0.8
        (0.81, [True, True, True, False]),
        (1.0, [True, True, True, True]),
    ]:
        filtered = top_p_filter(logits, top_p)
        assert filtered.isfinite().tolist() == kept, top_p
        assert torch.equal(filtered[filtered.isfinite()], logits[filtered.isfinite()])  # kept as they were
    # rows are filtered independently, whatever order their tokens come in
    rows = torch.stack([logits, logits[[3, 1, 0, 2]]])
    assert top_p_filter(rows, 0.7).isfinite().tolist() == [
        [True, True, False, False],
        [False, True, True, False],
    ]


@pytest.mark.parametrize(
    "k, temperature, top_p, message",
    [(0, 1.0, 1.0, "k = 0"), (2, 0.0, 1.0, "temperature"), (2, 1.0, 0.0, "top_p"), (2, 1.0, 1.5, "top_p")],
)
def test_bad_sampling_arguments_are_refused(tiny, k, temperature, top_p, message):
    with pytest.raises(ValueError, match=message):
        sample_generate(*tiny, PROMPTS, k, 4, temperature, top_p, 0)


def test_subjects_sample_through_the_pass_with_their_prompts(tiny):
    subject = HFSubject.from_loaded(*tiny, fingerprint="fp-tiny")
    assert subject.sample(PROMPTS, 2, 12, 1.0, 0.9, 7) == sample_generate(*tiny, PROMPTS, 2, 12, 1.0, 0.9, 7)
    prefix = "Remember: "
    wrapped = PromptPrefixSubject(subject, prefix)
    expected = sample_generate(*tiny, [prefix + p for p in PROMPTS], 2, 12, 1.0, 0.9, 7)
    assert wrapped.sample(PROMPTS, 2, 12, 1.0, 0.9, 7) == expected
    with pytest.raises(TypeError, match="counting: this subject cannot sample"):
        Counting().sample(PROMPTS, 2, 12, 1.0, 0.9, 7)


class Sampling(Counting):
    """`Counting` that also samples: k copies of the reversed prompt, tagged with the seed."""

    def sample(self, prompts, k, max_new_tokens, temperature, top_p, seed):
        self.calls.append("sample")
        return [[f"{p[::-1]}-{seed}-{j}" for j in range(k)] for p in prompts]


def test_cached_samples_are_keyed_by_every_sampling_setting(tmp_path):
    inner = Sampling()
    cached = CachedSubject(inner, PassCache(tmp_path))
    settings = {"k": 2, "max_new_tokens": 5, "temperature": 1.0, "top_p": 0.9, "seed": 0}
    for _ in range(2):
        assert cached.sample(["abc"], **settings) == [["cba-0-0", "cba-0-1"]]
    assert inner.calls == ["sample"]
    for change in ({"seed": 1}, {"k": 3}, {"max_new_tokens": 6}, {"temperature": 0.7}, {"top_p": 0.95}):
        cached.sample(["abc"], **{**settings, **change})
    assert inner.calls.count("sample") == 6
    assert cached.sample(["abc"], **{**settings, "seed": 1}) == [["cba-1-0", "cba-1-1"]]  # a hit
    assert inner.calls.count("sample") == 6
    # greedy generations of the same prompt are another pass, in another file
    assert cached.generate(["abc"], 5, 1) == ["cba"]
    assert inner.calls[-1] == "generate"
    assert len(list((tmp_path / "samples").iterdir())) == 6


@pytest.mark.parametrize("top_p", [0.05, 0.5, 0.9, 0.95, 0.999, 1.0])
def test_the_nucleus_from_candidates_is_the_filters_nucleus(top_p, monkeypatch):
    """`nuclei` finds among each row's top candidates what `top_p_filter` keeps with a full sort: peaked
    and flat distributions (beyond the candidates), ties inside the candidates and at their edge,
    a vocabulary below the candidate count."""
    g = torch.Generator().manual_seed(0)
    rows = [torch.randn(5000, generator=g) * scale for scale in (0.5, 3.0, 8.0, 20.0)]
    wide_tie = torch.full((5000,), -10.0)
    wide_tie[:3], wide_tie[100:900] = 5.0, 2.0  # a plateau of 800 equal tokens after the top 3
    narrow_tie = torch.full((5000,), -10.0)
    narrow_tie[4000], narrow_tie[37 * torch.arange(20)] = 5.0, 4.0  # 20 tied tokens, ids apart
    rows += [wide_tie, narrow_tie, torch.zeros(5000), torch.randn(300, generator=g) * 4]
    full_sorts = []  # the rows that took top_p_filter's full sort
    monkeypatch.setattr(passes, "top_p_filter", lambda *a: full_sorts.append(a[0]) or top_p_filter(*a))
    wide = torch.stack([*rows[:7], rows[0]])  # the rows of one width in one call, as decoding makes it
    narrow = rows[7][None]
    wanted = [True] * 7 + [False]  # the last: a finished row, nothing found for it
    found = nuclei(wide, torch.softmax(wide, -1), top_p, wanted)
    assert found.pop() is None
    found += nuclei(narrow, torch.softmax(narrow, -1), top_p)
    for i, logits in enumerate(rows):
        ids, weights = found[i]
        expected = top_p_filter(logits, top_p).isfinite().nonzero().squeeze(-1)
        assert sorted(ids.tolist()) == expected.tolist()
        assert torch.equal(weights, torch.softmax(logits, -1)[ids])
    if top_p < 1:  # the most peaked row and the narrow tie are found among the candidates
        assert not any(torch.equal(r, rows[3]) or torch.equal(r, rows[5]) for r in full_sorts)
        assert any(torch.equal(r, rows[6]) for r in full_sorts)  # the flat row reaches past them
        monkeypatch.setattr(passes, "NUCLEUS_CANDIDATES", (16,))  # the first, smallest stage alone
        peaked = nuclei(rows[3][None], torch.softmax(rows[3], -1)[None], top_p)[0]
        assert torch.equal(peaked[0], found[3][0]) and torch.equal(peaked[1], found[3][1])
        assert not any(torch.equal(r, rows[3]) for r in full_sorts)
