"""What every method declares: its hyperparameter block and what the loop must provide."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class Needs:
    """What the unlearning loop must provide to a method's loss."""

    retain: bool  # a retain batch paired with each forget batch
    reference: bool  # a frozen copy of the starting model


class MethodConfig(BaseModel):
    """Fields shared by every method; each method adds its own and sets its `name` literal."""

    model_config = ConfigDict(extra="forbid")
    name: str
    forget_weight: float = Field(1.0, gt=0, description="weight γ of the forget term")
    retain_weight: float = Field(1.0, ge=0, description="weight α of the retain term (NLL on retain)")
