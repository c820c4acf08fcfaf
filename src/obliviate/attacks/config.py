"""Settings of the robustness attacks (`--set attacks.<attack>.<field>=value`), pydantic only, so a
run config holds them without importing torch.

Defaults at our scale, from the papers' settings (`../shared/reference/METHODS.md` §4-5):

- relearning: full fine-tuning at a constant learning rate of the order of the unlearning runs'
  own (the papers relearn at their unlearning rate, 1e-5 on 7B models; our methods unlearn at
  2e-5 to 1e-4, so 3e-5), batch 4, for 20 steps (Fan et al. relearn for 15 steps on WMDP and
  50-150 on MUSE's much larger forget sets; ours has ~20 examples a split, so 20 steps of 4 are
  8 epochs of the half it trains on), its examples packed without padding (the engine's
  `pack_sequences`);
- relearning speed: the forget scores of the documents that run trains on after 0, 5, 10 and 20
  steps (Hu et al.'s sign of hidden knowledge: fewer steps to recover than the oracle needs to
  learn). It reads the held-out attack's own run, so the two cost one fine-tuning (it used to
  train 40 steps on the whole forget set: as many epochs, twice the cost);
- sampling: 8 samples at temperature 1, top-p 0.95 (Leak@k samples at T=1 and reports k up to 32);
- probes: 3 in-context examples (MUSE's knowledge prompts carry a few QA pairs before the question).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from obliviate.config_base import StrictModel
from obliviate.params import ParamsConfig


class RelearnConfig(StrictModel):
    """Fine-tuning of an attacked model on a relearn set (the held-out, related and speed attacks)."""

    lr: float = Field(3e-5, gt=0, description="constant learning rate (AdamW)")
    steps: int = Field(20, ge=1, description="optimizer steps of the held-out and related attacks")
    batch_size: int = Field(4, ge=1, description="examples per step")
    forget_fraction: float = Field(
        0.5, gt=0, lt=1, description="relearn: the share of each task's forget documents trained on"
    )
    params: ParamsConfig = Field(default_factory=ParamsConfig, description="full fine-tuning or LoRA")
    speed_steps: tuple[int, ...] = Field(
        (0, 5, 10, 20),
        description="relearn-speed: steps of relearn's run after which its training documents are asked",
    )
    recover: float = Field(
        0.9, gt=0, le=1, description="relearn-speed: steps to reach this share of the target's forget scores"
    )
    seed: int = Field(0, description="example order")
    pack_sequences: bool = Field(
        True,
        description="the engine's pack_sequences: no compute on padding (relearning's examples are short "
        "answers beside long documents: 19% of the forget half's tokens); off, batches are right-padded "
        "and the weights differ by rounding",
    )

    @field_validator("speed_steps")
    @classmethod
    def _increasing(cls, steps: tuple[int, ...]) -> tuple[int, ...]:
        if not steps or list(steps) != sorted(set(steps)) or steps[0] < 0:
            raise ValueError(f"speed_steps must be increasing and non-negative, got {list(steps)}")
        return steps


class SampleConfig(StrictModel):
    """Sampled generations of each forget prompt (leak@k)."""

    k: int = Field(8, ge=1, description="samples per prompt")
    temperature: float = Field(1.0, gt=0, description="sampling temperature")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus mass")
    seed: int = Field(0, description="seed of every sample's generator (with its prompt and index)")


class ProbeConfig(StrictModel):
    """Prompt variants asking forgotten knowledge differently."""

    labels: tuple[str, ...] | None = Field(
        None, description="probe labels to run (None: all the benchmark has, plus in_context and affirmative)"
    )
    in_context: int = Field(3, ge=0, description="retain QA pairs before each in-context probe")
    seed: int = Field(0, description="which retain QA pairs the in-context probes show")


class AttackConfig(StrictModel):
    relearn: RelearnConfig = Field(default_factory=RelearnConfig, description="relearning attacks")
    sample: SampleConfig = Field(default_factory=SampleConfig, description="sampling leakage")
    probes: ProbeConfig = Field(default_factory=ProbeConfig, description="probe prompts")
    workers: int = Field(
        0,
        ge=0,
        description="processes attacking rows side by side, one thread each (0: one per core, as many "
        "as rows and memory allow; 1: in this process; more than 1 needs Linux's fork)",
    )
