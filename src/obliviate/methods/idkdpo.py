"""IdkDPO: direct preference optimization with the refusal preferred over the true answer.

Rafailov et al. 2023 (DPO, arXiv 2305.18290) as used for unlearning by TOFU `dpo` and
open-unlearning `dpo.py` (`QAwithIdkDataset`). With log π the summed answer log-prob:

    L_F = -(2/β) · mean_i log σ(β · [(log π_θ(idk_i) - log π_ref(idk_i)) - (log π_θ(y_i) - log π_ref(y_i))])

plus the loop's retain_weight · NLL(R). The 2/β factor is open-unlearning's (TOFU has none, so its
gradient is 20x smaller at β = 0.1). Defaults: β = 0.1, γ = α = 1 (open-unlearning `idk.yaml`).
The refusal of each forget prompt is drawn (seeded) from `methods/data/refusals.txt`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from obliviate.methods._base import Method, MethodConfig, Needs
from obliviate.methods._logps import answer_logps
from obliviate.methods.npo import reference_logps


class IdkDPOConfig(MethodConfig):
    name: Literal["idkdpo"] = "idkdpo"
    beta: float = Field(0.1, gt=0, description="inverse temperature β")


def idkdpo_loss(model: torch.nn.Module, batch: dict, reference, cfg: IdkDPOConfig):
    """`reference(rows)`: log π_ref(y|x) of each row (`_reference.ReferenceValues`)."""
    chosen = answer_logps(model, batch["refusal"])[0] - reference(batch["refusal"])
    rejected = answer_logps(model, batch["forget"])[0] - reference(batch["forget"])
    margin = chosen - rejected
    loss = -(2 / cfg.beta) * F.logsigmoid(cfg.beta * margin).mean()
    return loss, {"margin": margin.detach().mean().item()}


METHOD = Method(
    IdkDPOConfig,
    Needs(retain=True, reference=False, refusals=True),
    idkdpo_loss,
    reference_values=reference_logps,
    reference_inputs=("forget", "refusal"),
    summary="DPO(refusal ≻ answer) + α·NLL(R)",
    version=2,
)
