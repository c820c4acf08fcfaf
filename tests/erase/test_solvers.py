"""The inverse-HVP solvers against a dense solve: a random SPD matrix, then the tiny LoRA Hessian."""

from __future__ import annotations

import torch

from obliviate.erase.solvers import largest_eigenvalue, solve_cg, solve_exact, solve_lissa
from tests.erase.conftest import WEIGHT_DECAY


def _spd(size: int = 20, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(size, size, generator=g, dtype=torch.float64))
    eigenvalues = torch.logspace(-2, 1, size, dtype=torch.float64)
    matrix = q @ torch.diag(eigenvalues) @ q.T
    b = torch.randn(size, generator=g, dtype=torch.float64)
    return matrix, b


def _rel(x, y):
    return float((x - y).norm() / y.norm())


def test_solvers_match_a_dense_solve():
    matrix, b = _spd()
    damping = 1e-2
    expected = torch.linalg.solve(matrix + damping * torch.eye(len(b), dtype=torch.float64), b)
    exact = solve_exact(lambda v: matrix @ v, b, damping)
    assert _rel(exact.x, expected) < 1e-12
    cg = solve_cg(lambda v: matrix @ v, b, damping, tol=1e-12, max_iter=200)
    assert cg.converged and _rel(cg.x, expected) < 1e-9
    # full-batch LiSSA is Richardson iteration: exact given depth ≫ s/λ
    lissa = solve_lissa(lambda v, step: matrix @ v, lambda v: matrix @ v, b, damping, depth=30000)
    assert _rel(lissa.x, expected) < 1e-6


def test_exact_without_damping_is_the_minimum_norm_solution():
    matrix, b = _spd()
    singular = matrix.clone()
    eigenvalues, vectors = torch.linalg.eigh(singular)
    singular = vectors[:, 1:] @ torch.diag(eigenvalues[1:]) @ vectors[:, 1:].T  # one zero eigenvalue
    x = solve_exact(lambda v: singular @ v, b, 0.0).x
    torch.testing.assert_close(x, torch.linalg.pinv(singular) @ b)


def test_cg_reports_non_positive_curvature():
    matrix = torch.diag(torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))
    solution = solve_cg(lambda v: matrix @ v, torch.ones(3, dtype=torch.float64), 0.0, 1e-10, 50)
    assert not solution.converged and "non-positive curvature" in solution.note


def test_power_iteration_finds_the_top_eigenvalue():
    matrix, _ = _spd()
    assert (
        abs(largest_eigenvalue(lambda v: matrix @ v, torch.zeros(20, dtype=torch.float64), 200) - 10) < 1e-3
    )


def test_cg_and_lissa_match_exact_on_the_lora_hessian(trained_lora):
    objective, theta_hat, data = trained_lora
    n = len(data)
    damping = 1e-2

    def matvec(v):  # the Hessian of R, L2 term included: PSD at its minimiser θ̂
        return objective.hvp_sum(theta_hat, v, data) / n + WEIGHT_DECAY * v

    b = objective.grad_sum(theta_hat, data[:2]) / n
    exact = solve_exact(matvec, b, damping)
    cg = solve_cg(matvec, b, damping, tol=1e-10, max_iter=300)
    assert cg.converged and _rel(cg.x, exact.x) < 1e-7

    def batch_matvec(v, step):  # mini-batches of 8 of the 32 examples
        start = 8 * (step % 8)
        return objective.hvp_sum(theta_hat, v, data[start : start + 8]) / 8 + WEIGHT_DECAY * v

    lissa = solve_lissa(batch_matvec, matvec, b, damping, depth=300, repeats=1)
    # stochastic: close, not exact (the reference notes 0.4-2.2 relative error on its toy)
    assert _rel(lissa.x, exact.x) < 0.5
