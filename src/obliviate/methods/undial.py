"""UNDIAL: self-distillation toward the target's own logits with the true token pushed down.

Dong et al. 2024, "UNDIAL: Self-Distillation with Adjusted Logits for Robust Unlearning in Large
Language Models" (arXiv 2402.10052); open-unlearning `compute_undial_loss`. Equation implemented,
at every answer position t of a forget sequence, with z_ref the frozen target's logits:

    q_t = softmax(z_ref,t - β · onehot(y_t))
    L_F = mean_t CE(q_t, p_θ,t) = mean_t -Σ_v q_t(v) log p_θ,t(v)

The mean runs over answer tokens only. open-unlearning averages over all positions, prompt and
padding included, where the label -100 wraps round to vocabulary id V-100 in the one-hot; the mask
here avoids both. Defaults (paper): β = 10, no retain term (α = 0; set it to add NLL(R)).
The target distribution moves only by the one logit, so the loss is bounded (no collapse).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from obliviate.methods._base import Method, MethodConfig, Needs
from obliviate.methods._logps import forward_logits
from obliviate.training_data import IGNORE_INDEX


class UNDIALConfig(MethodConfig):
    name: Literal["undial"] = "undial"
    beta: float = Field(10.0, gt=0, description="how far the true token's logit is lowered")
    retain_weight: float = Field(0.0, ge=0, description="weight of NLL(R) (paper: none)")


def undial_loss(model: torch.nn.Module, batch: dict, reference: torch.nn.Module, cfg: UNDIALConfig):
    forget = batch["forget"]
    labels = forget["labels"][:, 1:]
    mask = labels != IGNORE_INDEX
    safe_labels = labels.masked_fill(~mask, 0).unsqueeze(-1)
    logp = forward_logits(model, forget)[:, :-1].float().log_softmax(-1)
    with torch.no_grad():
        adjusted = forward_logits(reference, forget)[:, :-1].float()
        adjusted.scatter_add_(-1, safe_labels, torch.full_like(safe_labels, -cfg.beta, dtype=adjusted.dtype))
        soft_targets = adjusted.softmax(-1)
    per_token = -(soft_targets * logp).sum(-1)  # (B, T-1)
    return per_token[mask].mean(), {"forget_p_true": logp.gather(-1, safe_labels).exp()[mask].mean().item()}


METHOD = Method(
    UNDIALConfig, Needs(retain=True, reference=True), undial_loss, summary="CE(softmax(z_ref − β·e_y), p_θ)"
)
