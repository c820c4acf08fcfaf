"""The update-size measure of the quantization regime, on a one-layer model computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from obliviate.attacks.quantize import QUANT_ATTACKS
from obliviate.attacks.regime import update_ratio


class OneLinear(torch.nn.Module):
    def __init__(self, row: list[float]):
        super().__init__()
        self.proj = torch.nn.Linear(len(row), 1, bias=False)
        with torch.no_grad():
            self.proj.weight.copy_(torch.tensor([row]))


def test_update_ratio_by_hand():
    # quant4: symmetric int4 (levels ±7), one group of 4 here: scale = max|w| / 7 = 1, so step 1 everywhere
    target = OneLinear([1.0, 2.0, 3.0, 7.0])
    small = update_ratio(target, OneLinear([1.2, 2.0, 3.0, 7.0]), QUANT_ATTACKS["quant4"])
    assert small["ratio"] == pytest.approx(0.2 / 2.0)  # ‖ΔW‖ = 0.2, ‖step‖ = sqrt(4 · 1²) = 2
    assert small["relative_update"] == pytest.approx(0.2 / math.sqrt(63))
    assert small["same_cell"] == 1.0  # 1.2 still rounds to 1
    large = update_ratio(target, OneLinear([1.6, 2.0, 3.0, 7.0]), QUANT_ATTACKS["quant4"])
    assert large["ratio"] == pytest.approx(0.3)
    assert large["same_cell"] == 0.75  # 1.6 rounds to 2: one weight of four left its cell


def test_a_slightly_moved_grid_keeps_weights_in_their_cells():
    # the group's largest weight moves 7 -> 7.07: the scale becomes 1.01 and every quantized value
    # moves by at most 0.07 (< half a step): the same grid points, on a slightly stretched grid
    target = OneLinear([1.0, 2.0, 3.0, 7.0])
    moved = update_ratio(target, OneLinear([1.0, 2.0, 3.0, 7.07]), QUANT_ATTACKS["quant4"])
    assert moved["same_cell"] == 1.0
    assert moved["ratio"] == pytest.approx(0.07 / 2.0, rel=1e-5)  # 7.07 in float32
