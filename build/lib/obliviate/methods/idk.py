"""IdK: fine-tune the forget prompts toward refusals ("I don't know"-style answers).

TOFU (arXiv 2401.06121) `idk`. Each forget prompt is paired with one refusal drawn (seeded) from
this project's set `methods/data/refusals.txt` (30 lines), and the model is trained to give it:

    L = forget_weight · NLL(refusals of F) + retain_weight · NLL(R)

TOFU computes one pooled NLL over the concatenated refusal and retain batches, so its weighting
follows token counts; here the two are separate pooled means with explicit weights (1 and 1).
"""

from __future__ import annotations

from typing import Literal

import torch

from obliviate.methods._base import Method, MethodConfig, Needs
from obliviate.numerics import nll


class IdkConfig(MethodConfig):
    name: Literal["idk"] = "idk"


def idk_loss(model: torch.nn.Module, batch: dict, reference: None, cfg: IdkConfig):
    refusal_nll = nll(model, batch["refusal"])
    return refusal_nll, {"refusal_nll": refusal_nll.detach().item()}


METHOD = Method(
    IdkConfig,
    Needs(retain=True, reference=False, refusals=True),
    idk_loss,
    summary="NLL(refusal|F) + α·NLL(R)",
)
