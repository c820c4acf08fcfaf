"""Inverse-Hessian-vector products: solve (H + λI) x = b given only products v -> Hv.

- `exact`: materialise H column by column in float64 and solve. P products, P² memory: tiny
  adapters only (the test oracle). With λ = 0 it returns the minimum-norm least-squares solution,
  since a LoRA Hessian is singular (BA = (BG)(G⁻¹A) leaves r² flat directions per module).
- `cg`: conjugate gradient, one full-batch product per iteration, stops when the relative
  residual ‖(H + λI)x − b‖ / ‖b‖ falls below `tol`. Needs H + λI positive definite: a step that
  meets non-positive curvature stops early and says so (use more damping or curvature=gn).
- `lissa`: the stochastic Neumann recursion of Agarwal et al. (2017),
      h ← b + (1 − d) h − H_batch h / s,     answer h / s → (H + d·s·I)⁻¹ b,
  with d = λ / s, so it solves the same damped system as the others; s must exceed H's largest
  eigenvalue (estimated by power iteration when not given). Noisy; for when full-batch CG is
  unaffordable.

Every solver returns a `Solution` whose `relative_residual` is measured with one extra
full-batch product, so solvers are compared on the same footing.

Tests: tests/erase/test_solvers.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

MatVec = Callable[[torch.Tensor], torch.Tensor]
EXACT_MAX_PARAMETERS = 20_000


@dataclass
class Solution:
    x: torch.Tensor  # (P,) ≈ (H + λI)⁻¹ b
    iterations: int  # products with H spent (excluding the residual check)
    relative_residual: float  # ‖(H + λI)x − b‖ / ‖b‖
    converged: bool
    note: str = ""

    def stats(self) -> dict:
        return {
            "iterations": self.iterations,
            "relative_residual": self.relative_residual,
            "converged": self.converged,
            "note": self.note,
        }


def relative_residual(matvec: MatVec, x: torch.Tensor, b: torch.Tensor, damping: float) -> float:
    residual = matvec(x) + damping * x - b
    return float(residual.norm() / b.norm().clamp(min=torch.finfo(b.dtype).tiny))


def materialize(matvec: MatVec, size: int, like: torch.Tensor) -> torch.Tensor:
    """The (P, P) matrix of a symmetric operator, in float64, symmetrised against rounding."""
    columns = []
    for i in range(size):
        e = torch.zeros(size, dtype=like.dtype, device=like.device)
        e[i] = 1
        columns.append(matvec(e).double())
    matrix = torch.stack(columns, dim=1)
    return (matrix + matrix.T) / 2


def solve_exact(matvec: MatVec, b: torch.Tensor, damping: float) -> Solution:
    size = b.numel()
    if size > EXACT_MAX_PARAMETERS:
        raise ValueError(
            f"solver 'exact' materialises the {size}x{size} Hessian; it is for adapters of at most "
            f"{EXACT_MAX_PARAMETERS} parameters (use solver=cg)"
        )
    matrix = materialize(matvec, size, b) + damping * torch.eye(size, dtype=torch.float64)
    if damping > 0:
        x = torch.linalg.solve(matrix, b.double())
    else:
        x = torch.linalg.lstsq(matrix, b.double().unsqueeze(1), driver="gelsd").solution.squeeze(1)
    x = x.to(b.dtype)
    return Solution(x, size, relative_residual(matvec, x, b, damping), True)


def solve_cg(matvec: MatVec, b: torch.Tensor, damping: float, tol: float, max_iter: int) -> Solution:
    """Conjugate gradient on (H + λI) x = b from x = 0."""

    def apply(v):
        return matvec(v) + damping * v

    x = torch.zeros_like(b)
    r = b.clone()  # residual b − A x
    p = r.clone()
    rr = r @ r
    b_norm = b.norm()
    note = ""
    iterations, reached = 0, False
    for iterations in range(1, max_iter + 1):
        ap = apply(p)
        curvature = p @ ap
        if curvature <= 0:
            note = f"non-positive curvature at iteration {iterations}: raise damping or use curvature=gn"
            iterations -= 1
            break
        alpha = rr / curvature
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r @ r
        if rr_new.sqrt() <= tol * b_norm:
            reached = True
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    residual = relative_residual(matvec, x, b, damping)
    if not reached and not note:
        note = f"stopped at max_iter={max_iter} above tol={tol}"
    return Solution(x, iterations, residual, reached, note)


def largest_eigenvalue(matvec: MatVec, like: torch.Tensor, iterations: int = 20, seed: int = 0) -> float:
    """Power iteration: an estimate of H's largest |eigenvalue|."""
    generator = torch.Generator(device=like.device).manual_seed(seed)
    v = torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)
    v = v / v.norm()
    value = 0.0
    for _ in range(iterations):
        hv = matvec(v)
        value = float(hv.norm())
        if value == 0:
            break
        v = hv / value
    return value


def solve_lissa(
    batch_matvec: Callable[[torch.Tensor, int], torch.Tensor],
    full_matvec: MatVec,
    b: torch.Tensor,
    damping: float,
    depth: int,
    repeats: int = 1,
    scale: float | None = None,
) -> Solution:
    """LiSSA: `batch_matvec(v, step)` is a mini-batch estimate of Hv (the step picks the batch)."""
    if scale is None:
        # 1.5x the estimate: power iteration approaches the top eigenvalue from below.
        scale = 1.5 * largest_eigenvalue(full_matvec, b) + damping
    decay = damping / scale
    estimates = []
    for repeat in range(repeats):
        h = b.clone()
        for step in range(depth):
            h = b + (1 - decay) * h - batch_matvec(h, repeat * depth + step) / scale
        estimates.append(h / scale)
    x = torch.stack(estimates).mean(0)
    residual = relative_residual(full_matvec, x, b, damping)
    return Solution(x, depth * repeats, residual, bool(torch.isfinite(x).all()), f"scale {scale:.4g}")
