"""`obliviate erase`: instance-wise unlearning of a LoRA target by influence functions (LLMEraser,
"Unified Parameter-Efficient Unlearning for LLMs", arXiv 2412.00383), checked against retraining.

A request (removal, query modification, response correction) replaces training examples S by S′;
the adapter moves by Δθ = (H + λI)⁻¹ b, b = (1/n) Σ_S [∇ℓ(z) − ∇ℓ(z′)], without retraining.

    objective.py  per-example loss over the LoRA parameters; gradients, HVPs, Gauss-Newton products
    solvers.py    (H + λI)⁻¹ b: exact (oracle), cg (default), lissa
    config.py     EraseConfig (`--set erase.<field>=...`)
    update.py     the Newton step(s)
    requests.py   request JSONL -> edits; D′
    compare.py    retraining on D′ (warm / scratch); ΔW and KL closeness
    run.py        a run directory: erase_requests(...), erase_forget_set(...) for `obliviate bench`

Docs: docs/erase.md. Tests: tests/erase/.

The package root exports only the light pieces (the run config holds an EraseConfig); the runs are
`obliviate.erase.run.erase / erase_requests / erase_forget_set`.
"""

from obliviate.erase.config import EraseConfig
from obliviate.erase.requests import REQUEST_KINDS, Edit, read_requests

__all__ = ["REQUEST_KINDS", "Edit", "EraseConfig", "read_requests"]
