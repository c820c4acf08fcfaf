"""Batched bf16 linear layers for one-token rows that equal torch's one-row matmul, bit for bit.

One-at-a-time numerics (`passes._one_at_a_time_numerics`) make each row of a decoding step
multiply as torch multiplies that row alone, the official loop's numbers. Torch's one-row bf16
kernel reads its weight at ~7 GB/s on this project's CPU (one thread), and at the small batches
that most decoding steps have, reading the weights is the step. `kernels/row_linear.cpp` sums in
the same order from a copy of the weights packed for the dot-product instruction, read once for
all rows of a step: for a (1536 x 576) weight out of cache, one row 69 against 220 µs, eight rows
87 against 276 µs, forty 336 against 525 µs (one thread, 2026-12-05; `perf/row_linear.py`). The
packed copy is as large as the weight and stays with the module (`packed_weight`) while the weight
is unchanged.

The order belongs to torch's build and the CPU, so the kernel is compiled on first use and checked
against torch's one-row kernel on random rows for each weight shape and thread count before it
is used; where the compiler or AVX512-BF16 is missing or the check fails, `reproduces_torch` says
no and the caller keeps torch's kernel: same numbers, slower.
"""

from __future__ import annotations

import functools
import logging
import weakref
from pathlib import Path

import torch
import torch.nn.functional as F

from obliviate.eval.exact_attention import FLAGS, build, remembered, wide_bf16

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("kernels") / "row_linear.cpp"
TILE = 16  # outputs per packed vector (kTile in the .cpp)


@functools.cache
def _extension():
    """The compiled kernel module, or None (no AVX512-BF16 here, or no compiler)."""
    if not getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)():  # a private helper
        return None
    return build("obliviate_row_linear", SOURCE, [*FLAGS, "-mavx512bf16"], "one row at a time")


def pack(weight: torch.Tensor) -> torch.Tensor:
    """A (N, K) bf16 weight as the kernel reads it: (N / 16, K / 2, 16) int32, each the pair of
    inputs (k, k + 1) of one output, 16 outputs side by side."""
    n, k = weight.shape
    # the pairs as int32 first: a transpose of 4-byte elements copies ~3x faster than of bf16 pairs
    # (0.09 against 0.28-0.42 s for SmolLM2-135M's 211 linears, one thread), with the same bytes
    pairs = weight.detach().contiguous().view(torch.int32)  # (N, K / 2)
    return pairs.reshape(n // TILE, TILE, k // 2).transpose(1, 2).contiguous()


def packed_weight(module: torch.nn.Linear) -> torch.Tensor:
    """`pack(module.weight)`, kept on the module until its weight is replaced or changed in place
    (~0.1 s for SmolLM2's linears, which a model's every generation call would otherwise repeat)."""
    weight = module.weight
    key = (weight.data_ptr(), weight._version)
    kept = module.__dict__.get("_obliviate_packed")
    if kept is None or kept[0]() is not weight or kept[1] != key:
        kept = (weakref.ref(weight), key, pack(weight))
        module.__dict__["_obliviate_packed"] = kept
    return kept[2]


def _fits(weight: torch.Tensor) -> bool:
    return (
        weight.dtype == torch.bfloat16
        and weight.device.type == "cpu"
        and weight.dim() == 2
        and weight.shape[0] % TILE == 0
        and weight.shape[1] % 2 == 0
    )


@remembered(lambda: _extension())
def _agrees(n: int, k: int, threads: int) -> bool:
    """The kernel equals torch's one-row kernel, bitwise, on random rows of wide-ranging values for
    this weight shape (sums that cancel and round differently in other orders)."""
    generator = torch.Generator().manual_seed(0)
    weight = wide_bf16(n, k, generator=generator, spread=8)
    rows = wide_bf16(11, k, generator=generator, spread=8)  # 11 rows: two groups of the kernel's, uneven
    out = _extension().row_linear(rows, pack(weight))
    alone = torch.cat([F.linear(rows[i : i + 1], weight) for i in range(len(rows))])
    if torch.equal(out.view(torch.int16), alone.view(torch.int16)):
        return True
    log.warning("exact batched linear differs from torch's one-row kernel (%d x %d); one row at a time", n, k)
    return False


def reproduces_torch(weight: torch.Tensor) -> bool:
    """Whether the kernel is built here and reproduces torch's one-row kernel for this weight's
    shape at the current thread count."""
    return _fits(weight) and _extension() is not None and _agrees(*weight.shape, torch.get_num_threads())


def row_linear(x: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
    """x (M, K) bf16 times the packed weight (`pack`): (M, N), each row as `F.linear` of that row
    alone (for a weight that `reproduces_torch`)."""
    return _extension().row_linear(x.contiguous(), packed)
