"""The edit against retraining on a tiny float64 LoRA model (the acceptance test of the method).

θ̂ minimises R on 64 random sequences; retraining minimises R′ from θ̂ (warm start, to a gradient
norm of 1e-10). The erase and retrain changes are compared as merged ΔW = (α/r)·B·A, never as raw
A, B (BA = (BG)(G⁻¹A)). One Newton step reaches cosine ≥ 0.9; the same step with the sign flipped
(the official code's "new minus old") points away from retraining."""

from __future__ import annotations

import pytest

from obliviate.erase.compare import merged_deltas, weight_closeness
from obliviate.erase.update import EraseConfig, newton_update
from tests.erase.conftest import WEIGHT_DECAY, minimize


def _deltas(objective, theta):
    objective.load(theta)
    return merged_deltas(objective.model)


@pytest.mark.parametrize("removed_count", [1, 6])
def test_one_newton_step_matches_warm_start_retraining(trained_lora, removed_count):
    objective, theta_hat, data = trained_lora
    n = len(data)
    removed, new_data = data[:removed_count], data[removed_count:]
    cfg = EraseConfig(solver="cg", damping=1e-4, weight_decay=WEIGHT_DECAY, cg_tol=1e-10, cg_max_iter=500)
    result = newton_update(objective, theta_hat, data, new_data, removed, [], cfg)
    assert result.steps[0]["converged"]
    retrained = minimize(objective, theta_hat, new_data, n)
    target = _deltas(objective, theta_hat)
    closeness = weight_closeness(target, _deltas(objective, result.theta), _deltas(objective, retrained))
    assert closeness["cosine"] >= 0.9, closeness
    assert closeness["relative_distance"] < 0.5, closeness
    flipped = weight_closeness(
        target, _deltas(objective, theta_hat - result.delta), _deltas(objective, retrained)
    )
    assert flipped["cosine"] < 0.9 and flipped["cosine"] < 0, flipped


def test_iterated_newton_steps_get_closer(trained_lora):
    objective, theta_hat, data = trained_lora
    n = len(data)
    removed, new_data = data[:6], data[6:]
    retrained = minimize(objective, theta_hat, new_data, n)
    target, goal = _deltas(objective, theta_hat), _deltas(objective, retrained)
    distances = []
    for steps in (1, 3):
        cfg = EraseConfig(
            solver="cg",
            damping=1e-4,
            weight_decay=WEIGHT_DECAY,
            cg_tol=1e-10,
            cg_max_iter=500,
            newton_steps=steps,
        )
        result = newton_update(objective, theta_hat, data, new_data, removed, [], cfg)
        distances.append(
            weight_closeness(target, _deltas(objective, result.theta), goal)["relative_distance"]
        )
    assert distances[1] < distances[0] / 10, distances
