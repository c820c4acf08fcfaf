"""Negative preference optimization (NPO): a bounded gradient ascent, relative to the target.

Zhang et al. 2024, "Negative Preference Optimization: From Catastrophic Collapse to Effective
Unlearning" (arXiv 2404.05868); open-unlearning `npo.py` (`compute_dpo_loss` with no win side).
Equation implemented, with log π the *summed* log-prob of the answer tokens:

    L_F = (2/β) · mean_i log(1 + (π_θ(y_i|x_i) / π_ref(y_i|x_i))^β)
        = -(2/β) · mean_i log σ(-β · (log π_θ(y_i|x_i) - log π_ref(y_i|x_i)))

plus the loop's retain_weight · NLL(R) (the NPO repository's `npo_grad_diff`). As β → 0 the
gradient approaches GA's; the (π_θ/π_ref)^β weight fades once an answer is unlikely, so the loss
does not run away. Defaults: β = 0.1, γ = α = 1 (NPO repository, open-unlearning).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from obliviate.methods._base import Method, MethodConfig, Needs
from obliviate.methods._logps import answer_logps


class NPOConfig(MethodConfig):
    name: Literal["npo"] = "npo"
    beta: float = Field(0.1, gt=0, description="inverse temperature β")


def reference_logps(model: torch.nn.Module, batch: dict, cfg) -> torch.Tensor:
    """log π(y|x) of each row: what the starting model contributes, once per example."""
    return answer_logps(model, batch)[0]


def npo_loss(model: torch.nn.Module, batch: dict, reference, cfg: NPOConfig):
    """`reference(rows)`: log π_ref(y|x) of each row (`_reference.ReferenceValues`)."""
    logp, _ = answer_logps(model, batch["forget"])
    log_ratio = logp - reference(batch["forget"])
    loss = -(2 / cfg.beta) * F.logsigmoid(-cfg.beta * log_ratio).mean()
    return loss, {"log_ratio": log_ratio.detach().mean().item()}


METHOD = Method(
    NPOConfig,
    Needs(retain=True, reference=False),
    npo_loss,
    reference_values=reference_logps,
    reference_inputs=("forget",),
    summary="(2/β)·E log(1+(π/π_ref)^β) + α·NLL(R)",
    version=2,
)
