"""Llama's RMSNorm, rotary embedding and MLP gate in one pass each, equal to transformers' bit for bit.

transformers computes a bf16 Llama's RMSNorm as 8 torch ops, its rotary embedding as 10 and the
MLP's `silu(gate) * up` as 2, each a pass over memory and a few µs of dispatch. On this project's
CPU the first two took ~4 s of one thread's time in a likelihood pass over LUME's 68 validation MIA
documents (a 2000-token row: 5.6 ms for a norm, 4.7 ms for the rotary) and ~3.5 ms of a 40-row
decoding step (33 and 50 µs a layer); the gate ~0.37 s of that pass. `kernels/elementwise.cpp`
computes each in one pass with every rounding of those ops, the mean's summation order included
(torch's, read off with cancelling probes), and the SiLU looked up in a table of torch's own
values for every bf16 input.

`fused_elementwise(model)` switches a bf16 Llama on a CPU to them for inference; each module checks
the kernel against transformers' own code for its shape (random rows, once) before it uses it,
and anything else (gradients, other dtypes or devices, a failed check, no compiler) runs
transformers' code: the same numbers, slower.
"""

from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers.activations import SiLUActivation
from transformers.models.llama import modeling_llama
from transformers.models.llama.modeling_llama import LlamaMLP, LlamaRMSNorm

from obliviate.eval.exact_attention import FLAGS, build, wide_bf16

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("kernels") / "elementwise.cpp"
_TRANSFORMERS_ROTARY = modeling_llama.apply_rotary_pos_emb


@functools.cache
def _extension():
    """The compiled kernel module, or None (no AVX-512 kernels in torch, or no compiler)."""
    return build(
        "obliviate_elementwise", SOURCE, FLAGS, "transformers' RMSNorm, rotary embedding and MLP gate"
    )


@functools.cache
def _norm_agrees(n: int, eps: float, threads: int) -> bool:
    """The kernel equals LlamaRMSNorm's forward, bitwise, on random rows of width n."""
    generator = torch.Generator().manual_seed(0)
    reference = LlamaRMSNorm(n, eps).bfloat16()
    with torch.no_grad():
        reference.weight.copy_(wide_bf16(n, generator=generator, spread=6))
    rows = wide_bf16(67, n, generator=generator, spread=6)
    with torch.inference_mode():
        same = torch.equal(
            _extension().rms_norm(rows, reference.weight, eps).view(torch.int16),
            reference(rows).view(torch.int16),
        )
    if not same:
        log.warning("exact RMSNorm differs from transformers' (width %d); transformers' runs", n)
    return same


@functools.cache
def _rotary_agrees(head_dim: int, threads: int) -> bool:
    """The kernel equals apply_rotary_pos_emb, bitwise, on random heads of this dimension."""
    generator = torch.Generator().manual_seed(0)
    # (B, H, T, D), as attention has it
    x = wide_bf16(3, 9, 4, head_dim, generator=generator, spread=6).transpose(1, 2)
    angles = torch.randn(3, 9, head_dim, generator=generator) * 10
    cos, sin = angles.cos().bfloat16(), angles.sin().bfloat16()
    with torch.inference_mode():
        expected, _ = _TRANSFORMERS_ROTARY(x, x, cos, sin)
        same = torch.equal(_extension().rotary(x, cos, sin).view(torch.int16), expected.view(torch.int16))
    if not same:
        log.warning("exact rotary differs from transformers' (head dim %d); transformers' runs", head_dim)
    return same


@functools.cache
def _silu_table() -> torch.Tensor:
    """torch's SiLU of every bf16 value, indexed by its bits, and one more entry (the kernel's gather
    reads 4 bytes). SiLU's vector and one-element paths agree on every non-NaN input (tested)."""
    every = torch.from_numpy(np.arange(1 << 16, dtype=np.uint16).view(np.int16)).view(torch.bfloat16)
    return torch.cat([F.silu(every), every.new_zeros(1)])


@functools.cache
def _gate_agrees(n: int, threads: int) -> bool:
    """The kernel equals LlamaMLP's `act_fn(gate) * up`, bitwise, on random rows of width n."""
    generator = torch.Generator().manual_seed(0)
    gate, up = (wide_bf16(67, n, generator=generator, spread=6) for _ in range(2))
    with torch.inference_mode():
        expected = SiLUActivation()(gate) * up
        same = torch.equal(
            _extension().silu_gate(gate, up, _silu_table()).view(torch.int16), expected.view(torch.int16)
        )
    if not same:
        log.warning("exact MLP gate differs from transformers' (width %d); transformers' runs", n)
    return same


def _inference_bf16_cpu(*tensors: torch.Tensor) -> bool:
    no_grad = not torch.is_grad_enabled() or not any(t.requires_grad for t in tensors)
    return no_grad and all(t.dtype == torch.bfloat16 and t.device.type == "cpu" for t in tensors)


def _norm_forward(module: LlamaRMSNorm):
    """`module.forward` through the kernel where it applies and agrees, else transformers'."""
    original = module.forward

    def forward(hidden_states: torch.Tensor) -> torch.Tensor:
        n, eps = hidden_states.shape[-1], float(module.variance_epsilon)
        if (
            _inference_bf16_cpu(hidden_states, module.weight)
            and module.weight.shape == (n,)
            and _extension() is not None
            and _norm_agrees(n, eps, torch.get_num_threads())
        ):
            rows = hidden_states.reshape(-1, n).contiguous()
            return _extension().rms_norm(rows, module.weight.contiguous(), eps).view(hidden_states.shape)
        return original(hidden_states)

    return forward


def _mlp_forward(module: LlamaMLP):
    """`module.forward` with `act_fn(gate) * up` through the kernel where it applies and agrees, else
    transformers' (with gradients its own forward: activation checkpointing recomputes it so and
    compares what the two runs saved, in order)."""
    original = module.forward

    def forward(x: torch.Tensor) -> torch.Tensor:
        needs_grad = x.requires_grad or any(p.requires_grad for p in module.parameters())
        if (torch.is_grad_enabled() and needs_grad) or _extension() is None:
            return original(x)
        gate, up = module.gate_proj(x), module.up_proj(x)
        if (
            _inference_bf16_cpu(gate, up)
            and gate.shape == up.shape
            and _gate_agrees(gate.shape[-1], torch.get_num_threads())
        ):
            return module.down_proj(_extension().silu_gate(gate.contiguous(), up.contiguous(), _silu_table()))
        return module.down_proj(module.act_fn(gate) * up)

    return forward


def _rotary(q, k, cos, sin, unsqueeze_dim=1):
    """apply_rotary_pos_emb through the kernel where it applies and agrees, else transformers'."""
    if (
        unsqueeze_dim == 1
        and q.dim() == 4
        and k.dim() == 4
        and cos.dim() == 3
        and cos.shape == sin.shape
        and cos.shape[1:] == (q.shape[2], q.shape[3])
        and q.shape[2:] == k.shape[2:]
        and q.shape[0] == k.shape[0]
        and cos.shape[0] in (1, q.shape[0])
        and q.shape[3] % 32 == 0
        and q.stride(3) == 1
        and k.stride(3) == 1
        and _inference_bf16_cpu(q, k, cos, sin)
        and _extension() is not None
        and _rotary_agrees(q.shape[3], torch.get_num_threads())
    ):
        cos = cos.expand(q.shape[0], -1, -1).contiguous()
        sin = sin.expand(q.shape[0], -1, -1).contiguous()
        return _extension().rotary(q, cos, sin), _extension().rotary(k, cos, sin)
    return _TRANSFORMERS_ROTARY(q, k, cos, sin, unsqueeze_dim)


@contextmanager
def fused_elementwise(model):
    """Within: `model`'s LlamaRMSNorm and SiLU LlamaMLP modules and transformers' Llama rotary
    embedding run through the exact kernels where they apply (inference, bf16, CPU). Nests; yields
    whether it switched."""
    norms = [m for m in model.modules() if type(m) is LlamaRMSNorm and "forward" not in m.__dict__]
    gates = [
        m
        for m in model.modules()
        if type(m) is LlamaMLP and type(m.act_fn) is SiLUActivation and "forward" not in m.__dict__
    ]
    switched = bool(norms) and _extension() is not None
    if not switched:
        yield False
        return
    previous = modeling_llama.apply_rotary_pos_emb
    for m in norms:
        m.forward = _norm_forward(m)
    for m in gates:
        m.forward = _mlp_forward(m)
    modeling_llama.apply_rotary_pos_emb = _rotary
    try:
        yield True
    finally:
        modeling_llama.apply_rotary_pos_emb = previous
        for m in (*norms, *gates):
            del m.forward
