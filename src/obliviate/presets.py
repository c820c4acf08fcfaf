"""Presets: the run config of each embedded benchmark, with command-line overrides.

Resolution order: code defaults -> preset -> `--set section.field=value` overrides -> the few
typed options of each command (`--model`, `--data`). The resolved config is printed and saved.

- `smoke`: tiny random Llama on a few synthetic documents; memorizes in well under a minute.
- `default`: SmolLM2-135M-Instruct on a small synthetic benchmark; what `make demo` runs.
- real LUME: `--data ../shared/data/lume --model <hf id or dir>` on either preset.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from obliviate.benchmarks.records import Benchmark
from obliviate.benchmarks.synthetic import SyntheticConfig
from obliviate.benchmarks.synthetic import generate as generate_synthetic
from obliviate.engine import TrainConfig
from obliviate.models import BaseSpec, TinyConfig
from obliviate.params import ParamsConfig


class RunConfig(BaseModel):
    """Everything a target / unlearn / bench run needs, minus the method's own block."""

    model_config = ConfigDict(extra="forbid")
    preset: str = Field("smoke", description="name of the preset this config came from")
    model: BaseSpec = Field(default_factory=BaseSpec, description="base model")
    data: Path | None = Field(
        None, description="benchmark directory (LUME or JSONL); None: synthetic generator"
    )
    synthetic: SyntheticConfig = Field(
        default_factory=SyntheticConfig, description="synthetic benchmark size"
    )
    split: str = Field("train", description="split whose forget set is unlearned and evaluated")
    max_length: int = Field(512, ge=16, description="maximum tokens per training example")
    target_params: ParamsConfig = Field(
        default_factory=ParamsConfig, description="what target fine-tuning trains"
    )
    target_train: TrainConfig = Field(default_factory=TrainConfig, description="target / oracle fine-tuning")
    unlearn_params: ParamsConfig = Field(default_factory=ParamsConfig, description="what unlearning trains")
    unlearn_train: TrainConfig = Field(default_factory=TrainConfig, description="unlearning optimisation")
    max_new_tokens: int = Field(64, ge=1, description="generation length of the quick evaluation")
    cache_dir: Path = Field(Path(".cache/obliviate"), description="base models, targets and oracles")
    out_dir: Path = Field(Path("runs"), description="unlearned models and results")


def _smoke() -> RunConfig:
    return RunConfig(
        preset="smoke",
        model=BaseSpec(
            name="tiny",
            tiny=TinyConfig(
                vocab_size=1024,
                hidden_size=128,
                num_layers=2,
                num_heads=4,
                intermediate_size=384,
                max_length=256,
            ),
        ),
        synthetic=SyntheticConfig(docs_per_task=1),
        max_length=256,
        target_train=TrainConfig(lr=3e-3, epochs=60, batch_size=8, warmup_ratio=0.05, scheduler="cosine"),
        unlearn_train=TrainConfig(lr=1e-3, epochs=5, batch_size=4, scheduler="constant"),
        max_new_tokens=96,
    )


def _default() -> RunConfig:
    return RunConfig(
        preset="default",
        model=BaseSpec(name="smollm2-135m"),
        synthetic=SyntheticConfig(docs_per_task=4),
        max_length=256,
        target_train=TrainConfig(
            lr=2e-4, epochs=8, batch_size=8, warmup_ratio=0.05, scheduler="cosine", checkpoint_every=20
        ),
        unlearn_train=TrainConfig(lr=2e-5, epochs=4, batch_size=8, scheduler="constant"),
        max_new_tokens=96,
    )


PRESETS = {"smoke": _smoke, "default": _default}


def parse_override(text: str) -> tuple[list[str], object]:
    """`a.b=value` -> (["a", "b"], value); the value is read as JSON when it parses, else a string."""
    if "=" not in text:
        raise ValueError(f"--set {text!r}: expected section.field=value")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip().split("."), value


def resolve_config(preset: str, overrides: list[str] = (), **options: object) -> RunConfig:
    """Preset -> dotted `--set` overrides -> typed options (those not None). Validates the result."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    data = PRESETS[preset]().model_dump()
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise ValueError(f"--set {text!r}: unknown section {part!r}")
            node = node[part]
        if not isinstance(node, dict) or path[-1] not in node:
            raise ValueError(f"--set {text!r}: unknown field {path[-1]!r}")
        node[path[-1]] = value
    for key, value in options.items():
        if value is None:
            continue
        if key == "model":
            data["model"]["name"] = value
        else:
            data[key] = value
    return RunConfig.model_validate(data)


def load_run_benchmark(cfg: RunConfig) -> Benchmark:
    """The benchmark a run config names: a data directory, or the synthetic generator."""
    if cfg.data is not None:
        from obliviate.benchmarks import load_benchmark

        return load_benchmark(cfg.data)
    return generate_synthetic(cfg.synthetic)
