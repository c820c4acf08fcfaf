"""Where models run: one helper picks the device and places every model the toolkit loads.

    device = pick_device("auto")          # CUDA when present, else the CPU
    model = place(model, device)

Training goes through accelerate, which picks the same device (`engine.train` moves the model);
models the toolkit holds beside a trained one (the frozen reference of an unlearning method, the
evaluated model) are placed here, so they meet the trained one on the same device.
"""

from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def pick_device(requested: str = "auto") -> torch.device:
    """`auto`: the first CUDA device if one is present, else the CPU. `cpu`, `cuda`, `cuda:N` or
    `mps` ask for that device and fail in one line where it is missing."""
    name = requested.strip().lower()
    kind = name.split(":", 1)[0]
    if kind not in DEVICES:
        raise ValueError(f"device {requested!r}: expected one of auto, cpu, cuda, cuda:N, mps")
    if kind == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r}: no CUDA device is available here (use auto or cpu)")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {requested!r}: no MPS device is available here (use auto or cpu)")
    return torch.device(name)


def native_bf16() -> bool:
    """Whether this machine computes in bf16 natively: a CUDA GPU that supports it, or a CPU with
    AVX512-BF16 or AMX (oneDNN's own check). Elsewhere bf16 is emulated and much slower than fp32
    (an AVX2 EPYC: a 1024x576 @ 576x1536 matmul takes 130 ms in bf16, 15 ms in fp32)."""
    if torch.cuda.is_available():  # not the emulation torch counts in by default (pre-Ampere GPUs)
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter (the CPU for a model without parameters)."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def place(model: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
    """`model` on `device` (a no-op where it is there already)."""
    device = torch.device(device) if isinstance(device, str) else device
    return model if model_device(model) == device else model.to(device)
