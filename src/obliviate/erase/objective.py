"""The objective an edit works on: the per-example loss over the LoRA parameters, as a function of
one flat vector θ, with its gradient, Hessian-vector and Gauss-Newton-vector products.

    ℓ(z; θ) = −(1/|y|) Σ_t log p_θ(y_t | y_<t)     the mean over z's label tokens (labels != -100)
    R(θ)    = (1/n) Σ_i ℓ(z_i; θ)

Each example counts once, whatever its length: HF's `model(**batch).loss` pools the tokens of a
batch, which weights an example by its length and makes the loss depend on how examples are
batched. Gradients b and curvature H use this one definition.

The model is called with `torch.func.functional_call`, the LoRA tensors taken from θ and every
other weight from the module, so the frozen base never enters autograd. Hessian-vector products
are a double backward; that needs the model in eager attention (fused SDPA/flash kernels have no
double backward) and in eval mode (no dropout, so every product sees the same function).

    objective = Objective(peft_model, pad_id=0)
    theta = objective.theta()                        # (P,) the adapter's current values
    g = objective.grad_sum(theta, examples)          # Σ_z ∇ℓ(z; θ)
    hv = objective.hvp_sum(theta, v, examples)       # Σ_z ∇²ℓ(z; θ) v

Tests: tests/erase/test_objective.py (against torch.func.hessian and central differences).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.func import functional_call

from obliviate.erase.config import Curvature
from obliviate.numerics import label_logits, label_logps, log_probs, sequence_logps, token_logps
from obliviate.training_data import Example, collate


def lora_parameters(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The adapter tensors of a peft LoRA model, by name, in the model's order."""
    params = {name: p for name, p in model.named_parameters() if "lora_" in name}
    if not params:
        raise ValueError(
            "the model has no LoRA parameters: erase needs a LoRA target (target_params.mode=lora)"
        )
    return params


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token −log p(label) (0 off the labels) and the label mask, both (B, T-1), after the shift.

    In the logits' own dtype (no float32 cast): a cast would round a float64 test model to float32
    and hide the second-order checks behind float32 noise."""
    logps, mask = token_logps(logits, labels, dtype=None)
    return -logps, mask


def example_mean_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ℓ(z) for each row of a batch, (B,): the mean −log p over the row's label tokens."""
    nll, mask = token_nll(logits, labels)
    return nll.sum(-1) / mask.sum(-1).clamp(min=1)


def rows_mean_nll(
    logits: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor, n_rows: int
) -> torch.Tensor:
    """ℓ(z) for each of `n_rows` rows, (n_rows,), from the packed layout of `numerics.label_logits`
    (logits (N, V), labels (N,), rows (N,)); the same values as `example_mean_nll`."""
    logps = label_logps(log_probs(logits, dtype=None), labels)  # in the logits' dtype, as token_nll
    total, count = sequence_logps(logps, rows, n_rows)
    return -total / count.clamp(min=1)


def example_nll_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]):
    """Training loss R on a batch (the engine's `loss_fn`): the mean of ℓ(z) over its examples."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return example_mean_nll(logits, batch["labels"]).mean(), {}


class _LabelLogits(torch.nn.Module):
    """A model as the function batch -> `numerics.label_logits`, so `functional_call` can swap its
    adapter tensors for θ (parameter names gain the prefix `model.`)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]):
        return label_logits(self.model, batch)


class Objective:
    """Sums over examples of the per-example loss ℓ and its derivatives, as functions of flat θ.

    Methods return sums; the caller divides by n (or by the size of a curvature subsample), so the
    same object serves b = (1/n) Σ_S ..., H = (1/n) Σ_D ... and a subsampled H."""

    def __init__(self, model: torch.nn.Module, pad_id: int, batch_size: int = 8):
        self.model = model.eval()
        self.at_labels = _LabelLogits(self.model)
        self.pad_id = pad_id
        self.batch_size = batch_size
        params = lora_parameters(model)
        self.names = list(params)
        self.shapes = [p.shape for p in params.values()]
        self.sizes = [p.numel() for p in params.values()]

    # --- θ as one vector ---------------------------------------------------------------------------

    def theta(self) -> torch.Tensor:
        """The adapter's current values as one detached vector (P,)."""
        params = dict(self.model.named_parameters())
        return torch.cat([params[name].detach().reshape(-1) for name in self.names])

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Name -> tensor views of a flat vector (differentiable: gradients flow back to `theta`)."""
        chunks = theta.split(self.sizes)
        return {name: c.view(shape) for name, c, shape in zip(self.names, chunks, self.shapes, strict=True)}

    def load(self, theta: torch.Tensor) -> None:
        """Write θ into the model's adapter tensors."""
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, value in self.unflatten(theta).items():
                params[name].copy_(value)

    # --- forward ----------------------------------------------------------------------------------

    def batches(self, examples: Sequence[Example]) -> Iterator[dict[str, torch.Tensor]]:
        """Batches of similar lengths (less padding); every method here is a sum, so order is free."""
        ordered = sorted(examples, key=lambda ex: len(ex.input_ids))
        for start in range(0, len(ordered), self.batch_size):
            yield collate(ordered[start : start + self.batch_size], self.pad_id)

    def logits(self, theta: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, T, V) logits with the adapter set to θ (labels kept out: no HF pooled loss)."""
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        return functional_call(self.model, self.unflatten(theta), args=(), kwargs=inputs).logits

    def label_logits(
        self, theta: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits (N, V), labels (N,), rows (N,)) at the N positions that predict a label, the
        adapter set to θ: the output layer runs there only (a label is 1-2 of a classification
        row's ~60 tokens, and SmolLM2's vocabulary is 49k)."""
        params = {f"model.{name}": t for name, t in self.unflatten(theta).items()}
        return functional_call(self.at_labels, params, args=(batch,))

    def losses(self, theta: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """ℓ(z; θ) for each example of a batch, (B,)."""
        return rows_mean_nll(*self.label_logits(theta, batch), len(batch["labels"]))

    # --- sums over examples -------------------------------------------------------------------------

    def loss_sum(self, theta: torch.Tensor, examples: Sequence[Example]) -> float:
        with torch.no_grad():
            return sum(float(self.losses(theta, batch).sum()) for batch in self.batches(examples))

    def grad_sum(self, theta: torch.Tensor, examples: Sequence[Example]) -> torch.Tensor:
        """Σ_z ∇ℓ(z; θ), (P,)."""
        return self.value_and_grad_sum(theta, examples)[1]

    def value_and_grad_sum(
        self, theta: torch.Tensor, examples: Sequence[Example]
    ) -> tuple[float, torch.Tensor]:
        """(Σ_z ℓ(z; θ), Σ_z ∇ℓ(z; θ)) in one pass."""
        value, total = 0.0, torch.zeros_like(theta)
        for batch in self.batches(examples):
            leaf = theta.detach().requires_grad_(True)
            loss = self.losses(leaf, batch).sum()
            (grad,) = torch.autograd.grad(loss, leaf)
            value += float(loss.detach())
            total += grad
        return value, total

    def hvp_sum(self, theta: torch.Tensor, v: torch.Tensor, examples: Sequence[Example]) -> torch.Tensor:
        """Σ_z ∇²ℓ(z; θ) v by double backward: ∇_θ (∇_θ ℓ · v), (P,)."""
        total = torch.zeros_like(theta)
        for batch in self.batches(examples):
            leaf = theta.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.losses(leaf, batch).sum(), leaf, create_graph=True)
            (hv,) = torch.autograd.grad(grad @ v, leaf)
            total += hv
        return total

    def gnvp_sum(self, theta: torch.Tensor, v: torch.Tensor, examples: Sequence[Example]) -> torch.Tensor:
        """Σ_z Jᵀ H_out J v: the Gauss-Newton part of the Hessian (PSD), (P,).

        J is the Jacobian of the logits in θ; H_out = w (diag p − p pᵀ) is the Hessian of the
        token's cross-entropy in its logits, w = 1/|y| the token's weight in ℓ. Jv is the
        derivative in u of the vector-Jacobian product Jᵀu (the "double-vjp trick"): on CPU that is
        about 5x faster than forward-mode `torch.func.jvp` through a transformer."""
        total = torch.zeros_like(theta)
        for batch in self.batches(examples):
            leaf = theta.detach().requires_grad_(True)
            logits, _, rows = self.label_logits(leaf, batch)  # (N, V) at the label positions
            weight = 1 / torch.bincount(rows).to(logits.dtype)[rows]  # (N,): 1/|y| of its row
            u = torch.zeros_like(logits, requires_grad=True)
            (jtu,) = torch.autograd.grad(logits, leaf, u, create_graph=True)  # Jᵀu, linear in u
            (jv,) = torch.autograd.grad(jtu, u, v, retain_graph=True)  # J v, (N, V)
            probs = logits.detach().softmax(-1)
            h_out_jv = probs * (jv - (probs * jv).sum(-1, keepdim=True))  # (diag p − p pᵀ) Jv
            (gv,) = torch.autograd.grad(logits, leaf, h_out_jv * weight.unsqueeze(-1))
            total += gv
        return total

    def curvature_sum(
        self, kind: Curvature, theta: torch.Tensor, v: torch.Tensor, examples: Sequence[Example]
    ) -> torch.Tensor:
        return self.hvp_sum(theta, v, examples) if kind == "hessian" else self.gnvp_sum(theta, v, examples)
