"""Gradient ascent (GA): maximise the forget set's loss.

Paper: Jang et al. 2022, "Knowledge Unlearning for Mitigating Privacy Risks in Language Models"
(arXiv 2210.01504); TOFU's baseline (arXiv 2401.06121). Equation implemented:

    L = -NLL(F)          NLL = pooled token mean over the forget micro-batch (HF `model(...).loss`)

Unbounded: the loss can be driven to -inf, so runs are short and the model's utility is the price.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from obliviate.methods._base import Method, MethodConfig, Needs
from obliviate.numerics import nll


class GAConfig(MethodConfig):
    name: Literal["ga"] = "ga"
    retain_weight: float = Field(0.0, ge=0, le=0, description="GA has no retain term")


def ga_loss(model: torch.nn.Module, batch: dict, reference: torch.nn.Module | None, cfg: MethodConfig):
    """-NLL of the forget batch; logs the forget NLL itself."""
    forget_nll = nll(model, batch["forget"])
    return -forget_nll, {"forget_nll": forget_nll.detach().item()}


METHOD = Method(GAConfig, Needs(retain=False, reference=False), ga_loss, summary="-NLL(F)")
