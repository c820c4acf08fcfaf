"""Next-token numerics, written once: the label shift with its -100 mask, per-token log-probs,
per-sequence sums, KL, and the log-prob moments of Min-K%++.

A causal LM's logits at position t predict token t+1, so `logits[:, :-1]` pairs with
`labels[:, 1:]`; a label equal to IGNORE_INDEX (-100: prompt tokens, padding) is not scored.

The dtype of a log-softmax is the caller's: `dtype` casts the logits first (float32 by default, as
every model-side caller does; a bf16 log-softmax would lose about three digits), None keeps them as
they are (erase's float64 models). Each function is bitwise its "Naive equivalent", the expression
it replaced: results and cache keys do not move (tests/test_numerics.py).

Importing this module imports no unlearning method (`obliviate.targets` trains with `nll`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from obliviate.models import plain_output_layer
from obliviate.training_data import IGNORE_INDEX

# --- tensors ----------------------------------------------------------------------------------------


def shift_labels(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The labels that positions 0..T-2 predict, (B, T-1), and which of them are scored.

    Naive equivalent: `labels[:, 1:]` and `labels[:, 1:] != -100`."""
    shifted = labels[:, 1:]
    return shifted, shifted != IGNORE_INDEX


def shift_logits(logits: torch.Tensor) -> torch.Tensor:
    """The positions that predict a next token, (B, T-1, ...): logits, or hidden states before the
    output layer.

    Naive equivalent: `logits[:, :-1]`."""
    return logits[:, :-1]


def safe_labels(labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Labels usable as gather indices: 0 where `mask` is False (what is read there is dropped).

    Naive equivalent: `labels.masked_fill(~mask, 0)`."""
    return labels.masked_fill(~mask, 0)


def log_probs(logits: torch.Tensor, dtype: torch.dtype | None = torch.float32) -> torch.Tensor:
    """log-softmax over the vocabulary (last axis), computed in `dtype` (None: the logits' own).

    Naive equivalent: `logits.float().log_softmax(-1)`."""
    return (logits if dtype is None else logits.to(dtype)).log_softmax(-1)


def label_logps(log_p: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log p of each label, (...,) from log-probs (..., V) and labels (...,).

    Naive equivalent: `log_p.gather(-1, labels.unsqueeze(-1)).squeeze(-1)`."""
    return log_p.gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def token_logps(
    logits: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype | None = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(label) at each shifted position, 0 where the label is -100, and the mask; both (B, T-1).

    Naive equivalent: `log_softmax(logits[:, :-1].float())[b, t, labels[b, t+1]]` where
    `labels[b, t+1] != -100`, else 0."""
    shifted, mask = shift_labels(labels)
    logps = label_logps(log_probs(shift_logits(logits), dtype), safe_labels(shifted, mask))
    return logps * mask, mask


def sequence_logps(logps: torch.Tensor, rows: torch.Tensor, n_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence sums of packed per-token log-probs and the token counts, both (n_rows,);
    `logps[i]` belongs to sequence `rows[i]` (the layout of `label_logits`).

    Naive equivalent: `logps[rows == b].sum()` and `(rows == b).sum()` for each b < n_rows."""
    return logps.new_zeros(n_rows).index_add(0, rows, logps), torch.bincount(rows, minlength=n_rows)


def summed_nll(
    logits: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype | None = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ -log p(label) over the scored labels of a batch after the shift (a scalar), and their count.

    Naive equivalent: `F.cross_entropy(logits[:, :-1].float().reshape(-1, V), labels[:, 1:].reshape(-1),
    ignore_index=-100, reduction="sum")` and `(labels[:, 1:] != -100).sum()`."""
    shifted, mask = shift_labels(labels)
    scores = shift_logits(logits)
    scores = scores if dtype is None else scores.to(dtype)
    total = F.cross_entropy(
        scores.reshape(-1, scores.size(-1)), shifted.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    return total, mask.sum()


def kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) at each position, (...,) from log-probs (..., V) of the same positions.

    Naive equivalent: `(log_p.exp() * (log_p - log_q)).sum(-1)`."""
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def kl_from_uniform(log_q: torch.Tensor) -> torch.Tensor:
    """KL(U ‖ q) at each position, (...,) from log-probs (..., V), U uniform over the V tokens:
    Σ_v (1/V)(log(1/V) − log q(v)) = −log V − mean_v log q(v), without a (..., V) uniform tensor.

    Naive equivalent: `kl(torch.full_like(log_q, -math.log(V)), log_q)`."""
    return -math.log(log_q.shape[-1]) - log_q.mean(-1)


def logp_moments(log_p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of log p(z) for z ~ p at each position (Min-K%++), (...,) from log-probs (..., V).

    The variance is E[(log p)²] − mu², clamped at 0 against rounding (`eval.metrics.mia.token_moments`
    is the float64 reference in the centred form). The likelihood pass computes the same moments
    through `eval.fused_moments` (one pass, float64 sums, the centred form) where that can run.
    Naive equivalent: `mu = (p * log_p).sum(-1)`, `sigma = sqrt((p * log_p²).sum(-1) - mu²)`."""
    probs = log_p.exp()
    mu = (probs * log_p).sum(-1)
    sigma = ((probs * log_p.square()).sum(-1) - mu.square()).clamp(min=0).sqrt()
    return mu, sigma


# --- model passes -----------------------------------------------------------------------------------


def forward_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits (B, T, V) of a batch, without the model's own loss computation."""
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def _packed_label_hidden(model, batch: dict[str, torch.Tensor], rows, cols) -> torch.Tensor | None:
    """The last hidden states (N, H) at the N positions (rows, cols) that predict a label, from the
    batch's sequences back to back without their padding, where the model trains packed (the
    engine's `pack_sequences` switched its attention: `eval.passes.packed_training_attention`;
    35% of the tokens of issue #20's LUME batches are padding); None elsewhere, or where the batch is
    not right-padded with every label inside its sequence."""
    from obliviate.eval.passes import PACKED_OR_SDPA, packed_hidden_states

    attention = batch.get("attention_mask")
    if attention is None or model.config._attn_implementation != PACKED_OR_SDPA:
        return None
    lengths = attention.sum(1)
    columns = torch.arange(attention.shape[1], device=attention.device)
    right_padded = bool((attention == (columns < lengths[:, None])).all())
    if not (right_padded and bool((cols + 1 < lengths[rows]).all())):
        return None
    hidden = packed_hidden_states(model, batch["input_ids"][attention.bool()], lengths.tolist())
    starts = lengths.cumsum(0) - lengths
    return hidden[starts[rows] + cols]


def label_logits(
    model: torch.nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits (N, V) at the N positions that predict a label, the labels (N,) and their rows (N,).

    The output layer runs at those positions only: about half of a prompt + answer batch, and its
    49k-vocabulary matmul and fp32 log-softmax are a large share of a small model's step.
    Naive equivalent: `logits[:, :-1][mask]` with `mask = labels[:, 1:] != -100`."""
    labels, mask = shift_labels(batch["labels"])  # (B, T-1)
    rows, cols = mask.nonzero().unbind(1)
    if not plain_output_layer(model):
        return shift_logits(forward_logits(model, batch))[mask], labels[mask], rows
    hidden = _packed_label_hidden(model, batch, rows, cols)
    if hidden is None:
        decoder = model.get_decoder()
        out = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        hidden = shift_logits(out.last_hidden_state)[mask]
    return model.get_output_embeddings()(hidden), labels[mask], rows


def nll(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Pooled token-mean negative log-likelihood of the labelled tokens of a batch (a scalar).

    Naive equivalent: `model(**batch).loss`, i.e. sum of -log p(y_t | y_<t) over every label
    != -100 in the batch divided by their count (one pooled mean, not a mean of sequence means).
    """
    logits, labels, _ = label_logits(model, batch)
    return F.cross_entropy(logits.float(), labels)
