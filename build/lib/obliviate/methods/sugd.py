"""SUGD, sequential unlearning with gradient difference: the SemEval-2025 Task 4 winner.

Premptis et al. (AILS-NTUA) 2025, arXiv 2503.02443; AILS `methods/sequential.py`,
`configs/sequential_args.json`. What is implemented, step by step:

1. The forget set, in benchmark order, is cut into consecutive chunks of `chunk_size` (32).
2. Each chunk takes the next `len(chunk) · retain_ratio` (7) retain examples from a pointer that
   cycles through the retain set in order and persists across chunks.
3. Within a chunk, forget example i is followed by its 7 retain examples: blocks [F, R×7], in a
   fixed order (no shuffling). One optimizer step sees `blocks_per_step` blocks (AILS: 8 processes
   × 1 row = one block).
4. Loss of a step: mean over its rows of factor_i · L_i, where L_i is the row's *token-mean* NLL
   and the factor is -forget_weight (1) for forget rows and +retain_weight (0.5) for retain rows.
5. Every chunk gets a fresh optimizer and a linear-decay schedule without warm-up (a new HF
   Trainer per chunk in AILS), for `epochs` passes over the chunk (AILS: 7, lr 1e-5).
6. Trainable: the last `last_k` (8) decoder layers, full parameters (AILS `train_last_k`), unless
   the run sets `unlearn_params` (LoRA: r 16, α 64 in AILS).
No reference model; AILS has no loss clipping beyond the gradient-norm clip at 1.0.
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch
from pydantic import Field

from obliviate.engine import TrainConfig
from obliviate.methods._base import Method, MethodConfig, Needs, Phase
from obliviate.methods._logps import answer_logps
from obliviate.params import ParamsConfig


class SUGDConfig(MethodConfig):
    name: Literal["sugd"] = "sugd"
    chunk_size: int = Field(32, ge=1, description="forget examples per sequential chunk")
    retain_ratio: int = Field(7, ge=0, description="retain examples mixed in per forget example")
    retain_weight: float = Field(0.5, ge=0, description="factor of retain rows (forget rows: -forget_weight)")
    blocks_per_step: int = Field(1, ge=1, description="[F, R×ratio] blocks per optimizer step")
    last_k: int = Field(8, ge=1, description="default trainable set: the last k decoder layers")


def sugd_plan(forget: list, retain: list, refusals, cfg: SUGDConfig, train: TrainConfig) -> list[Phase]:
    """One phase per chunk of consecutive forget examples, each with its cycled retain examples."""
    retain_cycle = itertools.cycle(retain) if retain and cfg.retain_ratio else None
    chunk_train = train.model_copy(
        update={"batch_size": cfg.blocks_per_step, "scheduler": "linear", "warmup_ratio": 0.0}
    )
    phases = []
    for start in range(0, len(forget), cfg.chunk_size):
        blocks = []
        for f in forget[start : start + cfg.chunk_size]:
            rows = tuple(itertools.islice(retain_cycle, cfg.retain_ratio)) if retain_cycle else ()
            blocks.append({"forget": f, "retain": rows} if rows else {"forget": f})
        phases.append(Phase(blocks, chunk_train, shuffle=False))
    return phases


def row_token_mean_nll(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """Each row's mean NLL over its answer tokens, (B,)."""
    logp, n_tokens = answer_logps(model, batch)
    return -logp / n_tokens.clamp(min=1)


def sugd_loss(model: torch.nn.Module, batch: dict, reference: None, cfg: SUGDConfig):
    forget_nll = row_token_mean_nll(model, batch["forget"])
    total = -cfg.forget_weight * forget_nll.sum()
    rows = len(forget_nll)
    logs = {"forget_nll": forget_nll.detach().mean().item()}
    if "retain" in batch:
        retain_nll = row_token_mean_nll(model, batch["retain"])
        total = total + cfg.retain_weight * retain_nll.sum()
        rows += len(retain_nll)
        logs["retain_nll"] = retain_nll.detach().mean().item()
    return total / rows, logs


def sugd_params(cfg: SUGDConfig, n_layers: int) -> ParamsConfig:
    return ParamsConfig(mode="last_k", last_k=min(cfg.last_k, n_layers))


METHOD = Method(
    SUGDConfig,
    Needs(retain=True, reference=False, own_retain_term=True),
    sugd_loss,
    plan=sugd_plan,
    default_params=sugd_params,
    summary="sequential chunks of [F, R×7]: mean(−L_F, 0.5·L_R), fresh optimizer per chunk",
)
