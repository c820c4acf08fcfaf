"""What serving each inference-time method costs: generation seconds per token over the plain
target's, timed `--repeats` times (the median is printed with the spread).

Builds (or reuses) the run's target and each method, as `obliviate bench` does, then times
`inference.method_overhead` on the split's first forget and retain prompts (`rows.overhead_prompts`),
uncached, with the weights loaded before timing. Run it alone: a second job on the same cores moves
the figures.

    python perf/serve_overhead.py --preset default --set split=test --set eval.dtype=fp32 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics

from obliviate.inference import INFERENCE_NAMES, method_overhead
from obliviate.leaderboard import bench_inference
from obliviate.presets import load_run_benchmark, resolve_config
from obliviate.rows import OVERHEAD_TOKENS, overhead_prompts, reference_points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--methods", default=",".join(INFERENCE_NAMES))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cfg = resolve_config(args.preset, args.overrides)
    benchmark = load_run_benchmark(cfg)
    target_dir = reference_points(cfg, benchmark)["target"]
    prompts = overhead_prompts(benchmark.split(cfg.split))
    setting = f"{OVERHEAD_TOKENS} new tokens, eval.dtype {cfg.eval.dtype}, {args.repeats} runs"
    print(f"{len(prompts)} prompts x {setting}")
    for method in bench_inference(cfg, args.methods.split(",")):
        ratios = [
            method_overhead(cfg, benchmark, cfg.split, target_dir, method, prompts, OVERHEAD_TOKENS)
            for _ in range(args.repeats)
        ]
        runs = ", ".join(map(str, ratios))
        print(f"{method.name:<10} serve x {statistics.median(ratios):.2f}  (runs: {runs})")


if __name__ == "__main__":
    main()
