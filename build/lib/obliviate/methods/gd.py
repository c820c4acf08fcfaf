"""Gradient difference (GD): ascent on the forget set, descent on the retain set.

TOFU (arXiv 2401.06121) `grad_diff`; Liu et al. 2022. Equation implemented:

    L = forget_weight · (-NLL(F)) + retain_weight · NLL(R)

The forget term is GA's (composed, not inherited); the engine adds the retain NLL term.
Defaults γ = α = 1 as in TOFU and open-unlearning.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from obliviate.methods._base import Method, MethodConfig, Needs
from obliviate.methods.ga import ga_loss


class GDConfig(MethodConfig):
    name: Literal["gd"] = "gd"
    retain_weight: float = Field(1.0, ge=0, description="weight α of the retain NLL (TOFU: 1)")


# GD's forget term is exactly GA's; the difference is the retain term the loop adds
METHOD = Method(GDConfig, Needs(retain=True, reference=False), ga_loss, summary="-NLL(F) + α·NLL(R)")
