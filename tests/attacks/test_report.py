"""The robustness section's arithmetic on hand-made outcomes."""

from __future__ import annotations

import pytest

from obliviate.attacks.report import markdown, restored_fraction, robustness, steps_to_recover


def item(pid: str, kind: str, score: float) -> dict:
    return {"id": pid, "task": "Task1", "kind": kind, "score": score}


def outcome(regurg, knowl, unattacked, ids, held_out=True, **extra) -> dict:
    return {
        "held_out": held_out,
        "regurgitation": regurg,
        "knowledge": knowl,
        "unattacked": unattacked,
        "compared_ids": ids,
        **extra,
    }


def test_restored_fraction_by_hand():
    assert restored_fraction(0.5, 0.2, 0.8) == pytest.approx(0.5)  # (0.5-0.2)/(0.8-0.2)
    assert restored_fraction(0.1, 0.2, 0.8) == pytest.approx(-1 / 6)  # an attack can lower a score
    assert restored_fraction(0.5, 0.8, 0.8) is None  # nothing was forgotten: no fraction
    assert restored_fraction(None, 0.2, 0.8) is None


def test_steps_to_recover_first_step_reaching_the_share():
    curve = [{"step": 0, "knowledge": 0.0}, {"step": 5, "knowledge": 0.5}, {"step": 10, "knowledge": 0.9}]
    assert steps_to_recover(curve, "knowledge", 1.0, 0.9) == 10
    assert steps_to_recover(curve, "knowledge", 0.5, 0.9) == 5
    assert steps_to_recover(curve, "knowledge", 2.0, 0.9) is None


def test_robustness_compares_with_target_on_the_same_prompts_and_with_the_oracle():
    # target: a=1.0 (sc), b=0.8 (sc), q=1 (qa); the held-out attack asks only a and q
    row_items = {
        "target": [item("a", "sc", 1.0), item("b", "sc", 0.8), item("q", "qa", 1.0)],
        "oracle": [item("a", "sc", 0.2), item("b", "sc", 0.2), item("q", "qa", 0.0)],
        "gd": [item("a", "sc", 0.1), item("b", "sc", 0.3), item("q", "qa", 0.0)],
    }
    ids = ["a", "q"]
    outcomes = {
        "target": {"quant4": outcome(0.9, 1.0, {"regurgitation": 1.0, "knowledge": 1.0}, ids)},
        "oracle": {"quant4": outcome(0.3, 0.0, {"regurgitation": 0.2, "knowledge": 0.0}, ids)},
        "gd": {
            "quant4": outcome(0.55, 1.0, {"regurgitation": 0.1, "knowledge": 0.0}, ids),
            "relearn-speed": outcome(
                0.95,
                1.0,
                {"regurgitation": 0.2, "knowledge": 0.0},
                ["a", "b", "q"],
                held_out=False,
                curve=[
                    {"step": 0, "regurgitation": 0.2, "knowledge": 0.0},
                    {"step": 5, "regurgitation": 0.95, "knowledge": 1.0},
                ],
            ),
        },
    }
    section = robustness(outcomes, row_items, recover=0.9)
    gd = next(e for e in section["attacks"] if e["row"] == "gd" and e["attack"] == "quant4")
    assert gd["restored/regurgitation"] == pytest.approx((0.55 - 0.1) / (1.0 - 0.1))  # 0.5
    assert gd["restored/knowledge"] == pytest.approx(1.0)
    assert gd["excess/regurgitation"] == pytest.approx(0.55 - 0.3)
    assert gd["excess/knowledge"] == pytest.approx(1.0)
    target = next(e for e in section["attacks"] if e["row"] == "target")
    assert target["restored/regurgitation"] is None  # the target has nothing to restore
    worst = {w["row"]: w for w in section["worst"]}
    # gd unattacked: regurg (0.1+0.3)/2 = 0.2, knowl 0; worst over held-out attacks only (not the speed one)
    assert worst["gd"]["unattacked/regurgitation"] == pytest.approx(0.2)
    assert worst["gd"]["worst/regurgitation"] == pytest.approx(0.55)
    assert worst["gd"]["worst_attack/regurgitation"] == "quant4"
    assert worst["gd"]["worst_excess/regurgitation"] == pytest.approx(0.55 - 0.3)
    assert worst["oracle"]["worst_attack/knowledge"] == "none"  # 0.0 unattacked, 0.0 after
    (speed,) = section["speed"]
    # target's regurgitation on a, b is 0.9: 90% is 0.81, first reached at step 5
    assert speed["steps_to_recover/regurgitation"] == 5
    text = markdown(section)
    assert "| gd | quant4 | 0.550 | 1.000 | 0.500 | 1.000 | 0.250 | 1.000 |" in text
    assert "relearn-speed (trained on the evaluated text)" in text
