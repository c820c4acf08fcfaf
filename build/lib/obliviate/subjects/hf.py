"""The plain subject: a Hugging Face model directory (or hub id) through the exact batched engine.

    subject = HFSubject(Path("runs/unlearn/gd-<key>/model"), dtype="bf16", device=pick_device("auto"))

The weights load on the first pass that needs them, so an evaluation whose passes are all cached
never loads the model. The fingerprint hashes the directory's config and weight bytes.

    quantized = subject.transformed(lambda model: quantize_model(model, spec), spec.key(), "quant4")

A transformed subject applies a function to the weights after loading them in fp32 (before the cast
to its dtype): a fake-quantized model is the same directory read through a transform, and its
fingerprint joins the directory's with the transform's key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from obliviate.device import place
from obliviate.eval import passes
from obliviate.eval.metrics import utility
from obliviate.keys import content_key
from obliviate.models import load_model, model_fingerprint
from obliviate.subjects.base import Subject

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


class HFSubject(Subject):
    def __init__(
        self,
        path: Path | str,
        *,
        dtype: str = "fp32",
        device: torch.device | None = None,
        trust_remote_code: bool = False,
        fingerprint: str | None = None,
    ):
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
        self.path = path
        self.name = str(path)
        self.dtype = dtype
        self.device = device or torch.device("cpu")
        self.trust_remote_code = trust_remote_code
        self.fingerprint = fingerprint or model_fingerprint(path)
        self.transform: Callable[[torch.nn.Module], object] | None = None
        self._loaded = None

    def transformed(
        self, transform: Callable[[torch.nn.Module], object], key: object, label: str
    ) -> HFSubject:
        """The same weights passed through `transform(model)` (in place, in fp32) after loading;
        `key` is what determines the transform's result (it enters the fingerprint)."""
        if self.transform is not None:
            raise ValueError(f"{self.name}: already transformed; attack the plain model")
        out = HFSubject(
            self.path,
            dtype=self.dtype,
            device=self.device,
            trust_remote_code=self.trust_remote_code,
            fingerprint=content_key({"weights": self.fingerprint, "transform": key}),
        )
        out.name = f"{self.name} [{label}]"
        out.transform = transform
        return out

    def with_weights(self, attack) -> HFSubject:
        return attack(self)

    @classmethod
    def from_loaded(cls, model, tokenizer, fingerprint: str, name: str = "in-memory model") -> HFSubject:
        """A subject over a model already in memory (tests, tools that hold one)."""
        dtype = "bf16" if next(model.parameters()).dtype == torch.bfloat16 else "fp32"
        subject = cls(name, dtype=dtype, device=next(model.parameters()).device, fingerprint=fingerprint)
        subject._loaded = (model, tokenizer)
        return subject

    def hf_model(self):
        if self._loaded is None:
            # a transform sees fp32 weights: rounding to bf16 first would change what it rounds
            dtype = torch.float32 if self.transform is not None else DTYPES[self.dtype]
            model, tokenizer = load_model(self.path, trust_remote_code=self.trust_remote_code, dtype=dtype)
            if self.transform is not None:
                with torch.no_grad():
                    self.transform(model)
                model = model.to(DTYPES[self.dtype])
            self._loaded = (place(model, self.device), tokenizer)
        return self._loaded

    def release(self) -> None:
        self._loaded = None

    def generate(self, prompts, max_new_tokens, batch_size, drafts=None) -> list[str]:
        model, tokenizer = self.hf_model()
        draft_ids = [draft_tokens(tokenizer, d) for d in drafts] if drafts is not None else None
        return passes.greedy_generate(model, tokenizer, prompts, max_new_tokens, batch_size, draft_ids)

    def sample(self, prompts, k, max_new_tokens, temperature, top_p, seed) -> list[list[str]]:
        model, tokenizer = self.hf_model()
        return passes.sample_generate(model, tokenizer, prompts, k, max_new_tokens, temperature, top_p, seed)

    def token_stats(self, texts: Sequence[str], batch_size: int) -> list[passes.TokenStats]:
        return passes.token_statistics(*self.hf_model(), texts, batch_size)

    def answer_logprobs(self, prompts, answers, batch_size: int) -> list[np.ndarray]:
        return passes.answer_logprobs(*self.hf_model(), prompts, answers, batch_size)

    def perplexity(self, text: str, window: int, stride: int | None, batch_size: int) -> float:
        return utility.perplexity(*self.hf_model(), text, window, stride, batch_size)


def draft_tokens(tokenizer, output: str) -> list[int]:
    """A prompt's reference output as the model saw it in training, after the prompt's tokens
    (`training_data.tokenize_pair`: `prompt + " " + answer`). The engine verifies it, so a
    draft the model would not write costs speed only."""
    return tokenizer(" " + output, add_special_tokens=False).input_ids
