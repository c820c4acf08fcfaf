"""Subjects that change what they are asked: a fixed prefix (a system instruction, a jailbreak
preamble), or a context chosen per prompt (in-context unlearning's examples).

    subject = PromptPrefixSubject(HFSubject(path), "Do not reveal anything about Ada Lovelace.\n")

The rewritten prompt conditions what the subject is asked (`generate`, `sample`,
`answer_logprobs`); the likelihood of whole documents and of the utility text (`token_stats`,
`perplexity`) reads the weights unchanged, as a deployed model's instruction does not enter a
membership test of its weights. The fingerprint joins the inner subject's with what determines
the rewrite, so the passes are cached apart from the inner one's.
"""

from __future__ import annotations

from abc import abstractmethod

from obliviate.keys import content_key
from obliviate.subjects.base import Subject


class PromptRewriteSubject(Subject):
    """A subject asked `rewrite(prompt)` instead of each prompt; `key` determines the rewrite."""

    def __init__(self, inner: Subject, key: dict, label: str):
        self.inner = inner
        self.name = f"{inner.name} + {label}"
        self.fingerprint = content_key({**key, "inner": inner.fingerprint})
        self.dtype, self.device = inner.dtype, inner.device

    @abstractmethod
    def rewrite(self, prompt: str) -> str: ...

    @abstractmethod
    def with_inner(self, inner: Subject) -> PromptRewriteSubject:
        """The same rewrite over another inner subject (attacked weights)."""

    def generate(self, prompts, max_new_tokens, batch_size, drafts=None) -> list[str]:
        return self.inner.generate([self.rewrite(p) for p in prompts], max_new_tokens, batch_size, drafts)

    def sample(self, prompts, k, max_new_tokens, temperature, top_p, seed):
        rewritten = [self.rewrite(p) for p in prompts]
        return self.inner.sample(rewritten, k, max_new_tokens, temperature, top_p, seed)

    def answer_logprobs(self, prompts, answers, batch_size):
        return self.inner.answer_logprobs([self.rewrite(p) for p in prompts], answers, batch_size)

    def token_stats(self, texts, batch_size):
        return self.inner.token_stats(texts, batch_size)

    def perplexity(self, text, window, stride, batch_size):
        return self.inner.perplexity(text, window, stride, batch_size)

    def release(self) -> None:
        self.inner.release()

    def with_weights(self, attack) -> PromptRewriteSubject:
        return self.with_inner(self.inner.with_weights(attack))


class PromptPrefixSubject(PromptRewriteSubject):
    def __init__(self, inner: Subject, prefix: str):
        if not prefix:
            raise ValueError("a prompt prefix must not be empty")
        self.prefix = prefix
        super().__init__(inner, {"wrapper": "prompt_prefix", "prefix": prefix}, "prompt prefix")

    def rewrite(self, prompt: str) -> str:
        return self.prefix + prompt

    def with_inner(self, inner: Subject) -> PromptPrefixSubject:
        return PromptPrefixSubject(inner, self.prefix)
