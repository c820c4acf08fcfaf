"""Weight quantization attacks: round an unlearned model's weights and see what it remembers again.

Zhang et al., "Catastrophic failure of LLM unlearning via quantization" (arXiv 2410.16454, ICLR'25):
unlearning with a utility constraint moves the weights so little that 4-bit quantization maps the
unlearned and the target model onto the same grid points, and the forgotten knowledge comes back
(21% kept at full precision, 83% after 4-bit, their abstract).

Every attack here is a *fake quantization*: a weight is quantized and immediately dequantized, and
the model keeps running in floating point with the rounded values. The evaluation therefore needs no
quantized kernels, and any scheme gives the same kind of model.

Schemes (`QuantSpec.scheme`):

- `rtn`: symmetric round-to-nearest integers in groups along the input dimension (the paper's "RTN"
  baseline; the group size is ours, 128, the common GPTQ/AWQ choice).
- `gguf`: llama.cpp's block formats through the `gguf` package's own Python reference code. Only the
  legacy formats Q8_0, Q5_1, Q5_0, Q4_1 and Q4_0 are offered: gguf 0.19's Python code quantizes those
  (and BF16, TQ1_0, TQ2_0, MXFP4) but only *dequantizes* the K-quants (Q4_K ...).
- `bnb`: bitsandbytes as the paper's released code loads the model (`eval.py --quantize_4bit` is
  `BitsAndBytesConfig(load_in_4bit=True)`: FP4, blocks of 64, no double quantization; `--quantize_8bit`
  is LLM.int8). NF4/FP4 take the codes bitsandbytes' `quantize_4bit` computes, byte for byte, found
  faster (`_bnb_4bit`), then its own `dequantize_4bit`. For int8
  only the weight side is reproduced (row-wise absmax int8, what `Int8Params` stores as `CB`, `SCB`);
  LLM.int8's int8 activations and its fp16 path for activation outliers (|x| > 6) are not, since
  they depend on the input rather than the weights.

What is quantized follows `transformers`' bitsandbytes integration: every `nn.Linear` weight except the
output embedding (`lm_head`); biases, norms and the input embedding stay as they are unless the spec
asks for embeddings (`include_embeddings`) or norms (`include_norms`).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import model_validator

from obliviate.config_base import StrictModel

Scheme = Literal["rtn", "gguf", "bnb"]

# llama.cpp formats whose quantizer exists in the gguf package's Python code and whose blocks start
# with the fp16 scale `d` (which `quant_step` reads). The K-quants have Python dequantizers only.
GGUF_FORMATS = ("Q8_0", "Q5_1", "Q5_0", "Q4_1", "Q4_0")
BNB_FORMATS = ("nf4", "fp4", "int8")
BNB_4BIT_BLOCKSIZE = 64  # bitsandbytes' Params4bit default, used by BitsAndBytesConfig(load_in_4bit=True)
INT8_LEVELS = 127  # LLM.int8 maps each row's absmax to ±127


# --- argument checks, shared by the specs and the functions ------------------------------------------


def _check_rtn_args(bits: int, group_size: int | None) -> None:
    if not 2 <= bits <= 8:
        raise ValueError(f"rtn bits must be between 2 and 8, got {bits}")
    if group_size is not None and group_size < 1:
        raise ValueError(f"group_size must be positive or None (per output row), got {group_size}")


def _check_gguf_format(fmt: str | None) -> None:
    """A clear error for a format that is unknown, or known but without a Python quantizer."""
    if fmt in GGUF_FORMATS:
        return
    from gguf import GGMLQuantizationType

    if fmt in GGMLQuantizationType.__members__:
        raise ValueError(
            f"gguf format {fmt} has no quantizer in the gguf package's Python code (it can only dequantize "
            f"it; llama.cpp's C quantize tool would be needed); choose one of {GGUF_FORMATS}"
        )
    raise ValueError(f"unknown gguf format {fmt!r}; choose one of {GGUF_FORMATS}")


def _check_bnb_format(fmt: str) -> None:
    if fmt not in BNB_FORMATS:
        raise ValueError(f"bnb format must be one of {BNB_FORMATS}, got {fmt!r}")


class QuantSpec(StrictModel):
    """One quantization attack: a scheme and its few settings; what is quantized in the model."""

    scheme: Scheme
    bits: int | None = None  # rtn only: 2..8
    group_size: int | None = 128  # rtn only: elements per group along the input dim; None = per output row
    format: str | None = None  # gguf: one of GGUF_FORMATS; bnb: one of BNB_FORMATS
    include_embeddings: bool = False  # also the input embedding and an untied lm_head
    include_norms: bool = False  # also 1-D norm weights (rtn: one group per tensor; gguf: its blocks)

    @model_validator(mode="before")
    @classmethod
    def _no_default_groups_outside_rtn(cls, data):
        """gguf and bnb blocks are fixed by the format, so their group_size defaults to None, not 128."""
        if isinstance(data, dict) and data.get("scheme") != "rtn" and "group_size" not in data:
            data = {**data, "group_size": None}
        return data

    @model_validator(mode="after")
    def _check(self) -> QuantSpec:
        """Reject settings that the scheme would silently ignore, so a typo cannot pass as an attack."""
        if self.scheme == "rtn":
            if self.bits is None:
                raise ValueError("rtn needs bits (2..8)")
            if self.format is not None:
                raise ValueError(f"rtn takes no format (got {self.format!r}); set bits and group_size")
            _check_rtn_args(self.bits, self.group_size)
            return self
        if self.bits is not None:
            raise ValueError(f"{self.scheme} takes no bits (got {self.bits}); the format fixes them")
        if self.group_size is not None:
            raise ValueError(
                f"{self.scheme} takes no group_size (got {self.group_size}); the format fixes its blocks"
            )
        if self.scheme == "gguf":
            _check_gguf_format(self.format)
        else:
            _check_bnb_format(self.format)
            if self.include_norms:
                raise ValueError("bnb never quantizes norms (transformers keeps them in float)")
        return self

    def key(self) -> dict:
        """The settings that change the quantized weights, as a JSON-able dict for cache keys."""
        if self.scheme == "rtn":
            settings = {"bits": self.bits, "group_size": self.group_size}
        else:
            settings = {"format": self.format}
        return {
            "scheme": self.scheme,
            **settings,
            "include_embeddings": self.include_embeddings,
            "include_norms": self.include_norms,
        }

    def describe(self) -> str:
        """One line for tables and logs, e.g. 'RTN int4, symmetric, groups of 128'."""
        if self.scheme == "rtn":
            groups = "per output channel" if self.group_size is None else f"groups of {self.group_size}"
            text = f"RTN int{self.bits}, symmetric, {groups}"
        elif self.scheme == "gguf":
            text = f"GGUF {self.format} (llama.cpp blocks of 32)"
        elif self.format == "int8":
            text = "bitsandbytes LLM.int8 weights (row-wise absmax int8)"
        else:
            text = f"bitsandbytes {self.format.upper()}, blocks of {BNB_4BIT_BLOCKSIZE}"
        if self.include_embeddings:
            text += ", +embeddings"
        if self.include_norms:
            text += ", +norms"
        return text


QUANT_ATTACKS: dict[str, QuantSpec] = {
    "quant8": QuantSpec(scheme="rtn", bits=8, group_size=128),
    "quant4": QuantSpec(scheme="rtn", bits=4, group_size=128),
    "q8_0": QuantSpec(scheme="gguf", format="Q8_0"),
    "q4_0": QuantSpec(scheme="gguf", format="Q4_0"),
    "nf4": QuantSpec(scheme="bnb", format="nf4"),
    "fp4": QuantSpec(scheme="bnb", format="fp4"),  # the paper's --quantize_4bit
    "int8": QuantSpec(scheme="bnb", format="int8"),  # the paper's --quantize_8bit (weight side)
}


# --- rtn ---------------------------------------------------------------------------------------------


def _grouped(weight: torch.Tensor, group_size: int | None) -> torch.Tensor:
    """float32 view (..., n_groups, group_size) of the last dim; a short last group is zero-padded.

    Zero padding leaves each group's max|w| unchanged, so a last dimension that `group_size` does
    not divide simply ends in a shorter group (SmolLM2-135M's hidden size 576 = 4·128 + 64).
    """
    n = weight.shape[-1]
    size = n if group_size is None else group_size
    padded = torch.nn.functional.pad(weight.detach().float(), (0, (-n) % size))
    return padded.reshape(*weight.shape[:-1], -1, size)


def _ungrouped(groups: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Undo `_grouped`: drop the padding, restore `like`'s shape and dtype."""
    flat = groups.reshape(*like.shape[:-1], -1)[..., : like.shape[-1]]
    return flat.to(like.dtype)


def _rtn_scales(groups: torch.Tensor, bits: int) -> torch.Tensor:
    """Each group's step, max|w| / qmax with qmax = 2**(bits-1) - 1, shaped (..., n_groups, 1)."""
    qmax = 2 ** (bits - 1) - 1
    return groups.abs().amax(dim=-1, keepdim=True) / qmax


def rtn_quantize(weight: torch.Tensor, bits: int, group_size: int | None) -> torch.Tensor:
    """Symmetric round-to-nearest fake quantization in groups along the last (input) dimension.

    scale = max|w| / qmax per group, q = clamp(round(w / scale), -qmax, qmax), result q·scale, with
    qmax = 2**(bits-1) - 1 (the grid is symmetric, so -2**(bits-1) is never used). `torch.round`
    rounds ties to even. Computed in float32, returned in the weight's dtype and shape. An all-zero
    group stays zero; a last group shorter than `group_size` gets its own scale. Applying it twice
    gives the same float32 tensor (fl(fl(7s)/7) = s), so a second pass is a no-op.
    """
    _check_rtn_args(bits, group_size)
    qmax = 2 ** (bits - 1) - 1
    groups = _grouped(weight, group_size)
    scales = _rtn_scales(groups, bits)
    safe_scales = torch.where(scales > 0, scales, torch.ones_like(scales))  # all-zero group: q = 0
    q = torch.clamp(torch.round(groups / safe_scales), -qmax, qmax)
    return _ungrouped(q * scales, weight)


def _rtn_group_size(weight: torch.Tensor, spec: QuantSpec) -> int | None:
    """1-D tensors (norm scales) are one group each; matrices use the spec's groups."""
    return None if weight.ndim == 1 else spec.group_size


# --- gguf --------------------------------------------------------------------------------------------


def _gguf_blocks(weight: torch.Tensor, fmt: str):
    """Quantize with gguf's Python reference code: (type, uint8 array of shape (..., bytes per row))."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, quants

    _check_gguf_format(fmt)
    qtype = GGMLQuantizationType[fmt]
    block_size, _ = GGML_QUANT_SIZES[qtype]
    if weight.ndim == 0 or weight.shape[-1] % block_size:
        raise ValueError(
            f"gguf {fmt} needs a last dimension divisible by its block size {block_size}, "
            f"got shape {tuple(weight.shape)}"
        )
    data = weight.detach().to("cpu", torch.float32).numpy()
    return qtype, quants.quantize(data, qtype)


def gguf_quantize(weight: torch.Tensor, fmt: str) -> torch.Tensor:
    """llama.cpp block quantization (`fmt` in GGUF_FORMATS) and back, via `gguf.quants`.

    Blocks are 32 consecutive elements of the last dimension, each with an fp16 scale d (Q8_0:
    d = max|x|/127, q = round(x/d) with ties away from zero; Q4_0: d = x_m/-8 where x_m is the element
    of largest |x| with its sign, q = min(15, trunc(x/d + 8.5)), value (q-8)·d). The last dimension
    must be a multiple of 32 (llama.cpp's own rule).
    """
    from gguf import quants

    qtype, blocks = _gguf_blocks(weight, fmt)
    values = torch.from_numpy(quants.dequantize(blocks, qtype).copy())
    return values.reshape(weight.shape).to(weight.device, weight.dtype)


def _gguf_steps(weight: torch.Tensor, fmt: str) -> torch.Tensor:
    """|d| of each element's block, the spacing of its grid; d is a legacy block's first 2 bytes."""
    from gguf import GGML_QUANT_SIZES

    qtype, blocks = _gguf_blocks(weight, fmt)
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    per_block = blocks.reshape(-1, type_size)[:, :2].copy().view("float16").astype("float32")  # (n_blocks, 1)
    steps = torch.from_numpy(abs(per_block)).expand(-1, block_size)
    return steps.reshape(weight.shape).to(weight.device)


# --- bitsandbytes ------------------------------------------------------------------------------------


def _bnb_4bit(weight: torch.Tensor, fmt: str):
    """bitsandbytes' 4-bit quantization as its `quantize_4bit` computes it on a CPU, byte for byte:
    (packed codes, QuantState with one absmax per 64 elements).

    Blocks run over the *flattened* tensor, so a block may span two rows when the row length is not a
    multiple of 64, as in bitsandbytes itself. Each block is scaled by 1/absmax, clamped to [-1, 1],
    and takes the code whose cell (between the midpoints of the sorted code table) holds the value.
    bitsandbytes 0.50's CPU op finds the cell with `torch.bucketize`, a binary search per element; the
    cell's index is also the number of midpoints below the value, which 15 vectorized comparisons
    count: 1.25 s against 2.77 s for SmolLM2-135M's 210 linears (one thread, `perf/quantize_cost.py`),
    with the same codes (tests/attacks/test_quantize.py compares the bytes with bitsandbytes').
    """
    import bitsandbytes.functional as bnbf

    dtype = weight.dtype if weight.dtype in (torch.float16, torch.bfloat16) else torch.float32
    code = bnbf.get_4bit_type(fmt, device=weight.device)
    order = torch.argsort(code)
    midpoints = ((code[order[:-1]] + code[order[1:]]) / 2).tolist()
    flat = weight.detach().to(dtype).reshape(-1).float()
    n = flat.numel()
    full = n - n % BNB_4BIT_BLOCKSIZE
    blocks = flat[:full].reshape(-1, BNB_4BIT_BLOCKSIZE)
    absmax = blocks.abs().max(dim=-1)[0]
    scaled = torch.clamp(blocks * (1.0 / absmax.clamp(min=1e-38).view(-1, 1)), -1, 1).reshape(-1)
    if full < n:  # the last, shorter block divides where the others multiply by the inverse
        last = flat[full:].abs().max().clamp(min=1e-38)
        absmax = torch.cat([absmax, last.unsqueeze(0)])
        scaled = torch.cat([scaled, torch.clamp(flat[full:] / last, -1, 1)])
    if scaled.numel() % 2:
        scaled = torch.nn.functional.pad(scaled, (0, 1))
    cell = torch.zeros(scaled.shape, dtype=torch.uint8, device=scaled.device)
    for bound in midpoints:
        cell += scaled > bound
    codes = order.to(torch.uint8)[cell.long()] if fmt != "nf4" else cell  # NF4's table is sorted
    packed = ((codes[::2] << 4) | codes[1::2]).unsqueeze(1)
    state = bnbf.QuantState(
        absmax=absmax,
        shape=weight.shape,
        dtype=dtype,
        blocksize=BNB_4BIT_BLOCKSIZE,
        code=code,
        quant_type=fmt,
    )
    return packed, state


def _int8_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LLM.int8's weight quantization: (q as float32 ints in [-127, 127], row absmax as (rows, 1)).

    Mirrors `Int8Params._quantize` (weight cast to fp16) and `int8_vectorwise_quant` (q = round(w·127/absmax),
    ties to even), with one change: an all-zero row gives q = 0 where bitsandbytes computes 0·inf.
    """
    rows = weight.detach().to(torch.float16).float().reshape(-1, weight.shape[-1])
    absmax = rows.abs().amax(dim=-1, keepdim=True)
    inverse = torch.where(absmax > 0, INT8_LEVELS / absmax, torch.zeros_like(absmax))
    return torch.round(rows * inverse), absmax


def bnb_quantize(weight: torch.Tensor, fmt: str) -> torch.Tensor:
    """bitsandbytes fake quantization, as `BitsAndBytesConfig(load_in_4bit | load_in_8bit=True)` stores it.

    nf4/fp4: `quantize_4bit`'s codes (`_bnb_4bit`) then `dequantize_4bit` (blocks of 64 over the
    flattened tensor, absmax scale, nearest code of the 16-value table). int8: q·absmax/127 per row,
    as `int8_vectorwise_dequant` computes it (the weight side of LLM.int8 only).
    """
    _check_bnb_format(fmt)
    if fmt == "int8":
        q, absmax = _int8_rows(weight)
        values = q * absmax * (1.0 / INT8_LEVELS)
        return values.reshape(weight.shape).to(weight.dtype)
    import bitsandbytes.functional as bnbf

    packed, state = _bnb_4bit(weight, fmt)
    return bnbf.dequantize_4bit(packed, state).reshape(weight.shape).to(weight.dtype)


def _code_cell_widths(code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The sorted distinct code values and the spacing around each: (c[i+1] - c[i-1]) / 2.

    The end codes take their one neighbouring gap. On a uniform grid every width is the grid step,
    so the bnb steps compare with rtn's scale and gguf's d.
    """
    values = torch.unique(code.float().cpu())  # sorted; FP4's +0 and -0 are one value
    gaps = values[1:] - values[:-1]
    widths = torch.empty_like(values)
    widths[1:-1] = (gaps[1:] + gaps[:-1]) / 2
    widths[0], widths[-1] = gaps[0], gaps[-1]
    return values, widths


def _bnb_steps(weight: torch.Tensor, fmt: str) -> torch.Tensor:
    """int8: the row's absmax/127. nf4/fp4: block absmax times the code spacing where the element lands."""
    _check_bnb_format(fmt)
    if fmt == "int8":
        _, absmax = _int8_rows(weight)
        return (absmax / INT8_LEVELS).expand(-1, weight.shape[-1]).reshape(weight.shape)
    import bitsandbytes.functional as bnbf

    packed, state = _bnb_4bit(weight, fmt)
    n = weight.numel()
    absmax = state.absmax.float().repeat_interleave(BNB_4BIT_BLOCKSIZE)[:n]
    codes = bnbf.dequantize_4bit(packed, state).float().reshape(-1) / torch.where(absmax > 0, absmax, 1.0)
    values, widths = _code_cell_widths(state.code)
    values, widths = values.to(codes.device), widths.to(codes.device)
    nearest = torch.bucketize(codes, (values[1:] + values[:-1]) / 2)  # index of the code each element took
    return (widths[nearest] * absmax).reshape(weight.shape)


# --- one tensor, one model ---------------------------------------------------------------------------


def quantize_tensor(weight: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    """The fake-quantized value of one tensor under `spec` (same shape, dtype and device)."""
    if spec.scheme == "rtn":
        return rtn_quantize(weight, spec.bits, _rtn_group_size(weight, spec))
    if spec.scheme == "gguf":
        return gguf_quantize(weight, spec.format)
    return bnb_quantize(weight, spec.format)


def quant_step(weight: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    """Per-element spacing of the rounding grid around each weight (float32, the weight's shape).

    rtn: the group's scale; gguf: the block's |d|; bnb int8: row absmax/127; bnb nf4/fp4: block absmax
    times the spacing of the (non-uniform) code table at the code the element rounds to. Zero where
    a group is all zero. An unlearning update ΔW with ||ΔW|| / ||step|| well below 1 mostly moves
    weights within their rounding cells, which is the paper's explanation of the attack.
    """
    if spec.scheme == "rtn":
        groups = _grouped(weight, _rtn_group_size(weight, spec))
        steps = _rtn_scales(groups, spec.bits).expand_as(groups)
        return _ungrouped(steps, weight.float())
    if spec.scheme == "gguf":
        return _gguf_steps(weight, spec.format)
    return _bnb_steps(weight, spec.format)


def _embedding_weights(model: torch.nn.Module) -> set[int]:
    """ids of the input and output embedding weights (one id when they are tied)."""
    ids = set()
    for getter in ("get_input_embeddings", "get_output_embeddings"):
        module = getattr(model, getter, lambda: None)()
        if module is not None and getattr(module, "weight", None) is not None:
            ids.add(id(module.weight))
    return ids


def _quantized_params(model: torch.nn.Module, spec: QuantSpec) -> list[tuple[str, torch.nn.Parameter]]:
    """(name, parameter) pairs `spec` quantizes, each shared parameter once, in `named_parameters` order.

    Linear weights always; embedding weights (input, and lm_head whether tied or not) only with
    `include_embeddings`; with `include_norms`, the 1-D `weight` of any other module (a norm's scale).
    """
    embeddings = _embedding_weights(model)
    chosen: set[int] = set()
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.nn.Parameter):
            continue
        if id(weight) in embeddings:
            take = spec.include_embeddings
        elif isinstance(module, torch.nn.Linear):
            take = True
        else:
            take = spec.include_norms and weight.ndim == 1
        if take:
            chosen.add(id(weight))
    return [(name, param) for name, param in model.named_parameters() if id(param) in chosen]


def quantized_names(model: torch.nn.Module, spec: QuantSpec) -> list[str]:
    """The parameter names `quantize_model` changes (tied weights under their first name)."""
    return [name for name, _ in _quantized_params(model, spec)]


@torch.no_grad()
def quantize_model(model: torch.nn.Module, spec: QuantSpec) -> dict:
    """Replace every weight `quantized_names` lists by its fake-quantized value (the parameters stay,
    their tensors are new).

    Returns {"tensors", "parameters", "relative_error"} with relative_error = ||Wq - W|| / ||W|| over
    all quantized weights together.
    """
    error_sq = norm_sq = 0.0
    params = _quantized_params(model, spec)
    for name, param in params:
        try:
            quantized = quantize_tensor(param, spec)
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from e
        error_sq += (quantized.float() - param.float()).norm().item() ** 2
        norm_sq += param.float().norm().item() ** 2
        # the new tensor in place of the old: a loaded weight is a copy-on-write map of its file, and
        # writing into it faults every page in (~0.4 s a 135M model, per attack)
        param.data = quantized.contiguous()
    return {
        "tensors": len(params),
        "parameters": sum(p.numel() for _, p in params),
        "relative_error": math.sqrt(error_sq / norm_sq) if norm_sq > 0 else 0.0,
    }
