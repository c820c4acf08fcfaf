"""Subjects: what the evaluation asks for passes (see `base.py`).

subject = load_subject(model_dir, cfg.eval)                 # a model directory, on the configured device
subject = PromptPrefixSubject(subject, "You are a careful assistant.\n")
subject = CachedSubject(subject, PassCache(cache_dir / "passes"))
"""

from __future__ import annotations

import warnings
from pathlib import Path

from obliviate.device import native_bf16, pick_device
from obliviate.eval.config import EvalConfig
from obliviate.subjects.base import Subject
from obliviate.subjects.cached import CachedSubject
from obliviate.subjects.hf import HFSubject
from obliviate.subjects.prefix import PromptPrefixSubject


def load_subject(path: Path | str, cfg: EvalConfig, trust_remote_code: bool = False) -> HFSubject:
    """A model directory (or hub id) as a subject on `cfg.device`, in `cfg.dtype` (`auto`: bf16 on
    a GPU, where batched bf16 is the fast path, fp32 on a CPU); the weights load on first use."""
    device = pick_device(cfg.device)
    dtype = cfg.dtype if cfg.dtype != "auto" else ("fp32" if device.type == "cpu" else "bf16")
    if dtype == "bf16" and device.type == "cpu" and not native_bf16():
        warnings.warn(
            "eval.dtype=bf16 on a CPU without native bf16 (no AVX512-BF16/AMX): emulated, ~15x slower "
            "than fp32 here; --set eval.dtype=fp32 is faster (scores may differ by a few greedy tokens)",
            stacklevel=2,
        )
    return HFSubject(path, dtype=dtype, device=device, trust_remote_code=trust_remote_code)


__all__ = ["CachedSubject", "HFSubject", "PromptPrefixSubject", "Subject", "load_subject"]
