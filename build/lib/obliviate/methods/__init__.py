"""The method registry: name -> `Method` (config class, needs, loss, optional plan / default params).

The unlearning loop computes `forget_weight * loss + retain_weight * retain_term(retain)` (see
`_base.py`); a method file holds its docstring (paper, equation), its config, its needs and its loss.
Adding a method: one file, one line here, one test.
"""

from __future__ import annotations

from obliviate.methods import ga, gd, idk, idkdpo, kl, npo, rmu, simnpo, sugd, undial
from obliviate.methods._base import Method, MethodConfig, Needs, Phase

METHODS: dict[str, Method] = {
    "ga": ga.METHOD,
    "gd": gd.METHOD,
    "kl": kl.METHOD,
    "npo": npo.METHOD,
    "simnpo": simnpo.METHOD,
    "idk": idk.METHOD,
    "idkdpo": idkdpo.METHOD,
    "rmu": rmu.METHOD,
    "undial": undial.METHOD,
    "sugd": sugd.METHOD,
}

# Rows of every leaderboard that are not methods: the unchanged target and the retrain oracle.
REFERENCE_ROWS = ("target", "oracle")


def method_config(name: str, overrides: dict | None = None) -> MethodConfig:
    """The typed config of a method with `overrides` applied (unknown fields fail)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name].config(**(overrides or {}))


__all__ = ["METHODS", "REFERENCE_ROWS", "Method", "MethodConfig", "Needs", "Phase", "method_config"]
