"""A subject whose passes go through the on-disk pass cache (`eval/cache.py`).

    subject = CachedSubject(HFSubject(path, dtype="bf16"), PassCache(cache_dir / "passes"))

Each pass is looked up by the inner subject's fingerprint, its inputs and the settings that change
its output; the inner subject runs only on a miss (and so loads its weights only then).
"""

from __future__ import annotations

from obliviate.eval import fused_moments
from obliviate.eval.cache import PassCache
from obliviate.eval.passes import GENERATION_VERSION, SAMPLE_VERSION, TOKEN_STATS_VERSION
from obliviate.keys import text_key
from obliviate.subjects.base import Subject


class CachedSubject(Subject):
    def __init__(self, inner: Subject, cache: PassCache):
        self.inner, self.cache = inner, cache
        self.name, self.fingerprint = inner.name, inner.fingerprint
        self.dtype, self.device = inner.dtype, inner.device

    @property
    def numerics(self) -> str:
        return self.inner.numerics

    def _settings(self, **settings) -> dict:
        # The CPU engine's numbers do not depend on the machine's device; other devices' may differ
        # from them, so they are cached apart (CPU keys stay those of earlier versions).
        device = {} if self.device.type == "cpu" else {"device": self.device.type}
        return {**settings, "dtype": self.dtype, **device}

    def generate(self, prompts, max_new_tokens, batch_size, drafts=None) -> list[str]:
        # Drafts change the speed, not the tokens, so they stay out of the key.
        settings = self._settings(**{"max_new_tokens": max_new_tokens, "pass": "greedy"})
        settings["version"] = GENERATION_VERSION
        return self.cache.generations(
            self.fingerprint,
            prompts,
            settings,
            lambda: self.inner.generate(prompts, max_new_tokens, batch_size, drafts),
        )

    def sample(self, prompts, k, max_new_tokens, temperature, top_p, seed):
        # Every sampling setting is in the key: another seed is another set of samples, and the
        # "sample" pass keeps them apart from greedy generations of the same prompts.
        settings = self._settings(
            **{
                "pass": "sample",
                "k": k,
                "max_new_tokens": max_new_tokens,
                "temperature": temperature,
                "top_p": top_p,
                "seed": seed,
                "version": SAMPLE_VERSION,
            }
        )
        return self.cache.samples(
            self.fingerprint,
            prompts,
            settings,
            lambda: self.inner.sample(prompts, k, max_new_tokens, temperature, top_p, seed),
        )

    def token_stats(self, texts, batch_size):
        settings = self._settings(**{"pass": "token_stats", "version": TOKEN_STATS_VERSION})
        if self.device.type == "cpu":  # the moments' last bits depend on the kernel (fused_moments)
            settings["moments"] = fused_moments.implementation()
        return self.cache.token_stats(
            self.fingerprint, texts, settings, lambda: self.inner.token_stats(texts, batch_size)
        )

    def answer_logprobs(self, prompts, answers, batch_size):
        pairs = list(zip(prompts, answers, strict=True))
        return self.cache.answer_logprobs(
            self.fingerprint,
            pairs,
            self._settings(**{"pass": "answer_logprobs"}),
            lambda: self.inner.answer_logprobs(prompts, answers, batch_size),
        )

    def perplexity(self, text, window, stride, batch_size) -> float:
        settings = self._settings(text=text_key(text), window=window, stride=stride)
        return self.cache.value(
            "ppl", self.fingerprint, settings, lambda: self.inner.perplexity(text, window, stride, batch_size)
        )

    def hf_model(self):
        return self.inner.hf_model()

    def release(self) -> None:
        self.inner.release()

    def with_weights(self, attack) -> CachedSubject:
        return CachedSubject(self.inner.with_weights(attack), self.cache)
