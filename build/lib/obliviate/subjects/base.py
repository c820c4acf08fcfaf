"""A subject: something that answers, as the evaluation sees it.

Every metric is computed from four kinds of pass, and a subject is whatever can run them:

- `generate(prompts, max_new_tokens, batch_size, drafts)`: greedy continuations of raw prompts;
- `token_stats(texts, batch_size)`: per-token statistics of whole documents (`TokenStats`: log p of
  each token and the moments of the next-token distribution), which every MIA attack reads;
- `answer_logprobs(prompts, answers, batch_size)`: per-token log p of given answers after given
  prompts (answer probabilities, truth ratios);
- `perplexity(text, window, stride, batch_size)`: perplexity of a long text in windows (utility);
- `sample(prompts, k, max_new_tokens, temperature, top_p, seed)`: k sampled continuations per
  prompt (the sampling leakage attack); optional, a subject that cannot sample says so.

`fingerprint` changes whenever any pass could: it keys the pass cache (`CachedSubject`). A subject
that changes another one wraps it (`PromptPrefixSubject`), so a quantized model, a logit
difference or an output filter is one more wrapper, and the evaluator never knows the difference.
An attack on the weights (`with_weights`) replaces the plain model underneath every wrapper.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from obliviate.eval.passes import TokenStats

if TYPE_CHECKING:
    from obliviate.subjects.hf import HFSubject


class Subject(ABC):
    """What the evaluation asks a model (or a wrapped model) for; see the module docstring."""

    name: str  # what the subject is, for results and messages (a path, or a wrapper's description)
    fingerprint: str  # content key of everything that determines its outputs
    dtype: str  # "fp32" | "bf16": the weights' dtype its passes run in
    device: torch.device

    @property
    def numerics(self) -> str:
        """'one-at-a-time' where generations equal the official one-prompt loop's token for token
        (the CPU engine), 'batched' where a batch may round differently (GPUs)."""
        return "one-at-a-time" if self.device.type == "cpu" else "batched"

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[str],
        max_new_tokens: int,
        batch_size: int,
        drafts: Sequence[str] | None = None,
    ) -> list[str]:
        """Greedy continuations of raw prompts (drafts: texts to verify speculatively; they change
        the speed, never the tokens)."""

    @abstractmethod
    def token_stats(self, texts: Sequence[str], batch_size: int) -> list[TokenStats]: ...

    @abstractmethod
    def answer_logprobs(
        self, prompts: Sequence[str], answers: Sequence[str], batch_size: int
    ) -> list[np.ndarray]: ...

    @abstractmethod
    def perplexity(self, text: str, window: int, stride: int | None, batch_size: int) -> float: ...

    def sample(
        self, prompts: Sequence[str], k: int, max_new_tokens: int, temperature: float, top_p: float, seed: int
    ) -> list[list[str]]:
        """`k` sampled continuations of each raw prompt (`passes.sample_generate`). Not abstract:
        only the sampling attack needs it, so other subjects need not implement it."""
        raise TypeError(f"{self.name}: this subject cannot sample")

    def hf_model(self):
        """(model, tokenizer) for tools that need the plain model itself (lm-eval's MMLU); only a
        subject that is a plain model has one."""
        raise TypeError(f"{self.name}: not a plain model; this measure needs one")

    def release(self) -> None:
        """Free the weights (a later pass loads them again)."""
        return None

    def with_weights(self, attack: Callable[[HFSubject], Subject]) -> Subject:
        """The same subject over attacked weights: `attack` maps the plain model underneath (an
        `HFSubject`) to another one (quantized, fine-tuned), and every wrapper around it is kept, so
        an attack on the weights of a wrapped subject still reaches them."""
        raise TypeError(f"{self.name}: has no weights to attack")
