"""Shared numerics of every method's loss: token log-probs with label shifting and -100 masking.

Written once here so that no method re-derives the shift or the masking.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from obliviate.models import plain_output_layer
from obliviate.training_data import IGNORE_INDEX


def label_logits(
    model: torch.nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits (N, V) at the N positions that predict a label, the labels (N,) and their rows (N,).

    The output layer runs at those positions only: about half of a prompt + answer batch, and its
    49k-vocabulary matmul and fp32 log-softmax are a large share of a small model's step.
    Naive equivalent: `logits[:, :-1][mask]` with `mask = labels[:, 1:] != -100`."""
    labels = batch["labels"][:, 1:]
    mask = labels != IGNORE_INDEX  # (B, T-1)
    rows = mask.nonzero()[:, 0]
    if not plain_output_layer(model):
        return forward_logits(model, batch)[:, :-1][mask], labels[mask], rows
    decoder = model.get_decoder()
    hidden = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return model.get_output_embeddings()(hidden[:, :-1][mask]), labels[mask], rows


def nll(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Pooled token-mean negative log-likelihood of the labelled tokens of a batch (a scalar).

    Naive equivalent: `model(**batch).loss`, i.e. sum of -log p(y_t | y_<t) over every label
    != -100 in the batch divided by their count (one pooled mean, not a mean of sequence means).
    """
    logits, labels, _ = label_logits(model, batch)
    return F.cross_entropy(logits.float(), labels)


def forward_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits (B, T, V) of a batch, without the model's own loss computation."""
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def answer_logps(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(y|x) summed over each sequence's label tokens and the label counts, both (B,).

    Naive equivalent: per row, the sum of `log_softmax(logits[:, :-1])[b, t, labels[b, t+1]]` over
    the labels that are not -100, and their count."""
    logits, labels, rows = label_logits(model, batch)
    logps = logits.float().log_softmax(-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)  # (N,)
    n_rows = batch["labels"].shape[0]
    return logps.new_zeros(n_rows).index_add(0, rows, logps), torch.bincount(rows, minlength=n_rows)


def reference_answer_logps(reference: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """log π_ref(y|x) per sequence (B,), without gradients."""
    with torch.no_grad():
        return answer_logps(reference, batch)[0]


def kl_from_reference(
    model: torch.nn.Module, reference: torch.nn.Module, batch: dict[str, torch.Tensor]
) -> torch.Tensor:
    """KL(p_ref ‖ p_θ) of the next-token distributions, mean over the non-padding positions.

    Naive equivalent: Σ_v p_ref(v) (log p_ref(v) - log p_θ(v)) at every position where
    attention_mask = 1, averaged. (TOFU / open-unlearning average over all B·T positions, padding
    included, which makes the term depend on the padding; this mean does not.)"""
    logp = forward_logits(model, batch).float().log_softmax(-1)
    with torch.no_grad():
        ref_logp = forward_logits(reference, batch).float().log_softmax(-1)
    per_position = (ref_logp.exp() * (ref_logp - logp)).sum(-1)  # (B, T)
    mask = batch["attention_mask"].bool()
    return per_position[mask].mean()
