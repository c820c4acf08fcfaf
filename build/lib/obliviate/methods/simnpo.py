"""SimNPO: NPO without the reference model, on length-normalized log-probs.

Fan et al. 2024, "Simplicity Prevails: Rethinking Negative Preference Optimization for LLM
Unlearning" (arXiv 2410.07163); open-unlearning `simnpo.py`. Equation implemented (paper form):

    L_F = (2/β) · mean_i log(1 + exp(β · log π_θ(y_i|x_i) / |y_i| + γ))
        = -(2/β) · mean_i log σ(-β · log π_θ(y_i|x_i) / |y_i| - γ)

plus the loop's retain_weight · NLL(R). |y| is the number of answer tokens. The code of the
anchors subtracts δ before multiplying by β, so their δ = γ / β; at the default γ = 0 all agree.
Defaults (open-unlearning, SimNPO repository TOFU forget10): β = 4.5, γ = 0, forget weight 0.125,
retain weight 1.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from obliviate.methods._base import Method, MethodConfig, Needs
from obliviate.methods._logps import answer_logps


class SimNPOConfig(MethodConfig):
    name: Literal["simnpo"] = "simnpo"
    beta: float = Field(4.5, gt=0, description="inverse temperature β")
    gamma: float = Field(0.0, ge=0, description="reward margin γ")
    forget_weight: float = Field(0.125, gt=0, description="weight of the forget term (open-unlearning)")


def simnpo_loss(model: torch.nn.Module, batch: dict, reference: None, cfg: SimNPOConfig):
    logp, n_tokens = answer_logps(model, batch["forget"])
    mean_logp = logp / n_tokens.clamp(min=1)
    loss = -(2 / cfg.beta) * F.logsigmoid(-cfg.beta * mean_logp - cfg.gamma).mean()
    return loss, {"forget_mean_logp": mean_logp.detach().mean().item()}


METHOD = Method(
    SimNPOConfig,
    Needs(retain=True, reference=False),
    simnpo_loss,
    summary="(2/β)·E log(1+exp(β·log π/|y| + γ)) + α·NLL(R)",
)
