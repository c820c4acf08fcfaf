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
from obliviate.numerics import forward_logits, label_logps, log_probs, safe_labels, shift_labels, shift_logits


class UNDIALConfig(MethodConfig):
    name: Literal["undial"] = "undial"
    beta: float = Field(10.0, gt=0, description="how far the true token's logit is lowered")
    retain_weight: float = Field(0.0, ge=0, description="weight of NLL(R) (paper: none)")


def undial_loss(model: torch.nn.Module, batch: dict, reference: torch.nn.Module, cfg: UNDIALConfig):
    forget = batch["forget"]
    labels, mask = shift_labels(forget["labels"])  # (B, T-1)
    true_tokens = safe_labels(labels, mask)
    logp = log_probs(shift_logits(forward_logits(model, forget)))
    with torch.no_grad():
        adjusted = shift_logits(forward_logits(reference, forget)).float()
        index = true_tokens.unsqueeze(-1)
        adjusted.scatter_add_(-1, index, torch.full_like(index, -cfg.beta, dtype=adjusted.dtype))
        soft_targets = adjusted.softmax(-1)
    per_token = -(soft_targets * logp).sum(-1)  # (B, T-1)
    return per_token[mask].mean(), {"forget_p_true": label_logps(logp, true_tokens).exp()[mask].mean().item()}


METHOD = Method(
    UNDIALConfig, Needs(retain=True, reference=True), undial_loss, summary="CE(softmax(z_ref − β·e_y), p_θ)"
)
