"""A fixed text before every prompt: a system instruction, a jailbreak preamble, in-context examples.

    subject = PromptPrefixSubject(HFSubject(path), "Do not reveal anything about Ada Lovelace.\n")

The prefix conditions what the subject is asked (`generate`, `sample`, `answer_logprobs`); the likelihood of
whole documents and of the utility text (`token_stats`, `perplexity`) reads the weights unchanged,
as a deployed model's instruction does not enter a membership test of its weights. Its fingerprint
joins the inner subject's with the prefix, so its passes are cached apart from the inner one's.
"""

from __future__ import annotations

from obliviate.keys import content_key
from obliviate.subjects.base import Subject


class PromptPrefixSubject(Subject):
    def __init__(self, inner: Subject, prefix: str):
        if not prefix:
            raise ValueError("a prompt prefix must not be empty")
        self.inner, self.prefix = inner, prefix
        self.name = f"{inner.name} + prompt prefix"
        self.fingerprint = content_key(
            {"wrapper": "prompt_prefix", "inner": inner.fingerprint, "prefix": prefix}
        )
        self.dtype, self.device = inner.dtype, inner.device

    def generate(self, prompts, max_new_tokens, batch_size, drafts=None) -> list[str]:
        prefixed = [self.prefix + p for p in prompts]
        return self.inner.generate(prefixed, max_new_tokens, batch_size, drafts)

    def sample(self, prompts, k, max_new_tokens, temperature, top_p, seed):
        prefixed = [self.prefix + p for p in prompts]
        return self.inner.sample(prefixed, k, max_new_tokens, temperature, top_p, seed)

    def answer_logprobs(self, prompts, answers, batch_size):
        return self.inner.answer_logprobs([self.prefix + p for p in prompts], answers, batch_size)

    def token_stats(self, texts, batch_size):
        return self.inner.token_stats(texts, batch_size)

    def perplexity(self, text, window, stride, batch_size):
        return self.inner.perplexity(text, window, stride, batch_size)

    def release(self) -> None:
        self.inner.release()

    def with_weights(self, attack) -> PromptPrefixSubject:
        return PromptPrefixSubject(self.inner.with_weights(attack), self.prefix)
