"""Batched bf16 attention that equals torch's CPU flash kernel row by row, bit for bit.

One-at-a-time numerics (`passes._one_at_a_time_numerics`) make each row of a batch attend
through the kernel torch runs for that row alone. In bf16 that kernel costs ~0.5 µs per cached
key on this project's CPU (its dot products and p.v product take slow paths), and one call per row
and layer made up half of an evaluation. `kernels/attention.cpp` computes the same numbers, in the
same order, for all rows and heads in one call: `decode_attention` for decoding steps (~12x faster
per layer on the default target's shapes; the whole 120-prompt evaluation of perf/eval_speed.py
went from 13.4 s to 8.0 s), `prefill_attention` for packed documents (prompts' prefill and the
likelihood pass: ~2.5x faster than one torch call per document; torch's kernel was 3.1 s of the
18.8 s pass over LUME's 68 validation MIA documents).

The reduction orders it reproduces belong to torch's build and the CPU's vector unit, so the
kernel is compiled on first use (torch's C++ extension loader: a C++ compiler and `ninja`) and
checked against torch's kernel on random inputs for each head layout (prefill: each document
length) before it is used. Where the compiler is missing, the CPU lacks AVX-512 or the check fails,
the functions return None or fall back per document, and the caller keeps torch's kernel: same
numbers, slower.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import types
from collections.abc import Callable
from pathlib import Path

import torch

from obliviate.atomic import write_json_atomic
from obliviate.keys import content_key

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("kernels") / "attention.cpp"
MAX_GROUP = 16  # query heads per key head the kernel takes (kMaxGroup in the .cpp)
MAX_KEYS = 512  # torch's kv block: longer rows rescale across blocks (not reproduced: torch's kernel)
FLAGS = [
    "-O3",
    "-ffp-contract=off",  # every rounding as written; fused multiply-adds only where torch's code has them
    "-mavx512f",
    "-mavx512bw",
    "-mavx512vl",
    "-mavx512dq",
    "-mfma",
    "-DCPU_CAPABILITY=AVX512",  # torch's vector code for the capability its own kernels run
    "-DCPU_CAPABILITY_AVX512",
    "-fopenmp",  # at::parallel_for is inline OpenMP: without it a kernel runs on one thread
]


def build(name: str, source: Path, flags: list[str], fallback: str):
    """The kernel module compiled from `source` (once per build of it: torch's extension cache), or
    None where torch has no AVX-512 kernels or there is no compiler; `fallback` says, in the
    warning, what runs instead."""
    if torch.backends.cpu.get_cpu_capability() != "AVX512":
        return None
    # torch's cache key covers the sources and flags, not the headers they include: their hash
    # goes in as a flag, so a changed header rebuilds the kernels that include it
    headers = hashlib.sha256(b"".join(h.read_bytes() for h in sorted(source.parent.glob("*.h"))))
    flags = [*flags, f"-DOBLIVIATE_HEADERS={headers.hexdigest()[:16]}"]
    try:
        from torch.utils.cpp_extension import load

        # -fopenmp links libgomp.so.1: the one torch loaded (the same soname), so one thread pool
        return load(name=name, sources=[str(source)], extra_cflags=flags, extra_ldflags=["-fopenmp"])
    except Exception as err:  # a missing compiler or ninja: the slower exact path still works
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        log.warning("%s unavailable (%s); %s", name, first, fallback)
        return None


# Environment variables that steer which kernels torch's CPU ops run (oneDNN's ISA and math
# modes, ATen's vector capability, the thread pools): part of what a check found.
STEERING_PREFIXES = ("ONEDNN_", "DNNL_", "ATEN_", "OMP_", "KMP_", "MKL_", "TORCH_")
AGREEMENTS = "agreements.json"  # beside a compiled kernel: the checks it passed, by key


def _cpu() -> str:
    """The CPU's model and feature flags (Linux), else what `platform` says."""
    try:
        info = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        return platform.processor() or platform.machine()
    wanted = ("vendor_id", "cpu family", "model", "model name", "stepping", "microcode", "flags")
    return "\n".join(line for line in info.splitlines() if line.split(":")[0].strip() in wanted)


def _binary_digest(path: str) -> str:
    stat = Path(path).stat()
    return _digest(path, stat.st_size, stat.st_mtime_ns)


@functools.cache
def _digest(path: str, size: int, mtime_ns: int) -> str:  # once per process and build of the file
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _environment(extension) -> dict | None:
    """Everything a kernel's agreement with torch depends on besides the check's arguments: the
    compiled kernel's bytes, torch's build, the CPU, the thread count and the steering variables;
    None where `extension` is not a compiled module (tests stand in objects)."""
    if not isinstance(extension, types.ModuleType) or not getattr(extension, "__file__", None):
        return None
    return {
        "kernel": _binary_digest(extension.__file__),
        "torch": [torch.__version__, torch.version.git_version, torch.__config__.show()],
        "capability": torch.backends.cpu.get_cpu_capability(),
        "cpu": _cpu(),
        "threads": torch.get_num_threads(),
        "variables": sorted((k, v) for k, v in os.environ.items() if k.startswith(STEERING_PREFIXES)),
    }


def remembered(extension: Callable[[], object]):
    """Decorates a costly check that a kernel of `extension()` reproduces torch: the check runs once
    per process (as `functools.cache`) and, once it has passed, not again in later processes
    (~1.6 s of every `obliviate eval` process's first generation went to these checks). A pass is
    kept in `agreements.json` beside the compiled kernel, under a key of the check, its arguments
    and `_environment`: a rebuilt kernel, another torch, CPU, thread count or steering variable
    checks again. A failure is not kept: it is checked, and warned about, in every process.
    `extension` is called at each check, so a test's stand-in kernel is the one checked."""

    def decorate(check: Callable[..., bool]) -> Callable[..., bool]:
        name = f"{check.__module__}.{check.__qualname__}"

        @functools.cache
        def checked(*args) -> bool:
            ext = extension()
            environment = _environment(ext)
            if environment is None:
                return check(*args)
            store = Path(ext.__file__).with_name(AGREEMENTS)
            key = content_key({"check": name, "args": args, **environment})
            if key in _kept(store):
                return True
            passed = check(*args)
            if passed:
                _keep(store, key)
            return passed

        checked.__wrapped__ = check
        return checked

    return decorate


_agreements: dict[Path, set[str]] = {}  # each store's keys, read once per process


def _read_agreements(store: Path) -> set[str]:
    """The keys kept in `store`; none where it is missing or unreadable (then all checks run)."""
    try:
        keys = json.loads(store.read_text())
    except (OSError, ValueError):
        return set()
    return set(keys) if isinstance(keys, list) and all(isinstance(k, str) for k in keys) else set()


def _kept(store: Path) -> set[str]:
    if store not in _agreements:
        _agreements[store] = _read_agreements(store)
    return _agreements[store]


def _keep(store: Path, key: str) -> None:
    """Add `key` to `store`, merged with what other processes have added since it was read."""
    keys = _kept(store) | _read_agreements(store) | {key}
    _agreements[store] = keys
    try:
        write_json_atomic(store, sorted(keys))
    except OSError as err:  # a read-only build directory: checked again next process
        log.info("could not keep a kernel check in %s (%s)", store, err)


def wide_bf16(*shape: int, generator: torch.Generator, spread: int) -> torch.Tensor:
    """Random bf16 values over many magnitudes (normal times 2^-spread .. 2^(spread - 1)): sums that
    cancel and round differently in another order, for the kernels' checks against torch."""
    scale = 2.0 ** torch.randint(-spread, spread, shape, generator=generator)
    return (torch.randn(*shape, generator=generator) * scale).bfloat16()


@functools.cache
def _extension():
    """The compiled kernel module, or None (no AVX-512 kernels in torch, or no compiler)."""
    return build("obliviate_attention", SOURCE, FLAGS, "attending row by row")


def _split_halves(heads: int) -> bool:
    """Whether torch's kernel, for one row alone, runs its p.v product on two threads (it then
    splits the keys in halves): when its loop over heads has one item and torch has threads."""
    return heads == 1 and torch.get_num_threads() > 1


def flash_row(query, key, value, scaling):
    """Torch's kernel for one unpadded row: what the official one-prompt loop runs. query
    (1, H, Q, D), key / value (1, H_kv, n, D); returns (1, H, Q, D)."""
    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    if torch.is_autocast_enabled("cpu"):  # as SDPA under autocast: its inputs in the autocast dtype
        dtype = torch.get_autocast_dtype("cpu")
        query, key, value = query.to(dtype), key.to(dtype), value.to(dtype)
    return flash(query, key, value, 0.0, query.shape[2] > 1, scale=scaling)[0]


def row_alone(query, key, value, row: int, n: int, scaling):
    """`flash_row` of batch row `row` over its last `n` keys (a left-padded cache): (1, H, Q, D)."""
    keys = slice(key.shape[2] - n, None)
    return flash_row(
        query[row : row + 1], key[row : row + 1, :, keys], value[row : row + 1, :, keys], scaling
    )


@remembered(lambda: _extension())
def _agrees(heads: int, kv_heads: int, head_dim: int, scaling: float, split: bool) -> bool:
    """The kernel equals torch's, bitwise, on random rows of every length up to MAX_KEYS for this
    layout (~0.5 s once per layout)."""
    ext = _extension()
    generator = torch.Generator().manual_seed(0)
    # Every length the kernel takes: where torch's CPU kernel sums in other orders (AMX CPUs pack
    # keys with brgemm), a few lengths in a hundred differ, and a sample of lengths missed them.
    lengths = list(range(1, MAX_KEYS + 1))
    width = MAX_KEYS + 3  # each row's keys at the end, random values before them (left padding)
    query = torch.randn(len(lengths), heads, 1, head_dim, generator=generator).bfloat16()
    key = (2 * torch.randn(len(lengths), kv_heads, width, head_dim, generator=generator)).bfloat16()
    value = torch.randn(len(lengths), kv_heads, width, head_dim, generator=generator).bfloat16()
    out = ext.decode_attention(query, key, value, torch.tensor(lengths), scaling, split)
    for i, n in enumerate(lengths):
        if not torch.equal(out[i, 0], row_alone(query, key, value, i, n, scaling)[0, :, 0]):
            log.warning(
                "exact batched attention differs from torch's kernel (heads %d/%d, dim %d, %d keys); "
                "attending row by row",
                heads,
                kv_heads,
                head_dim,
                n,
            )
            return False
    return True


def reproduces_torch(heads: int, kv_heads: int, head_dim: int, scaling: float) -> bool:
    """Whether the batched kernel is built here and reproduces torch's kernel for this layout at
    the current thread count (else decoding attends row by row: the same numbers, slower)."""
    split = _split_halves(heads)
    return _extension() is not None and _agrees(heads, kv_heads, head_dim, float(scaling), split)


def decode_attention(query, key, value, row_lengths: list[int], scaling: float | None) -> torch.Tensor | None:
    """(B, 1, H, D): each row's one query attending to its last `row_lengths[i]` keys (0: zeros),
    equal to `flash_row` of that row (rows of more than MAX_KEYS keys are that); None where the
    kernel cannot give that (the caller attends row by row). query (B, H, 1, D), key / value
    (B, H_kv, T, D), bf16 on a CPU."""
    heads, kv_heads, head_dim = query.shape[1], key.shape[1], query.shape[-1]
    if (
        scaling is None
        or query.dtype != torch.bfloat16
        or key.stride(-1) != 1
        or value.stride(-1) != 1
        or query.device.type != "cpu"
        or head_dim % 16
        or head_dim > 256
        or heads % kv_heads
        or heads // kv_heads > MAX_GROUP
        or _extension() is None
    ):
        return None
    split = _split_halves(heads)
    if not _agrees(heads, kv_heads, head_dim, float(scaling), split):
        return None
    if query.stride(-1) != 1:
        query = query.contiguous()
    short = [0 if n > MAX_KEYS else n for n in row_lengths]  # longer rows: torch's kernel, below
    out = _extension().decode_attention(query, key, value, torch.tensor(short), scaling, split)
    for i, n in enumerate(row_lengths):
        if n > MAX_KEYS:
            out[i, 0] = row_alone(query, key, value, i, n, scaling)[0, :, 0]
    return out


MIN_PREFILL = 16  # shorter documents: torch's kernel (its own gemm for tiny matmuls; kMinPrefill in the .cpp)


@remembered(lambda: _extension())
def _prefill_agrees(heads: int, kv_heads: int, head_dim: int, scaling: float, threads: int, n: int) -> bool:
    """The packed prefill kernel equals torch's kernel, bitwise, on a random document of n tokens
    with this layout (once per length: the matmul paths and K blocks torch takes depend on it)."""
    generator = torch.Generator().manual_seed(n)
    query = wide_bf16(1, heads, n, head_dim, generator=generator, spread=3)
    key = wide_bf16(1, kv_heads, n, head_dim, generator=generator, spread=3)
    value = wide_bf16(1, kv_heads, n, head_dim, generator=generator, spread=3)
    out = _extension().prefill_attention(query, key, value, torch.tensor([n]), scaling)
    alone = flash_row(query, key, value, scaling).transpose(1, 2)
    if torch.equal(out.view(torch.int16), alone.view(torch.int16)):
        return True
    log.warning(
        "exact packed attention differs from torch's kernel (heads %d/%d, dim %d, %d tokens); "
        "attending document by document",
        heads,
        kv_heads,
        head_dim,
        n,
    )
    return False


def prefill_attention(query, key, value, lengths: list[int], scaling: float | None) -> torch.Tensor | None:
    """(1, T, H, D): packed documents of these token counts, each attending causally to itself,
    equal to `flash_row` of each document alone; None where the kernel cannot give that (the caller
    attends document by document). query (1, H, T, D), key / value (1, H_kv, T, D), bf16 on a CPU.
    Documents outside MIN_PREFILL..MAX_KEYS tokens, or of a length the kernel does not reproduce
    here, go through `flash_row`."""
    heads, kv_heads, head_dim = query.shape[1], key.shape[1], query.shape[-1]
    if (
        scaling is None
        or query.dtype != torch.bfloat16
        or key.dtype != torch.bfloat16
        or value.dtype != torch.bfloat16
        or query.device.type != "cpu"
        or query.shape[0] != 1
        or query.stride(-1) != 1
        or key.stride(-1) != 1
        or value.stride(-1) != 1
        or head_dim % 64
        or head_dim > 256
        or heads % kv_heads
        or (torch.is_grad_enabled() and (query.requires_grad or key.requires_grad or value.requires_grad))
        or _extension() is None
    ):  # gradients (packed training) go through torch's kernel, which has a backward pass
        return None
    layout = (heads, kv_heads, head_dim, float(scaling), torch.get_num_threads())
    out = _extension().prefill_attention(query, key, value, torch.tensor(lengths), scaling)
    start = 0
    for n in lengths:
        if not (MIN_PREFILL <= n <= MAX_KEYS and _prefill_agrees(*layout, n)):
            span = slice(start, start + n)
            row = flash_row(query[:, :, span], key[:, :, span], value[:, :, span], scaling)
            out[0, span] = row[0].transpose(0, 1)
        start += n
    return out
