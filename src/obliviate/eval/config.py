"""The evaluation's config blocks (pydantic only, so a run config can hold them without importing
the evaluation engine): the protocol's settings (`EvalConfig`) and the utility test's."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from obliviate.config_base import StrictModel


class MMLUConfig(StrictModel):
    """MMLU through lm-evaluation-harness (`utility.kind=mmlu`)."""

    task: str = Field("mmlu", description="lm-eval task or group name, e.g. 'mmlu' or 'mmlu_stem'")
    num_fewshot: int = Field(5, ge=0, description="few-shot examples per question (LUME teams used 5)")
    limit: int | None = Field(None, ge=1, description="questions per subtask; None: all (use only to test)")
    batch_size: int = Field(8, ge=1, description="lm-eval batch size")
    data_dir: Path | None = Field(
        None,
        description="local copy of cais/mmlu: <subject>/test*.{parquet,jsonl,json} (+ dev* for few-shot); "
        "None: the hub",
    )


class WMDPConfig(StrictModel):
    """WMDP (hazardous knowledge; `obliviate.eval.multiple_choice`) through lm-evaluation-harness."""

    task: str = Field("wmdp", description="lm-eval task or group: 'wmdp', 'wmdp_bio', 'wmdp_cyber', ...")
    num_fewshot: Literal[0] = Field(0, description="zero-shot, as lm-eval's wmdp task config fixes")
    limit: int | None = Field(None, ge=1, description="questions per subtask; None: all (use only to test)")
    batch_size: int = Field(8, ge=1, description="lm-eval batch size")
    data_dir: Path | None = Field(
        None,
        description="local copy of cais/wmdp: wmdp-{bio,chem,cyber}/test*.{parquet,jsonl,json}; None: hub",
    )


class UtilityConfig(StrictModel):
    """Which utility to measure and how."""

    kind: Literal["offline", "ppl", "mmlu"] = Field(
        "offline",
        description="'offline': general-QA fraction (+ perplexity reported); 'ppl': min(1, target ppl / "
        "model ppl), for models that know no QA item (tiny random ones); 'mmlu': lm-eval MMLU",
    )
    qa_max_items: int | None = Field(None, ge=1, description="first N items of the QA set; None: all")
    qa_max_new_tokens: int = Field(8, ge=1, description="greedy tokens generated per QA answer")
    qa_batch_size: int = Field(16, ge=1, description="QA generation batch size")
    text_chars: int = Field(20_000, ge=1_000, description="characters of the reference text scored")
    ppl_window: int = Field(512, ge=16, description="tokens per perplexity window")
    ppl_stride: int | None = Field(
        None, ge=1, description="tokens between window starts; None: the window (non-overlapping)"
    )
    ppl_batch_size: int = Field(4, ge=1, description="perplexity windows per forward pass")
    mmlu: MMLUConfig = Field(default_factory=MMLUConfig, description="settings of kind 'mmlu'")

    @model_validator(mode="after")
    def _stride_within_window(self) -> UtilityConfig:
        if self.ppl_stride is not None and self.ppl_stride > self.ppl_window:
            raise ValueError(f"ppl_stride ({self.ppl_stride}) must not exceed ppl_window ({self.ppl_window})")
        return self


class BootstrapConfig(StrictModel):
    """The bootstrap behind every interval (`eval/uncertainty.py`)."""

    resamples: int = Field(2000, ge=100, description="bootstrap resamples per row")
    seed: int = Field(0, description="seed of the resamples (rows on the same items share them)")
    level: float = Field(0.95, gt=0, lt=1, description="coverage of the percentile intervals")


class TofuConfig(StrictModel):
    """The TOFU protocol's settings (defaults: open-unlearning's)."""

    max_new_tokens: int = Field(200, ge=1, description="greedy tokens per answer scored by ROUGE")
    min_k: float = Field(0.4, gt=0, le=1, description="k of privleak's Min-K% over answer tokens")


class MuseConfig(StrictModel):
    """The MUSE protocol's settings (defaults: muse-bench's)."""

    verbmem_tokens: int = Field(
        128, ge=1, description="greedy tokens per VerbMem prompt; the reference is cut to as many"
    )
    knowmem_tokens: int = Field(32, ge=1, description="greedy tokens per KnowMem answer")
    min_k: float = Field(0.4, gt=0, le=1, description="k of PrivLeak's Min-K% score")


class EvalConfig(StrictModel):
    """Settings of one evaluation (defaults: the official protocol)."""

    max_new_tokens: int = Field(256, ge=1, description="greedy tokens per prompt (official: 256)")
    batch_size: int = Field(96, ge=1, description="prompts per generation batch")
    drafts: bool = Field(
        False,
        description="verify each prompt's reference output as a draft (speculative decoding; same "
        "greedy tokens, not yet faster on a 2-core CPU)",
    )
    mia_batch_size: int = Field(8, ge=1, description="documents per likelihood forward pass")
    dtype: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="model weights dtype (official: bf16); auto: bf16 on a GPU, fp32 on a CPU"
    )
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$",
        description="where evaluated models run: auto (CUDA when present, else CPU), cpu, cuda, cuda:N, mps",
    )
    min_k: float = Field(0.2, gt=0, le=1, description="k of Min-K% and Min-K%++")
    mmlu_threshold: float | None = Field(
        None, ge=0, le=1, description="eligibility rule: utility (MMLU) below this fails (7B: 0.371)"
    )
    utility: UtilityConfig = Field(default_factory=UtilityConfig, description="utility test")
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig, description="intervals")
    tofu: TofuConfig = Field(default_factory=TofuConfig, description="the TOFU protocol")
    muse: MuseConfig = Field(default_factory=MuseConfig, description="the MUSE protocol")
