"""The log-likelihood terms of the methods' losses, built on `obliviate.numerics` (which owns the
label shift, the -100 masking and the log-softmax dtypes)."""

from __future__ import annotations

import torch

from obliviate.numerics import forward_logits, kl, label_logits, label_logps, log_probs, sequence_logps

__all__ = ["answer_logps", "kl_from_reference"]


def answer_logps(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(y|x) summed over each sequence's label tokens and the label counts, both (B,).

    Naive equivalent: per row, the sum of `log_softmax(logits[:, :-1])[b, t, labels[b, t+1]]` over
    the labels that are not -100, and their count."""
    logits, labels, rows = label_logits(model, batch)
    return sequence_logps(label_logps(log_probs(logits), labels), rows, batch["labels"].shape[0])


def kl_from_reference(
    model: torch.nn.Module, reference: torch.nn.Module, batch: dict[str, torch.Tensor]
) -> torch.Tensor:
    """KL(p_ref ‖ p_θ) of the next-token distributions, mean over the non-padding positions.

    Naive equivalent: Σ_v p_ref(v) (log p_ref(v) - log p_θ(v)) at every position where
    attention_mask = 1, averaged. (TOFU / open-unlearning average over all B·T positions, padding
    included, which makes the term depend on the padding; this mean does not.)"""
    logp = log_probs(forward_logits(model, batch))
    with torch.no_grad():
        ref_logp = log_probs(forward_logits(reference, batch))
    per_position = kl(ref_logp, logp)  # (B, T)
    mask = batch["attention_mask"].bool()
    return per_position[mask].mean()
