"""The method registry: name -> (config class, needs, forget loss).

The unlearning loop computes `forget_weight * forget_loss + retain_weight * NLL(retain)`;
a method file holds its docstring (paper, equation), its config, its needs and its loss.
Adding a method: one file, one line here, one test.
"""

from __future__ import annotations

from obliviate.methods import ga, gd
from obliviate.methods._base import MethodConfig, Needs

METHODS = {
    "ga": (ga.GAConfig, ga.NEEDS, ga.ga_loss),
    "gd": (gd.GDConfig, gd.NEEDS, gd.gd_loss),
}


def method_config(name: str, overrides: dict | None = None) -> MethodConfig:
    """The typed config of a method with `overrides` applied (unknown fields fail)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(sorted(METHODS))}")
    return METHODS[name][0](**(overrides or {}))


__all__ = ["METHODS", "MethodConfig", "Needs", "method_config"]
