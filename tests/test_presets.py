"""Every preset resolves and validates; overrides are typed and typos fail."""

from __future__ import annotations

import pytest

from obliviate.config import parse_override
from obliviate.presets import PRESETS, resolve_config


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_resolves(name):
    cfg = resolve_config(name)
    assert cfg.preset == name
    assert cfg.target_train.epochs >= 1


def test_overrides_apply_in_order_and_typed_options_win():
    cfg = resolve_config(
        "smoke", ["target_train.lr=0.5", "model.name=foo", "split=validation", "erase.damping=2"], model="bar"
    )
    assert cfg.target_train.lr == 0.5
    assert cfg.erase.damping == 2.0 and cfg.erase.solver == "cg"
    assert cfg.split == "validation"
    assert cfg.model.name == "bar"


def test_override_errors():
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("a=text") == (["a"], "text")
    with pytest.raises(ValueError, match="expected section.field=value"):
        parse_override("a.b")
    with pytest.raises(ValueError, match="unknown section 'nope'"):
        resolve_config("smoke", ["nope.lr=1"])
    with pytest.raises(ValueError, match="unknown preset"):
        resolve_config("huge")
    with pytest.raises(ValueError):
        resolve_config("smoke", ["target_train.epochs=0"])


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("unlearn_train.lr=Infinity", "unlearn_train.lr"),
        ("unlearn_train.lr=NaN", "unlearn_train.lr"),
        ("target_train.max_grad_norm=1e999", "target_train.max_grad_norm"),  # JSON overflows to inf
        ("erase.damping=NaN", "erase.damping"),
        ("unlearn_params.lora_alpha=Infinity", "unlearn_params.lora_alpha"),
        ("methods.gd.lr=Infinity", "methods\n  Value error, gd.lr:"),  # the method named
    ],
)
def test_non_finite_numbers_are_rejected(override, field):
    with pytest.raises(ValueError, match=rf"{field}(\n )? Input should be a finite number"):
        resolve_config("smoke", [override])
