"""Inference-time unlearning: methods that change what a deployed model serves, not its weights.

Each is a wrapper of the target's subject (`subjects/base.py`), so the evaluator, the attacks and
the report treat it as one more row. The weights underneath stay the target's, which is the
point to see: an attack on the weights (quantization, relearning) reaches what they still hold.

- `prompt`: an instruction before every prompt not to reveal the forget set's subjects;
- `icul`: in-context unlearning (Pawelczyk et al. 2023): forget prompts with non-answers and
  retain prompts with their answers as examples before every prompt;
- `guardrail`: a prompt classifier flags prompts about the forget set, whose generations may
  not complete an n-gram of the forget references (after GUARD, arXiv 2505.13312);
- `uld`: unlearning from logit difference (Ji et al. 2024, arXiv 2406.08607): served logits are
  the target's minus those of a small assistant trained to remember the forget set.

A method is one file with a typed config and `build(ctx, cfg) -> (subject, cost)`; adding one
is that file, one line in `INFERENCE`, and its test.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from obliviate.config import RunConfig
from obliviate.config_base import StrictModel
from obliviate.data.records import Benchmark, Split
from obliviate.subjects.base import Subject


class InferenceConfig(StrictModel):
    """Fields shared by every inference-time method; each sets its `name` literal."""

    name: str


@dataclass
class InferenceContext:
    """What a method is built from: the run, its benchmark and split, the target's model
    directory, and the target as a (cached) subject to wrap."""

    cfg: RunConfig
    benchmark: Benchmark
    split_name: str
    target_dir: Path  # <target run>/model
    target: Subject

    @property
    def split(self) -> Split:
        return self.benchmark.split(self.split_name)


@dataclass(frozen=True)
class InferenceMethod:
    config: type[InferenceConfig]
    build: Callable[[InferenceContext, InferenceConfig], tuple[Subject, dict]]
    summary: str = ""


# Each name is its file `inference/<name>.py`, imported on first use (ULD's imports the engine).
INFERENCE_NAMES = ("uld", "icul", "guardrail", "prompt")


def _registry() -> dict[str, InferenceMethod]:
    return {name: importlib.import_module(f"obliviate.inference.{name}").METHOD for name in INFERENCE_NAMES}


def inference_config(name: str, overrides: dict | None = None) -> InferenceConfig:
    """The typed config of an inference-time method with `overrides` applied (unknown fields fail)."""
    if name not in INFERENCE_NAMES:
        raise ValueError(f"unknown inference-time method {name!r}; choose from {', '.join(INFERENCE_NAMES)}")
    return _registry()[name].config(**(overrides or {}))


def build_inference(ctx: InferenceContext, cfg: InferenceConfig) -> tuple[Subject, dict]:
    """The method's subject over the target, and its cost columns."""
    return _registry()[cfg.name].build(ctx, cfg)


def serving_overhead(plain: Subject, served: Subject, prompts: Sequence[str], max_new_tokens: int) -> float:
    """Seconds per generated token of `served` over those of `plain` (a plain model) on the same
    prompts, both uncached, with weights, detectors and kernels loaded before timing: what serving
    the method costs per token. Per token, as a method that answers shorter is not faster for it."""
    tokenizer = plain.hf_model()[1]
    for subject in (plain, served):
        subject.generate(prompts[:2], 4, 2)  # load everything outside the timing
    per_token = []
    for subject in (plain, served):
        start = time.perf_counter()
        outputs = subject.generate(prompts, max_new_tokens, len(prompts))
        seconds = time.perf_counter() - start
        # +1 a generation: the EOS most of them end with
        tokens = sum(len(tokenizer(text, add_special_tokens=False).input_ids) + 1 for text in outputs)
        per_token.append(seconds / tokens)
    return round(per_token[1] / per_token[0], 2)


def method_overhead(
    cfg: RunConfig,
    benchmark: Benchmark,
    split_name: str,
    target_dir: Path,
    method: InferenceConfig,
    prompts: Sequence[str],
    max_new_tokens: int,
) -> float:
    """`serving_overhead` of the method built over an uncached target (the row's own subject wraps
    the pass cache, whose answers would be timed instead of the model's)."""
    from obliviate.subjects import load_subject

    def plain() -> Subject:
        return load_subject(target_dir, cfg.eval, cfg.model.trust_remote_code)

    target = plain()
    served, _ = build_inference(InferenceContext(cfg, benchmark, split_name, target_dir, plain()), method)
    try:
        return serving_overhead(target, served, prompts, max_new_tokens)
    finally:
        target.release()
        served.release()


def forget_prompts(split: Split) -> list:
    """The split's forget prompts, in document order."""
    return [p for doc in split.forget for p in doc.prompts]


def retain_prompts(split: Split) -> list:
    return [p for doc in split.retain for p in doc.prompts]


__all__ = [
    "INFERENCE_NAMES",
    "InferenceConfig",
    "InferenceContext",
    "InferenceMethod",
    "build_inference",
    "forget_prompts",
    "inference_config",
    "method_overhead",
    "retain_prompts",
    "serving_overhead",
]
