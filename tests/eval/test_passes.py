"""The fast generation engine and the likelihood pass against their plain definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from obliviate.eval.cache import PassCache
from obliviate.eval.metrics.mia import token_moments
from obliviate.eval.passes import greedy_generate, reference_generate, token_statistics
from obliviate.models import load_model
from tests.conftest import target_or_base


def _prompts(benchmark):
    split = benchmark.split("train")
    return [p.input for doc in (*split.forget, *split.retain) for p in doc.prompts]


@pytest.mark.parametrize("which", ["target", "base"])
def test_batched_generation_equals_one_at_a_time(which, smoke_cfg, smoke_benchmark, smoke_target):
    # The target stops at EOS after its memorized answer; the random base rambles to the limit:
    # rows of one batch stop at different steps, which exercises dropping finished rows.
    model, tokenizer = target_or_base(which, smoke_cfg, smoke_benchmark, smoke_target)
    prompts = _prompts(smoke_benchmark)
    one_by_one = reference_generate(model, tokenizer, prompts, max_new_tokens=40)
    # batch 5: rows leave and newcomers join one by one; batch 16: finished rows ride along until
    # four have finished, then leave together
    for batch_size in (5, 16):
        batched = greedy_generate(model, tokenizer, prompts, max_new_tokens=40, batch_size=batch_size)
        assert batched == one_by_one, batch_size
    assert len(set(batched)) > 1


def test_token_statistics_match_the_official_loss_and_the_moments(smoke_benchmark, smoke_target):
    model, tokenizer = load_model(smoke_target / "model")
    texts = [d.text for d in smoke_benchmark.split("train").member][:3] + ["A short text."]
    stats = token_statistics(model, tokenizer, texts, batch_size=2)
    for text, s in zip(texts, stats, strict=True):
        ids = torch.tensor([tokenizer(text).input_ids])
        with torch.no_grad():
            official = model(input_ids=ids, labels=ids).loss.item()  # LUME's MIA loss
            logprobs = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1).numpy()
        assert s.mean_nll == pytest.approx(official, abs=1e-4)
        mu, sigma = token_moments(logprobs)
        np.testing.assert_allclose(s.mu, mu, atol=1e-4)
        np.testing.assert_allclose(s.sigma, sigma, atol=1e-4)
        assert len(s.logps) == ids.shape[1] - 1


def test_pass_cache_computes_once(tmp_path):
    cache = PassCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return ["a", "b"]

    assert cache.generations("fp", ["x", "y"], {"n": 1}, compute) == ["a", "b"]
    assert cache.generations("fp", ["x", "y"], {"n": 1}, compute) == ["a", "b"]
    assert len(calls) == 1
    cache.generations("fp", ["x", "y"], {"n": 2}, compute)  # other settings: recomputed
    cache.generations("fp2", ["x", "y"], {"n": 1}, compute)  # other model: recomputed
    assert len(calls) == 3
    assert not list(tmp_path.rglob(".*tmp*"))  # no temporary file left behind
