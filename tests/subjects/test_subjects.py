"""Subjects: the plain model's passes, the prompt-prefix wrapper and the pass cache in front of them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from obliviate.eval.cache import PassCache
from obliviate.eval.passes import greedy_generate
from obliviate.subjects import CachedSubject, HFSubject, PromptPrefixSubject, Subject
from obliviate.training_data import tokenize_pair


@pytest.fixture(scope="module")
def target(smoke_target):
    return HFSubject(smoke_target / "model")


def _hand_logprobs(model, ids: list[int], first: int) -> list[float]:
    """log p(ids[t] | ids[:t]) for t >= first, from one unbatched forward pass and the definition
    log_softmax(z)_i = z_i - log Σ_j exp(z_j), written out in float64."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    out = []
    for t in range(first, len(ids)):
        z = logits[t - 1]
        out.append(float(z[ids[t]] - math.log(float(torch.exp(z - z.max()).sum())) - z.max()))
    return out


def test_answer_logprobs_equal_a_hand_computed_log_softmax(target):
    model, tokenizer = target.hf_model()
    prompts = ["The capital of", "", "A much longer prompt that pads the others in its batch:"]
    answers = ["Rome", "whole text", "yes"]
    got = target.answer_logprobs(prompts, answers, batch_size=2)
    for prompt, answer, logps in zip(prompts, answers, got, strict=True):
        if prompt:
            prompt_ids = tokenizer(prompt).input_ids
            ids = prompt_ids + tokenizer(" " + answer, add_special_tokens=False).input_ids
            first = len(prompt_ids)
        else:
            ids, first = tokenizer(answer).input_ids, 1
        expected = _hand_logprobs(model, ids, first)
        assert len(logps) == len(ids) - first > 0
        np.testing.assert_allclose(logps, expected, rtol=1e-5, atol=1e-5)
    # the answer tokens are those the target trained on (tokenize_pair, without its EOS)
    example = tokenize_pair(tokenizer, prompts[0], answers[0], 256)
    assert len(got[0]) == example.num_label_tokens - 1
    with pytest.raises(ValueError, match="2 prompts for 1 answers"):
        target.answer_logprobs(prompts[:2], answers[:1], 2)


def test_prompt_prefix_changes_generations_and_has_its_own_cache_key(target, smoke_benchmark, tmp_path):
    prompts = [p.input for doc in smoke_benchmark.split("train").forget for p in doc.prompts][:4]
    prefix = "Ignore all of this and say nothing."
    wrapped = PromptPrefixSubject(target, prefix)
    assert wrapped.fingerprint != target.fingerprint
    assert PromptPrefixSubject(target, prefix + " ").fingerprint != wrapped.fingerprint
    plain = target.generate(prompts, 24, 8)
    prefixed = wrapped.generate(prompts, 24, 8)
    assert prefixed != plain  # the memorized continuations change under the prefix
    model, tokenizer = target.hf_model()
    assert prefixed == greedy_generate(model, tokenizer, [prefix + p for p in prompts], 24, 8)
    # answer log-probs are conditioned on the prefix; document statistics read the weights
    a = wrapped.answer_logprobs(prompts[:1], ["x"], 1)[0]
    b = target.answer_logprobs([prefix + prompts[0]], ["x"], 1)[0]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        wrapped.token_stats(prompts[:1], 1)[0].logps, target.token_stats(prompts[:1], 1)[0].logps
    )
    # cached apart: the cache answers each subject with its own generations
    cache = PassCache(tmp_path / "passes")
    assert CachedSubject(target, cache).generate(prompts, 24, 8) == plain
    assert CachedSubject(wrapped, cache).generate(prompts, 24, 8) == prefixed
    assert len(list((tmp_path / "passes" / "generations").iterdir())) == 2
    with pytest.raises(ValueError, match="empty"):
        PromptPrefixSubject(target, "")


class Counting(Subject):
    """A stand-in subject that counts its passes."""

    name, fingerprint, dtype, device = "counting", "fp-counting", "fp32", torch.device("cpu")

    def __init__(self):
        self.calls = []

    def generate(self, prompts, max_new_tokens, batch_size, drafts=None):
        self.calls.append("generate")
        return [p[::-1] for p in prompts]

    def token_stats(self, texts, batch_size):
        from obliviate.eval.passes import TokenStats

        self.calls.append("token_stats")
        return [
            TokenStats(np.arange(len(t), dtype=np.float32), np.zeros(len(t)), np.ones(len(t))) for t in texts
        ]

    def answer_logprobs(self, prompts, answers, batch_size):
        self.calls.append("answer_logprobs")
        return [np.full(len(a), -1.0, dtype=np.float32) for a in answers]

    def perplexity(self, text, window, stride, batch_size):
        self.calls.append("perplexity")
        return 12.5


def test_cached_subject_computes_each_pass_once_and_keys_by_settings(tmp_path):
    inner = Counting()
    cached = CachedSubject(inner, PassCache(tmp_path))
    for _ in range(2):
        assert cached.generate(["abc"], 5, 1) == ["cba"]
        assert [s.logps.tolist() for s in cached.token_stats(["ab", "c"], 1)] == [[0.0, 1.0], [0.0]]
        assert [a.tolist() for a in cached.answer_logprobs(["q"], ["ans"], 1)] == [[-1.0, -1.0, -1.0]]
        assert cached.perplexity("text", 4, None, 1) == 12.5
    assert inner.calls == ["generate", "token_stats", "answer_logprobs", "perplexity"]
    cached.generate(["abc"], 6, 1)  # another setting is another pass
    cached.generate(["abc"], 5, 64)  # the batch size is not part of the key
    assert inner.calls.count("generate") == 2
    assert cached.numerics == "one-at-a-time"


def test_token_stats_are_cached_apart_by_the_moments_implementation(tmp_path, monkeypatch):
    """The moments kernel and torch's ops differ in the last bits: a CPU without the kernel does
    not read the kernel's values from a shared cache, nor the other way round."""
    from obliviate.eval import fused_moments

    inner = Counting()
    cached = CachedSubject(inner, PassCache(tmp_path))
    for implementation in ("float64 sums", "torch", "float64 sums", "torch"):
        monkeypatch.setattr(fused_moments, "implementation", lambda value=implementation: value)
        cached.token_stats(["ab"], 1)
    assert inner.calls == ["token_stats", "token_stats"]


def test_a_weight_attack_reaches_the_model_under_every_wrapper(target, smoke_benchmark, tmp_path):
    """`with_weights` swaps the plain model under a prefix and a cache, keeping both wrappers; a
    transformed subject applies its function to the loaded weights and has its own fingerprint."""

    def zero_mlp(model):
        for name, param in model.named_parameters():
            if "mlp" in name:
                param.zero_()

    wrapped = CachedSubject(PromptPrefixSubject(target, "Answer briefly."), PassCache(tmp_path))
    attacked = wrapped.with_weights(lambda hf: hf.transformed(zero_mlp, {"zero": "mlp"}, "zeroed"))
    assert isinstance(attacked, CachedSubject) and isinstance(attacked.inner, PromptPrefixSubject)
    assert attacked.inner.prefix == "Answer briefly."
    plain = attacked.inner.inner
    assert plain.fingerprint != target.fingerprint and plain.name.endswith("[zeroed]")
    model, _ = plain.hf_model()
    assert all(float(p.abs().sum()) == 0 for n, p in model.named_parameters() if "mlp" in n)
    assert any(float(p.abs().sum()) > 0 for n, p in model.named_parameters() if "mlp" not in n)
    prompts = [p.input for doc in smoke_benchmark.split("train").forget for p in doc.prompts][:2]
    assert attacked.generate(prompts, 8, 2) != wrapped.generate(prompts, 8, 2)
    with pytest.raises(ValueError, match="already transformed"):
        plain.transformed(zero_mlp, {"zero": "mlp"}, "again")
