"""Is an unlearning run in the regime where quantization undoes it?

Zhang et al.'s mechanism (arXiv 2410.16454): an unlearning update small next to the rounding grid
leaves most weights in the same rounding cell as the target's, so the quantized unlearned model is
close to the quantized target. `update_ratio` measures exactly that, over the weights an attack
quantizes:

    ratio = ‖W_unlearned − W_target‖ / ‖step(W_target)‖

with `step` the per-weight grid spacing (`quantize.quant_step`); `same_cell` is the share of
weights that round to the same grid point in both models (their quantized values within half a
step of each other: a group's scale moves a little with its largest weight, so the two grids are
not exactly equal). A ratio well below 1 (most weights in
their cell) is the vulnerable regime; `docs/robustness.md` reports where 4-bit restores at our scale.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from obliviate.attacks.quantize import QuantSpec, quant_step, quantize_tensor, quantized_names
from obliviate.models import load_model


@torch.no_grad()
def update_ratio(target: torch.nn.Module, unlearned: torch.nn.Module, spec: QuantSpec) -> dict:
    """{"ratio", "relative_update", "same_cell"} of an unlearned model against its target (see module)."""
    target_params = dict(target.named_parameters())
    unlearned_params = dict(unlearned.named_parameters())
    delta_sq = step_sq = weight_sq = 0.0
    same = total = 0
    for name in quantized_names(target, spec):
        w_t = target_params[name].float()
        w_u = unlearned_params[name].float()
        delta_sq += (w_u - w_t).norm().item() ** 2
        weight_sq += w_t.norm().item() ** 2
        step = quant_step(w_t, spec)
        step_sq += step.norm().item() ** 2
        moved = (quantize_tensor(w_u, spec).float() - quantize_tensor(w_t, spec).float()).abs()
        same += int((moved < 0.5 * step).sum())
        total += w_t.numel()
    return {
        "ratio": math.sqrt(delta_sq / step_sq) if step_sq else None,
        "relative_update": math.sqrt(delta_sq / weight_sq) if weight_sq else None,
        "same_cell": same / total if total else None,
    }


def update_ratio_of_dirs(target_dir: Path, unlearned_dir: Path, spec: QuantSpec) -> dict:
    """`update_ratio` of two saved model directories (fp32 weights)."""
    target, _ = load_model(target_dir)
    unlearned, _ = load_model(unlearned_dir)
    return update_ratio(target, unlearned, spec)
