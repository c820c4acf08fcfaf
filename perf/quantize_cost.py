"""What a quantization attack costs before its evaluation: loading the row's fp32 weights and
fake-quantizing them, per scheme, on one thread (as an attack worker runs it).

For each attack in `attacks.quantize.QUANT_ATTACKS` (default: the bench's quant4, q4_0, nf4, quant8)
the median seconds of `load_model` and of `quantize_model`; for the bitsandbytes 4-bit formats
also bitsandbytes' own `quantize_4bit` over the same weights, and whether our codes and scales equal
its bytes for every quantized tensor.

    python perf/quantize_cost.py MODEL_DIR                 # e.g. a bench's target/model
    python perf/quantize_cost.py MODEL_DIR --attacks nf4,fp4 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from obliviate.attacks.quantize import (  # noqa: E402
    BNB_4BIT_BLOCKSIZE,
    QUANT_ATTACKS,
    _bnb_4bit,
    _quantized_params,
    quantize_model,
)
from obliviate.models import load_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--attacks", default="quant4,q4_0,nf4,quant8")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'attack':<8}{'load s':>9}{'quantize s':>12}   (medians of {args.repeats}, one thread)")
    for name in args.attacks.split(","):
        spec = QUANT_ATTACKS[name]
        loads, quantizes = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model, _ = load_model(args.model_dir)
            loaded = time.perf_counter()
            quantize_model(model, spec)
            loads.append(loaded - start)
            quantizes.append(time.perf_counter() - loaded)
        print(f"{name:<8}{statistics.median(loads):>9.2f}{statistics.median(quantizes):>12.2f}")
        if spec.scheme == "bnb" and spec.format in ("nf4", "fp4"):
            compare_with_bitsandbytes(args.model_dir, spec, args.repeats)


def compare_with_bitsandbytes(model_dir: Path, spec, repeats: int) -> None:
    """Our 4-bit codes against bitsandbytes' `quantize_4bit` on every tensor the attack quantizes."""
    import bitsandbytes.functional as bnbf

    model, _ = load_model(model_dir)
    weights = [p.detach() for _, p in _quantized_params(model, spec)]
    ours, theirs, same = [], [], True
    for _ in range(repeats):
        start = time.perf_counter()
        mine = [_bnb_4bit(w, spec.format) for w in weights]
        middle = time.perf_counter()
        reference = [
            bnbf.quantize_4bit(
                w, blocksize=BNB_4BIT_BLOCKSIZE, compress_statistics=False, quant_type=spec.format
            )
            for w in weights
        ]
        ours.append(middle - start)
        theirs.append(time.perf_counter() - middle)
        same &= all(
            torch.equal(a, b) and torch.equal(sa.absmax, sb.absmax)
            for (a, sa), (b, sb) in zip(mine, reference, strict=True)
        )
    print(
        f"  {spec.format} codes of {len(weights)} tensors: ours {statistics.median(ours):.2f} s, "
        f"bitsandbytes' quantize_4bit {statistics.median(theirs):.2f} s; identical bytes: {same}"
    )


if __name__ == "__main__":
    main()
