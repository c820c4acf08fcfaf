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
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from obliviate.benchmarks.records import Benchmark, subset_benchmark
from obliviate.benchmarks.synthetic import SyntheticConfig
from obliviate.benchmarks.synthetic import generate as generate_synthetic
from obliviate.engine import TrainConfig
from obliviate.erase.config import EraseConfig
from obliviate.eval.evaluate import EvalConfig
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
    docs_per_task: int | None = Field(
        None, ge=1, description="use only the first N forget / retain documents per task and split (--data)"
    )
    split: str = Field("train", description="split whose forget set is unlearned and evaluated")
    max_length: int = Field(512, ge=16, description="maximum tokens per training example")
    target_params: ParamsConfig = Field(
        default_factory=ParamsConfig, description="what target fine-tuning trains"
    )
    target_train: TrainConfig = Field(default_factory=TrainConfig, description="target / oracle fine-tuning")
    unlearn_params: ParamsConfig | None = Field(
        None, description="what unlearning trains (None: each method's default; full for most)"
    )
    unlearn_train: TrainConfig = Field(default_factory=TrainConfig, description="unlearning optimisation")
    methods: dict[str, dict] = Field(
        default_factory=dict,
        description="per-method hyperparameters (e.g. tuned by `obliviate sweep`); --set method.x=v wins",
    )
    erase: EraseConfig = Field(
        default_factory=EraseConfig,
        description="influence-function edit of `obliviate erase` and of bench's `erase` row (LoRA targets)",
    )
    eval: EvalConfig = Field(default_factory=EvalConfig, description="evaluation protocol")
    mia_reference: Literal["base", "oracle", "none"] = Field(
        "base", description="reference model of the calibrated MIA attack"
    )
    cache_dir: Path = Field(Path(".cache/obliviate"), description="base models, targets and oracles")
    out_dir: Path = Field(Path("runs"), description="unlearned models and results")

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: dict[str, dict]) -> dict[str, dict]:
        from obliviate.methods import method_config  # the registry imports the engine, not presets

        for name, overrides in value.items():
            method_config(name, overrides)  # unknown methods and fields fail here, by name
        return value


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
        eval=EvalConfig(max_new_tokens=128, utility={"kind": "ppl", "text_chars": 4000}),
        # RMU's few trainable matrices need a larger step, and the random tiny model's activations
        # a larger steering norm, to move in 5 epochs
        methods={"rmu": {"steering_coeff": 100.0, "lr": 1e-2}},
    )


def _default() -> RunConfig:
    # Sized for `make demo` on a 2-core CPU: SmolLM2-135M full fine-tuning runs at ~200-300 tokens/s
    # there, so the target sees 36 documents x 7 epochs (~50k tokens) and the oracle half of that.
    return RunConfig(
        preset="default",
        model=BaseSpec(name="smollm2-135m"),
        synthetic=SyntheticConfig(docs_per_task=2),
        max_length=256,
        target_train=TrainConfig(
            lr=3e-4, epochs=7, batch_size=8, warmup_ratio=0.05, scheduler="cosine", checkpoint_every=50
        ),
        unlearn_train=TrainConfig(lr=2e-5, epochs=4, batch_size=8, scheduler="constant"),
        # bf16 weights, as the official script loads them: evaluation ~1.7x faster than fp32 here.
        eval=EvalConfig(max_new_tokens=128, dtype="bf16", utility={"qa_max_items": 100, "text_chars": 8000}),
        # Learning rates chosen by `obliviate sweep` on the validation split (runs/sweep/<method>.json;
        # README, "Leaderboard"). A split's forget set is ~20 examples here (LUME train: 1112), so
        # SUGD gets chunks of 8.
        methods={
            "ga": {"lr": 4e-5},
            "gd": {"lr": 1e-4},
            "kl": {"lr": 5e-5},
            "npo": {"lr": 1e-4},
            "simnpo": {"lr": 5e-5},
            "idk": {"lr": 1e-4},
            "idkdpo": {"lr": 1e-4},
            "rmu": {"steering_coeff": 100.0, "lr": 2e-2, "epochs": 12},  # activations' norm ~126 here
            "undial": {"lr": 5e-5},
            "sugd": {"chunk_size": 8, "epochs": 2, "lr": 1e-4},
        },
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
        # Sections that start empty take any field here; the model's validation names a wrong one:
        # `unlearn_params` (None until set) and `methods.<method>.<field>`.
        open_section = path[0] == "unlearn_params" or (path[0] == "methods" and len(path) == 3)
        node = data
        for part in path[:-1]:
            if open_section and isinstance(node, dict) and node.get(part) is None:
                node[part] = {}
            if not isinstance(node, dict) or part not in node:
                raise ValueError(f"--set {text!r}: unknown section {part!r}")
            node = node[part]
        if not isinstance(node, dict) or (path[-1] not in node and not open_section):
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

        benchmark = load_benchmark(cfg.data)
        return subset_benchmark(benchmark, cfg.docs_per_task) if cfg.docs_per_task else benchmark
    return generate_synthetic(cfg.synthetic)
