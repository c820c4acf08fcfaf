"""Settings of an influence-function edit: `--set erase.<field>=...` on `obliviate erase` and on
`obliviate bench` (the `erase` row of a LoRA target). Pydantic only, so the run config can hold it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from obliviate.config_base import StrictModel

Curvature = Literal["hessian", "gn"]  # exact Hessian, or Gauss-Newton (PSD)


class EraseConfig(StrictModel):
    """Settings of an influence-function edit (`--set erase.<field>=...`)."""

    solver: Literal["cg", "lissa", "exact"] = Field("cg", description="inverse-HVP solver")
    curvature: Curvature = Field("hessian", description="H: exact Hessian, or Gauss-Newton (PSD)")
    damping: float = Field(1e-3, ge=0, description="λ added to H (LoRA's flat directions need λ > 0)")
    cg_tol: float = Field(1e-4, gt=0, description="cg: stop at this relative residual")
    cg_max_iter: int = Field(100, ge=1, description="cg: at most this many Hessian-vector products")
    lissa_depth: int = Field(200, ge=1, description="lissa: recursion steps per repeat")
    lissa_repeats: int = Field(1, ge=1, description="lissa: independent recursions averaged")
    lissa_batch_size: int = Field(4, ge=1, description="lissa: examples per stochastic product")
    lissa_scale: float | None = Field(None, gt=0, description="lissa: s > λ_max(H) (None: power iteration)")
    weight_decay: float = Field(
        0.0, ge=0, description="μ of an L2 term (μ/2)‖θ‖² in R, if training had one (enters H and ∇R′)"
    )
    curvature_data: Literal["original", "edited"] = Field(
        "original",
        description="H of step 1 over the original D (the paper) or the edited D′ (exact Newton on R′)",
    )
    newton_steps: int = Field(1, ge=1, description="Newton steps (1 = the paper's single update)")
    line_search: bool = Field(
        False,
        description="scale each step by the best of 1, 1/2, ..., 1/64 (or 0) on the edited objective "
        "R′, estimated on a sample of D plus the request: a guard against a quadratic model that "
        "overshoots on saturated predictions",
    )
    line_search_examples: int = Field(
        128, ge=1, description="line search: rows of D that estimate R (forward passes only)"
    )
    hessian_examples: int | None = Field(
        None, ge=1, description="curvature from this many random examples of D (None: all of D)"
    )
    batch_size: int = Field(8, ge=1, description="examples per forward pass")
    dtype: Literal["fp32", "fp64"] = Field("fp32", description="dtype of the model during the edit")
    seed: int = Field(0, description="seed of curvature subsamples and lissa batches")
    retrain_warm_epochs: int = Field(3, ge=1, description="comparison: epochs of warm-start retraining")
    retrain_warm_lr: float | None = Field(
        None, gt=0, description="comparison: warm-start learning rate (None: a tenth of the target's)"
    )
    retrain_scratch: bool = Field(True, description="comparison: also retrain from scratch (target recipe)")


# What docs/erase.md recommends for a LoRA adapter of a small model: PSD curvature (CG never meets
# negative curvature), λ for LoRA's flat directions, and a curvature sample that keeps the cost
# independent of |D|.
RECOMMENDED = EraseConfig(curvature="gn", damping=0.1, hessian_examples=32, cg_max_iter=10)
