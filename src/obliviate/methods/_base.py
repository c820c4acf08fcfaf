"""What every method declares: its hyperparameter block, what the loop must provide, its loss.

A method is one file with a config class, a `Needs` and a loss function

    loss(model, batch, reference, cfg) -> (scalar, logs)

where `batch["forget"]` (and `batch["retain"]`, `batch["refusal"]` when declared) are padded
batches of `training_data.collate`. The loop in `obliviate.unlearn` computes

    forget_weight · loss + retain_weight · retain_term(model, batch["retain"])   (retain_loss: nll | kl)

unless the method declares `own_retain_term` (RMU, SUGD weigh both terms themselves). Two optional
hooks change the defaults of the loop: `plan` (the phases and their order; SUGD's sequential chunks)
and `default_params` (the parameters the method trains when the run does not say; RMU, SUGD).
A method that needs the starting model's value of each example (NPO's reference log-probs, RMU's
reference activations) declares `reference_values`: the loop computes them once, before training,
and passes them as `reference` (a lookup by batch); `Needs.reference` instead passes a frozen copy
of the model, for losses that need its whole next-token distributions at every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, PositiveInt

from obliviate.config_base import StrictModel
from obliviate.engine import TrainConfig


@dataclass(frozen=True)
class Needs:
    """What the unlearning loop must provide to a method's loss."""

    retain: bool  # a retain batch paired with each forget batch
    reference: bool  # a frozen copy of the starting model, asked at every step (KL, UNDIAL)
    refusals: bool = False  # `batch["refusal"]`: each forget prompt with a refusal answer
    own_retain_term: bool = False  # the loss includes its own (weighted) retain term


class MethodConfig(StrictModel):
    """Fields shared by every method; each method adds its own and sets its `name` literal."""

    name: str
    forget_weight: float = Field(1.0, gt=0, description="weight γ of the forget term")
    retain_weight: float = Field(1.0, ge=0, description="weight α of the retain term")
    retain_loss: Literal["nll", "kl"] = Field(
        "nll", description="retain term: NLL of the retain answers, or KL(reference ‖ model) on retain inputs"
    )
    lr: float | None = Field(None, gt=0, description="learning rate (None: the run's unlearn_train.lr)")
    epochs: PositiveInt | None = Field(None, description="epochs (None: the run's unlearn_train.epochs)")


@dataclass(frozen=True)
class Method:
    """A registry entry: the config class, the needs, the loss and the optional hooks."""

    config: type[MethodConfig]
    needs: Needs
    loss: Callable
    plan: Callable | None = None  # (forget, retain, refusals, cfg, train) -> list[Phase]
    default_params: Callable | None = None  # (cfg, n_layers) -> ParamsConfig
    # What the loss needs of the starting model per example, computed once before training
    # (`_reference.ReferenceValues`, the loss's `reference`): (model, batch, cfg) -> per-row values,
    # over the examples of the batch keys `reference_inputs`
    reference_values: Callable | None = None
    reference_inputs: tuple[str, ...] = ()
    summary: str = ""
    # Part of the method's run keys from 2 on: bump it when a change to the method moves the models
    # it trains (2: NPO, IdkDPO, RMU, reference values computed once per example)
    version: int = 1


@dataclass
class Phase:
    """One call of the training engine: its items (dicts of Examples), optimisation, and order.

    Each phase starts a fresh optimizer and schedule (SUGD restarts them for every chunk)."""

    items: list[dict]
    train: TrainConfig
    shuffle: bool = True
