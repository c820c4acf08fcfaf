"""Ridge regression: the Hessian is constant in θ, so one Newton step with the Hessian of R′ IS
retraining, to rounding.

This pins the sign (old minus new), the 1/n and the absence of a factor 2 in `newton_update`
for all three request kinds, through the same code path the LoRA edit takes. The paper's H (of R,
over the original D) equals the Hessian of R′ for response corrections (x unchanged) and is off by
O(|S|/n) otherwise: checked too, at that tolerance."""

from __future__ import annotations

import random

import pytest
import torch

from obliviate.erase.update import EraseConfig, newton_update, search_step_scale

MU = 0.1  # ridge strength, as `weight_decay`: R(θ) = (1/n) Σ ½(xᵀθ − y)² + (μ/2)‖θ‖²


class RidgeObjective:
    """The duck-typed `Objective` of least squares: examples are (x, y) pairs."""

    def grad_sum(self, theta, examples):
        return sum(((x @ theta - y) * x for x, y in examples), torch.zeros_like(theta))

    def curvature_sum(self, kind, theta, v, examples):
        return sum(((x @ v) * x for x, _ in examples), torch.zeros_like(theta))

    def loss_sum(self, theta, examples):
        return sum(float(0.5 * (x @ theta - y) ** 2) for x, y in examples)


def ridge(examples, n):
    """argmin (1/n) Σ ½(xᵀθ − y)² + (μ/2)‖θ‖² in closed form."""
    xs = torch.stack([x for x, _ in examples])
    ys = torch.stack([y for _, y in examples])
    return torch.linalg.solve(xs.T @ xs / n + MU * torch.eye(xs.shape[1], dtype=xs.dtype), xs.T @ ys / n)


def _problem(kind):
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(40, 5, generator=g, dtype=torch.float64)
    ys = xs @ torch.randn(5, generator=g, dtype=torch.float64) + 0.3 * torch.randn(
        40, generator=g, dtype=torch.float64
    )
    data = list(zip(xs, ys, strict=True))
    removed = data[:3]
    if kind == "removal":
        added = []
    elif kind == "query":
        added = [(x + torch.randn(5, generator=g, dtype=torch.float64), y) for x, y in removed]
    else:
        added = [(x, y + 2.0) for x, y in removed]
    return data, data[3:] + added, removed, added


@pytest.mark.parametrize("kind", ["removal", "query", "response"])
@pytest.mark.parametrize("solver", ["exact", "cg"])
def test_one_newton_step_equals_retraining(kind, solver):
    data, new_data, removed, added = _problem(kind)
    n = len(data)
    theta_hat = ridge(data, n)
    cfg = EraseConfig(solver=solver, damping=0.0, weight_decay=MU, cg_tol=1e-13, curvature_data="edited")
    result = newton_update(RidgeObjective(), theta_hat, data, new_data, removed, added, cfg)
    retrained = ridge(new_data, n)  # R′ keeps the 1/n of R (the paper's R′ = R + (1/n) Σ_S ...)
    torch.testing.assert_close(result.theta, retrained, rtol=1e-10, atol=1e-12)
    assert float((result.theta - theta_hat).norm()) > 1e-3  # the edit did something


@pytest.mark.parametrize("kind", ["removal", "query", "response"])
def test_the_papers_hessian_is_first_order_exact(kind):
    data, new_data, removed, added = _problem(kind)
    n = len(data)
    theta_hat, retrained = ridge(data, n), ridge(new_data, n)
    cfg = EraseConfig(solver="exact", damping=0.0, weight_decay=MU)
    result = newton_update(RidgeObjective(), theta_hat, data, new_data, removed, added, cfg)
    error = float((result.theta - retrained).norm() / (retrained - theta_hat).norm())
    assert error < (1e-12 if kind == "response" else 3 * len(removed) / n)
    flipped = float((theta_hat - result.delta - retrained).norm() / (retrained - theta_hat).norm())
    assert flipped > 1.5  # the opposite sign lands on the other side


@pytest.mark.parametrize("kind", ["removal", "query", "response"])
def test_line_search_scales_a_step_to_the_retrained_minimiser(kind):
    """On a quadratic the exact step is the best scale of itself: the search keeps 1 for it, halves
    a doubled step and refuses (0) a reversed one. Fails if the edited objective's estimate drops
    the request's terms, their signs or the ridge term."""
    data, new_data, removed, added = _problem(kind)
    n = len(data)
    theta_hat = ridge(data, n)
    exact = ridge(new_data, n) - theta_hat
    cfg = EraseConfig(weight_decay=MU, line_search=True, line_search_examples=n)
    for delta, expected in ((exact, 1.0), (2 * exact, 0.5), (-exact, 0.0)):
        scale, values = search_step_scale(
            RidgeObjective(), theta_hat, delta, None, data, removed, added, cfg, random.Random(0)
        )
        assert scale == expected, values
    result = newton_update(
        RidgeObjective(),
        theta_hat,
        data,
        new_data,
        removed,
        added,
        cfg.model_copy(update={"solver": "exact", "damping": 0.0, "curvature_data": "edited"}),
    )
    assert result.steps[0]["step_scale"] == 1.0
    torch.testing.assert_close(result.theta, ridge(new_data, n), rtol=1e-9, atol=1e-10)
