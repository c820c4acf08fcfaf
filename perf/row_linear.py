"""One-token rows' linears: `eval/exact_linear`'s kernel against torch's one-row numerics.

For each weight shape of SmolLM2-135M (the MLP's 1536 x 576 and the output layer's 49152 x 576 by
default) and each batch of one-token rows, the time of one product with the weight out of cache
(enough weights cycled to exceed the last-level cache), for torch's column-major matmul (which takes
its one-row kernel for every row: what the engine ran before) and for the kernel; the weight bytes
read per second; and whether every output equals torch's one-row `F.linear`, bit for bit.

    python perf/row_linear.py                       # 1 and 2 threads, rows 1 to 96
    python perf/row_linear.py --threads 1 --rows 1,8,40
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from obliviate.eval import exact_linear  # noqa: E402

CACHE_BYTES = 256 * 2**20  # cycle this many bytes of weights, so each product reads from memory


def timed(product, weights, repeats: int) -> float:
    """Median seconds of one product over `repeats` passes through every weight."""
    product(0)
    passes = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(len(weights)):
            product(i)
        passes.append((time.perf_counter() - start) / len(weights))
    return statistics.median(passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="1536x576,49152x576", help="N x K of each weight")
    parser.add_argument("--rows", default="1,4,8,16,40,96")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if exact_linear._extension() is None:
        raise SystemExit("the kernel is not available here (no AVX512-BF16 or no C++ compiler)")
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for shape in args.shapes.split(","):
            n, k = (int(v) for v in shape.split("x"))
            count = max(2, CACHE_BYTES // (n * k * 2))
            weights = [torch.randn(n, k).bfloat16() for _ in range(count)]
            if not exact_linear.reproduces_torch(weights[0]):
                print(f"{n} x {k}: torch's one-row kernel sums in another order here; skipped")
                continue
            packed = [exact_linear.pack(w) for w in weights]
            for rows in (int(r) for r in args.rows.split(",")):
                x = (torch.randn(rows, k) * torch.randn(rows, k).mul(2).exp()).bfloat16()
                columns = x.t().contiguous().t()
                torch_s = timed(lambda i, c=columns, w=weights: c @ w[i].t(), weights, args.repeats)
                kernel_s = timed(
                    lambda i, x=x, p=packed: exact_linear.row_linear(x, p[i]), weights, args.repeats
                )
                alone = torch.cat([F.linear(x[r : r + 1], weights[0]) for r in range(rows)])
                same = torch.equal(exact_linear.row_linear(x, packed[0]), alone)
                gbps = n * k * 2 / 1e9
                print(
                    f"{threads} thread(s) {n:>5} x {k} rows {rows:>3}: torch {torch_s * 1e6:7.0f} µs "
                    f"({gbps / torch_s:5.1f} GB/s), kernel {kernel_s * 1e6:7.0f} µs "
                    f"({gbps / kernel_s:5.1f} GB/s): {torch_s / kernel_s:4.2f}x; identical to one row "
                    f"alone: {same}"
                )


if __name__ == "__main__":
    main()
