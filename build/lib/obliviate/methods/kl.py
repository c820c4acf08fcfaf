"""KL: gradient ascent on the forget set, KL to the frozen target on retain inputs.

TOFU (arXiv 2401.06121) `KL`; open-unlearning GradDiff with `retain_loss_type: KL`. Equation:

    L = forget_weight · (-NLL(F)) + retain_weight · KL(p_target ‖ p_θ)(R)

The KL is over the next-token distributions at every non-padding retain position (see
`_logps.kl_from_reference`). Any other method can use the same retain term with
`--set method.retain_loss=kl` (NPO + KL is the "npo_klr" of the quantization-attack paper).
"""

from __future__ import annotations

from typing import Literal

from obliviate.methods._base import Method, MethodConfig, Needs
from obliviate.methods.ga import ga_loss


class KLConfig(MethodConfig):
    name: Literal["kl"] = "kl"
    retain_loss: Literal["nll", "kl"] = "kl"


METHOD = Method(KLConfig, Needs(retain=True, reference=True), ga_loss, summary="-NLL(F) + α·KL(ref‖θ)(R)")
