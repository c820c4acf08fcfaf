"""The likelihood pass against the FLOP floor of this machine.

The pass is `eval/passes.token_statistics`: one forward pass per document, giving every MIA attack's
per-token log p and the Min-K%++ moments. Its documents are a split's MIA members and non-members:
LUME's with `--data ../shared/data/lume --split validation` (68 documents, 17.7k tokens), or else the
synthetic benchmark's.

What it prints:
- the pass's median wall over `--repeats` runs (each listed), tokens/s, and the peak RSS above the
  loaded model;
- the FLOP floor: the forward's matmul FLOPs (2 x every linear weight, the output layer included,
  per token, plus attention's 4 x layers x width x context) at this machine's matmul throughput in
  the pass's dtype (a 2048 x 576 x 1536 matmul timed here, the shape of SmolLM2's MLP), and the
  fraction of the floor the pass reaches;
- the official loop's way, each document in its own forward pass (`one_at_a_time` below), timed
  the same way, and whether the pass's values are identical to it, bit for bit.

    python perf/likelihood_pass.py --data ../shared/data/lume --split validation --dtype bf16
    python perf/likelihood_pass.py --model-dir runs/unlearn/<run>/model --dtype fp32 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from obliviate.eval.fused_moments import logp_moments  # noqa: E402
from obliviate.eval.passes import token_statistics  # noqa: E402
from obliviate.models import load_base, load_model  # noqa: E402
from obliviate.numerics import label_logps, log_probs, shift_labels, shift_logits  # noqa: E402
from obliviate.peak_memory import PeakMemory, current_rss_mb  # noqa: E402
from obliviate.presets import load_run_benchmark, resolve_config  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@torch.inference_mode()
def one_at_a_time(model, tokenizer, texts) -> list[tuple[np.ndarray, ...]]:
    """The official loop's way: each document in its own forward pass, its fp32 log-probs at once
    (the moments as the pass defines them, `fused_moments`)."""
    out = []
    for text in texts:
        ids = torch.tensor([tokenizer(text).input_ids])
        log_p = log_probs(shift_logits(model(input_ids=ids).logits))[0]
        mu, sigma = logp_moments(log_p)
        out.append((label_logps(log_p, shift_labels(ids)[0][0]).numpy(), mu.numpy(), sigma.numpy()))
    return out


def matmul_gflops(dtype: torch.dtype, rounds: int = 7, repeats: int = 10) -> float:
    """This machine's throughput on a matmul of the pass's dtype and SmolLM2's MLP shape: the best
    of a few rounds (this machine is shared, and a single round can read 25% low)."""
    a, b = torch.randn(2048, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * 2048 * 576 * 1536 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def forward_flops(model, lengths: list[int]) -> float:
    """Matmul FLOPs of one forward over documents of these token counts (causal attention: each
    token attends to its prefix, on average (n+1)/2 keys, through QK^T and AV)."""
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    config = model.config
    width = config.num_attention_heads * getattr(
        config, "head_dim", config.hidden_size // config.num_attention_heads
    )
    attention = sum(4 * config.num_hidden_layers * width * n * (n + 1) / 2 for n in lengths)
    return 2 * linear * sum(lengths) + attention


def timed(run, repeats: int) -> tuple[list[float], float, object]:
    """(seconds of each run, peak RSS MB above the start, the last result)."""
    seconds, result, start_rss = [], None, current_rss_mb()
    with PeakMemory() as peak:
        for _ in range(repeats):
            start = time.perf_counter()
            result = run()
            seconds.append(time.perf_counter() - start)
    return seconds, peak.rss_mb - start_rss, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="LUME directory (default: the synthetic benchmark)")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--model-dir", type=Path, help="default: the base SmolLM2-135M-Instruct")
    parser.add_argument("--dtype", choices=DTYPES, default="bf16")
    parser.add_argument(
        "--batch-size", type=int, default=8, help="documents per forward (eval.mia_batch_size)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-one-at-a-time", action="store_true", help="time only the pass")
    args = parser.parse_args()

    options = {"data": args.data} if args.data else {}
    cfg = resolve_config("default", [f"split={args.split}"], **options)
    split = load_run_benchmark(cfg).split(args.split)
    texts = [d.text for d in (*split.member, *split.nonmember)]
    dtype = DTYPES[args.dtype]
    if args.model_dir:
        model, tokenizer = load_model(args.model_dir, dtype=dtype)
    else:
        model, tokenizer, _ = load_base(cfg.model, cfg.cache_dir)
        model = model.to(dtype)
    model.eval()
    lengths = [len(tokenizer(t).input_ids) for t in texts]
    flops = forward_flops(model, lengths)
    gflops = matmul_gflops(dtype)
    floor = flops / (gflops * 1e9)
    print(
        f"{len(texts)} documents, {sum(lengths)} tokens (longest {max(lengths)}); {args.dtype}, "
        f"batch {args.batch_size}, {torch.get_num_threads()} threads"
    )
    print(
        f"forward: {flops / 1e12:.2f} TFLOP; matmul throughput here {gflops:.0f} GFLOP/s: floor {floor:.1f} s"
    )

    token_statistics(model, tokenizer, texts[:2], args.batch_size)  # warm-up, untimed
    runs = {"pass": lambda: token_statistics(model, tokenizer, texts, args.batch_size)}
    if not args.skip_one_at_a_time:
        runs["one at a time"] = lambda: one_at_a_time(model, tokenizer, texts)
    results = {}
    for name, run in runs.items():
        seconds, peak_mb, results[name] = timed(run, args.repeats)
        median = statistics.median(seconds)
        print(
            f"{name:<22} median {median:6.1f} s ({', '.join(f'{s:.1f}' for s in seconds)}); "
            f"{sum(lengths) / median:6.0f} tokens/s; {floor / median:5.1%} of the floor; "
            f"peak RSS +{peak_mb:.0f} MB"
        )
    if "one at a time" in results:
        alone = results["one at a time"]
        same = all(
            np.array_equal(a, b)
            for stats, expected in zip(results["pass"], alone, strict=True)
            for a, b in zip((stats.logps, stats.mu, stats.sigma), expected, strict=True)
        )
        print(f"values identical to each document's own forward pass: {same}")


if __name__ == "__main__":
    main()
