"""The base class of every config block: unknown fields and non-finite numbers are errors.

    class TrainConfig(StrictModel):
        lr: float = Field(1e-4, gt=0)

`extra="forbid"` makes a typo fail instead of silently keeping the default; `allow_inf_nan=False`
rejects `Infinity`, `-Infinity` and `NaN` (which JSON overrides such as `--set unlearn_train.lr=Infinity`
produce), which would otherwise pass range checks like `gt=0` and train a model of NaNs. Kept free of
heavy imports so that every stage's config module can use it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A pydantic model that forbids unknown fields and non-finite floats."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
