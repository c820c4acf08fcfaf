"""The run config: every stage's own block in one validated object, and the `--set` override parser.

    cfg = RunConfig(model=BaseSpec(name="tiny"), split="test")
    path, value = parse_override("target_train.lr=1e-4")     # (["target_train", "lr"], 0.0001)

Each block belongs to its stage and is importable without the others' machinery: `TrainConfig`
(engine), `ParamsConfig` (params), `EvalConfig` (eval/config.py), `EraseConfig`, `BaseSpec`,
`SyntheticConfig`. Presets (`presets.py`) are functions returning a `RunConfig`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator

from obliviate.attacks.config import AttackConfig
from obliviate.config_base import StrictModel
from obliviate.data.synthetic import SyntheticConfig
from obliviate.data.synthetic_muse import SyntheticMuseConfig
from obliviate.data.synthetic_tofu import SyntheticTofuConfig
from obliviate.engine import LogConfig, TrainConfig
from obliviate.erase.config import EraseConfig
from obliviate.eval.config import EvalConfig
from obliviate.models import BaseSpec
from obliviate.params import ParamsConfig


class RunConfig(StrictModel):
    """Everything a target / unlearn / bench run needs, minus the method's own block."""

    preset: str = Field("smoke", description="name of the preset this config came from")
    model: BaseSpec = Field(default_factory=BaseSpec, description="base model")
    data: Path | None = Field(
        None, description="benchmark directory (LUME, JSONL, TOFU or MUSE); None: synthetic generator"
    )
    data_format: Literal["auto", "lume", "jsonl", "tofu", "muse"] = Field(
        "auto",
        description="how --data is read (auto: LUME or JSONL, or the directory's obliviate.json; TOFU "
        "and MUSE are never guessed); without --data, which synthetic benchmark (auto, lume: LUME-shaped)",
    )
    tofu_forget: Literal["forget01", "forget05", "forget10"] = Field(
        "forget10", description="TOFU's forget set (--data with data_format=tofu)"
    )
    synthetic: SyntheticConfig = Field(
        default_factory=SyntheticConfig, description="synthetic LUME-shaped benchmark size"
    )
    synthetic_tofu: SyntheticTofuConfig = Field(
        default_factory=SyntheticTofuConfig, description="synthetic TOFU benchmark size (data_format=tofu)"
    )
    synthetic_muse: SyntheticMuseConfig = Field(
        default_factory=SyntheticMuseConfig, description="synthetic MUSE benchmark size (data_format=muse)"
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
    target_splits: Literal["all", "evaluated"] = Field(
        "all",
        description="splits the target and oracle fine-tune on: every split (as LUME's targets), or only "
        "`split`, the one evaluated (a run reads no other; each split then gets its own target)",
    )
    unlearn_params: ParamsConfig | None = Field(
        None, description="what unlearning trains (None: each method's default; full for most)"
    )
    unlearn_train: TrainConfig = Field(default_factory=TrainConfig, description="unlearning optimisation")
    methods: dict[str, dict] = Field(
        default_factory=dict,
        description="per-method hyperparameters (e.g. tuned by `obliviate sweep`); --set method.x=v wins",
    )
    inference: dict[str, dict] = Field(
        default_factory=dict,
        description="per inference-time method (uld, icul, guardrail, prompt): overrides of its config",
    )
    erase: EraseConfig = Field(
        default_factory=EraseConfig,
        description="influence-function edit of `obliviate erase` and of bench's `erase` row (LoRA targets)",
    )
    eval: EvalConfig = Field(default_factory=EvalConfig, description="evaluation protocol")
    attacks: AttackConfig = Field(
        default_factory=AttackConfig,
        description="robustness attacks of `bench --attacks` / `obliviate attack`",
    )
    mia_reference: Literal["base", "oracle", "none"] = Field(
        "base", description="reference model of the calibrated MIA attack"
    )
    cache_dir: Path = Field(Path(".cache/obliviate"), description="base models, targets and oracles")
    out_dir: Path = Field(Path("runs"), description="unlearned models and results")
    log: LogConfig = Field(default_factory=LogConfig, description="training logs for tensorboard / mlflow")

    def tracker(self, build_dir: Path) -> tuple[LogConfig, Path]:
        """The `log` argument of `engine.train` for the run built in `build_dir` (`<name>.partial`):
        the config and the run's own directory under the log directory."""
        return self.log, (self.log.dir or self.out_dir / "logs") / build_dir.name.removesuffix(".partial")

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: dict[str, dict]) -> dict[str, dict]:
        from obliviate.methods import method_config  # the registry imports the engine, not presets

        return _check_configs(value, method_config)

    @field_validator("inference")
    @classmethod
    def _known_inference(cls, value: dict[str, dict]) -> dict[str, dict]:
        from obliviate.inference import inference_config

        return _check_configs(value, inference_config)


def _check_configs(value: dict[str, dict], make) -> dict[str, dict]:
    """Each named config built from its overrides: unknown names and fields fail here, by name
    (pydantic's own location would only be the section)."""
    for name, overrides in value.items():
        try:
            make(name, overrides)
        except ValidationError as err:
            first = err.errors()[0]
            raise ValueError(f"{name}.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return value


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
