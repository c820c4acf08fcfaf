"""The per-example loss and its derivatives: hand-checked loss, exact Hessian, finite differences."""

from __future__ import annotations

import torch

from obliviate.erase.objective import Objective, token_nll
from tests.conftest import random_examples
from tests.erase.conftest import VOCAB, tiny_gpt2_lora


def _setup():
    model = tiny_gpt2_lora(seed=3)
    data = random_examples(6, 5, vocab=VOCAB, seed=2)
    objective = Objective(model, pad_id=0, batch_size=4)  # 2 batches: sums must cross batches
    theta = objective.theta()
    v = torch.randn(theta.shape, generator=torch.Generator().manual_seed(0), dtype=theta.dtype)
    return objective, theta, v, data


def test_token_nll_by_hand():
    # uniform logits over 4 tokens: every label costs log 4; position 0 is never a label after the shift
    logits = torch.zeros(1, 3, 4, dtype=torch.float64)
    labels = torch.tensor([[7, 2, -100]])
    nll, mask = token_nll(logits, labels)
    torch.testing.assert_close(
        nll, torch.tensor([[torch.log(torch.tensor(4.0)).item(), 0.0]], dtype=torch.float64)
    )
    assert mask.tolist() == [[True, False]]


def test_each_example_counts_once_whatever_its_length():
    from obliviate.training_data import Example

    objective, theta, _, _ = _setup()
    short = Example((1, 5, 6), (-100, 5, 6))
    long = Example((1, 5, 6, 7, 8, 9), (-100, 5, 6, 7, 8, 9))
    alone = [objective.loss_sum(theta, [ex]) for ex in (short, long)]
    assert abs(objective.loss_sum(theta, [short, long]) - sum(alone)) < 1e-12
    # a single example's ℓ is HF's token-mean loss on it
    model_loss = objective.model(
        input_ids=torch.tensor([long.input_ids]), labels=torch.tensor([long.labels])
    ).loss
    assert abs(alone[1] - float(model_loss)) < 1e-6  # HF computes its loss in float32


def test_losses_at_the_label_positions_equal_those_of_the_full_logits():
    from obliviate.erase.objective import example_mean_nll

    objective, theta, _, data = _setup()
    for batch in objective.batches(data):
        full = example_mean_nll(objective.logits(theta, batch), batch["labels"])
        torch.testing.assert_close(objective.losses(theta, batch), full, rtol=1e-12, atol=1e-12)


def test_hvp_matches_the_exact_hessian_and_finite_differences():
    objective, theta, v, data = _setup()
    hv = objective.hvp_sum(theta, v, data)

    def total_loss(t):
        return sum(objective.losses(t, batch).sum() for batch in objective.batches(data))

    hessian = torch.func.hessian(total_loss)(theta)
    torch.testing.assert_close(hv, hessian @ v, rtol=1e-10, atol=1e-12)
    eps = 1e-5
    central = (objective.grad_sum(theta + eps * v, data) - objective.grad_sum(theta - eps * v, data)) / (
        2 * eps
    )
    assert float((central - hv).norm() / hv.norm()) < 1e-7


def test_gauss_newton_is_symmetric_psd_and_not_the_hessian():
    objective, theta, v, data = _setup()
    u = torch.randn(theta.shape, generator=torch.Generator().manual_seed(1), dtype=theta.dtype)
    gv, gu = objective.gnvp_sum(theta, v, data), objective.gnvp_sum(theta, u, data)
    assert abs(float(u @ gv - v @ gu)) < 1e-10 * float(gv.norm() * u.norm())
    assert float(v @ gv) >= 0 and float(u @ gu) >= 0
    assert float((objective.hvp_sum(theta, v, data) - gv).norm()) > 1e-3 * float(gv.norm())


def test_gauss_newton_matches_jacobian_form():
    """Jᵀ H_out J v with J from torch.func.jacrev and H_out = w (diag p − p pᵀ) per token."""
    objective, theta, v, data = _setup()
    expected = torch.zeros_like(theta)
    for batch in objective.batches(data):
        jac = torch.func.jacrev(lambda t, batch=batch: objective.logits(t, batch)[:, :-1])(
            theta
        )  # (B,T-1,V,P)
        logits = objective.logits(theta, batch)[:, :-1].detach()
        mask = batch["labels"][:, 1:] != -100
        weight = mask / mask.sum(-1, keepdim=True)
        p = logits.softmax(-1)
        h_out = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)  # (B, T-1, V, V)
        jv = jac @ v  # (B, T-1, V)
        expected += torch.einsum(
            "btvp,btv->p", jac, weight.unsqueeze(-1) * (h_out @ jv.unsqueeze(-1)).squeeze(-1)
        )
    torch.testing.assert_close(objective.gnvp_sum(theta, v, data), expected, rtol=1e-10, atol=1e-12)
