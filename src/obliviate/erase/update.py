"""The influence-function edit of a LoRA adapter: one (or a few) damped Newton steps.

A request replaces S ⊂ D by S′ (removal: S′ = ∅). With R(θ) = (1/n) Σ_D ℓ(z; θ) (+ (μ/2)‖θ‖²
with `weight_decay` μ) and θ̂ its minimiser, the edited objective is
R′ = R + (1/n) Σ_S [ℓ(z′) − ℓ(z)], and one Newton step from θ̂ (where ∇R(θ̂) ≈ 0) is
(LLMEraser, arXiv 2412.00383, Sec. 3):

    Δθ = −(H + λI)⁻¹ ∇R′(θ̂) = (H + λI)⁻¹ b,     b = (1/n) Σ_S [∇ℓ(z; θ̂) − ∇ℓ(z′; θ̂)]     (1)

with H the curvature of R at θ̂ over the whole original D (Hessian, or its Gauss-Newton part)
and λ the damping that LoRA's flat directions require. `curvature_data="edited"` takes H over D′
instead (the Hessian of R′): then the step is an exact Newton step on R′, which on a quadratic
(ridge regression) lands exactly on the retrained minimiser; the paper's H of R differs from it
by O(|S|/n). The sign is "old minus new": removing z
moves θ along +H⁻¹∇ℓ(z), i.e. uphill on z's loss. (The official code computes "new minus old"
and drops a factor 2 in its HVP; see docs/erase.md.)

Iterated steps (`newton_steps > 1`) continue Newton's method on R′ with the curvature of R′ at
the current point. The target was trained to ∇R(θ̂) = g₀ ≈ 0, not exactly 0; the steps minimise
R′(θ) − g₀ᵀθ, the edit of the objective θ̂ exactly minimises, so they correct the request's
effect without also finishing the target's own training. Step 1 is then exactly (1).

`line_search` scales each step by the best of a few fixed factors on that edited objective,
estimated from a sample of D plus the request (forward passes only): a quadratic model of a
cross-entropy the target is nearly certain of predicts far too long a step (docs/erase.md).

    result = newton_update(objective, theta_hat, data, new_data, removed, added, EraseConfig())
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from obliviate.erase.config import EraseConfig
from obliviate.erase.objective import Objective
from obliviate.erase.solvers import Solution, solve_cg, solve_exact, solve_lissa
from obliviate.training_data import Example


@dataclass
class EraseResult:
    theta: torch.Tensor  # (P,) θ̂ + Δθ
    delta: torch.Tensor  # (P,) Δθ
    b_norm: float
    steps: list[dict] = field(default_factory=list)  # per Newton step: solver stats, ‖Δθ‖


def _subsample(examples: Sequence[Example], size: int | None, rng: random.Random) -> list[Example]:
    if size is None or size >= len(examples):
        return list(examples)
    return rng.sample(list(examples), size)


def solve(
    objective: Objective,
    theta: torch.Tensor,
    rhs: torch.Tensor,
    data: Sequence[Example],
    n: int,
    cfg: EraseConfig,
    rng: random.Random,
) -> Solution:
    """(H + λI)⁻¹ rhs, H = (1/n) Σ_data ∇²ℓ(z; θ) + μI (or its Gauss-Newton part), by the chosen solver.

    A curvature subsample of m examples estimates the sum as (|data| / m) Σ_subsample."""
    sample = _subsample(data, cfg.hessian_examples, rng)
    weight = len(data) / (len(sample) * n)

    def matvec(v):
        return weight * objective.curvature_sum(cfg.curvature, theta, v, sample) + cfg.weight_decay * v

    if cfg.solver == "exact":
        return solve_exact(matvec, rhs, cfg.damping)
    if cfg.solver == "cg":
        return solve_cg(matvec, rhs, cfg.damping, cfg.cg_tol, cfg.cg_max_iter)
    batch_weight = len(data) / (min(cfg.lissa_batch_size, len(data)) * n)
    seeds = rng.randrange(2**31)

    def batch_matvec(v, step):
        batch = random.Random(seeds + step).sample(list(data), min(cfg.lissa_batch_size, len(data)))
        return batch_weight * objective.curvature_sum(cfg.curvature, theta, v, batch) + cfg.weight_decay * v

    return solve_lissa(
        batch_matvec, matvec, rhs, cfg.damping, cfg.lissa_depth, cfg.lissa_repeats, cfg.lissa_scale
    )


def request_gradient(
    objective: Objective, theta: torch.Tensor, removed: Sequence[Example], added: Sequence[Example], n: int
) -> torch.Tensor:
    """b = (1/n) Σ_S [∇ℓ(z; θ) − ∇ℓ(z′; θ)]: old minus new, eq. (1)."""
    b = objective.grad_sum(theta, removed)
    if added:
        b = b - objective.grad_sum(theta, added)
    return b / n


STEP_SCALES = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0)


def search_step_scale(
    objective: Objective,
    theta: torch.Tensor,
    delta: torch.Tensor,
    linear: torch.Tensor | None,
    data: Sequence[Example],
    removed: Sequence[Example],
    added: Sequence[Example],
    cfg: EraseConfig,
    rng: random.Random,
) -> tuple[float, dict[float, float]]:
    """The scale s in `STEP_SCALES` minimising the edited objective at θ + sΔθ (0: the step does not help).

    The objective is R′ + (μ/2)‖θ‖² − g₀ᵀθ (`linear` = g₀; None: taken as 0), with
    R′ = (1/n)[Σ_D ℓ − Σ_S ℓ + Σ_S′ ℓ] and Σ_D estimated as (n / m) Σ over m sampled rows of D:
    forward passes only, the sample fixed across scales."""
    n = len(data)
    sample = _subsample(data, cfg.line_search_examples, rng)

    def objective_at(point: torch.Tensor) -> float:
        total = objective.loss_sum(point, sample) * n / len(sample) - objective.loss_sum(point, removed)
        value = (total + objective.loss_sum(point, added)) / n + cfg.weight_decay / 2 * float(point @ point)
        return value - (float(linear @ point) if linear is not None else 0.0)

    values = {scale: objective_at(theta + scale * delta) for scale in STEP_SCALES}
    return min(values, key=values.get), values


def newton_update(
    objective: Objective,
    theta_hat: torch.Tensor,
    data: Sequence[Example],
    new_data: Sequence[Example],
    removed: Sequence[Example],
    added: Sequence[Example],
    cfg: EraseConfig,
) -> EraseResult:
    """θ̂ + Δθ after `cfg.newton_steps` damped Newton steps on the edited objective (module docstring)."""
    rng = random.Random(cfg.seed)
    n, mu = len(data), cfg.weight_decay
    b = request_gradient(objective, theta_hat, removed, added, n)
    # g₀ = ∇R(θ̂), needed from step 2 on; step 1's right-hand side −∇(R′ − g₀ᵀθ)(θ̂) is b itself
    training_residual = (
        objective.grad_sum(theta_hat, data) / n + mu * theta_hat if cfg.newton_steps > 1 else None
    )
    theta, steps = theta_hat, []
    for index in range(cfg.newton_steps):
        if index == 0:
            rhs, curvature_examples = b, (data if cfg.curvature_data == "original" else new_data)  # eq. (1)
        else:
            gradient = (
                objective.grad_sum(theta, new_data) / n + mu * theta - training_residual
            )  # ∇(R′ − g₀ᵀθ)
            rhs, curvature_examples = -gradient, new_data
        solution = solve(objective, theta, rhs, curvature_examples, n, cfg, rng)
        step = solution.x
        stats = {**solution.stats(), "step_norm": float(step.norm())}
        if index > 0:
            stats["gradient_norm"] = float(rhs.norm())
        if cfg.line_search:
            scale, values = search_step_scale(
                objective, theta, step, training_residual, data, removed, added, cfg, rng
            )
            step = scale * step
            stats.update(step_scale=scale, objective_by_scale={str(k): v for k, v in values.items()})
        theta = theta + step
        steps.append(stats)
    return EraseResult(theta, theta - theta_hat, float(b.norm()), steps)
