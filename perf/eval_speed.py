"""Evaluation speed: the official one-prompt-at-a-time loop against the batched engine.

Same model, same prompts (every forget and retain prompt of the split), greedy, up to
`--max-new-tokens` (official: 256). Reports wall and CPU time of each (medians, every run
listed), the ratio of the medians, how many generations are identical, and the LUME means
computed from each set of generations (they must agree to 3 decimals). Official and engine runs
alternate (`--official-repeats`, `--repeats`), so both see the same moments of a shared
machine; both first run two prompts untimed (the engine's first call may build its attention
kernel, eval/exact_attention.py). `--drafts` gives the engine each prompt's reference output as a
draft to verify (speculative decoding, `eval.drafts`). Both loops use the preset's `eval.dtype`
(default preset: bf16, as the official script) and the engine its `eval.batch_size`, unless
`--dtype` / `--batch-size` say otherwise.

    python perf/eval_speed.py --preset default --all-splits --repeats 3 --official-repeats 3
    python perf/eval_speed.py --preset default            # the train split's 40 prompts
    python perf/eval_speed.py --preset smoke --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from obliviate.data.records import Split  # noqa: E402
from obliviate.eval.metrics.lume import knowledge, regurgitation  # noqa: E402
from obliviate.eval.passes import greedy_generate, reference_generate  # noqa: E402
from obliviate.eval.protocols.lume import side_means  # noqa: E402
from obliviate.models import load_model  # noqa: E402
from obliviate.presets import load_run_benchmark, resolve_config  # noqa: E402
from obliviate.subjects.hf import draft_tokens  # noqa: E402
from obliviate.targets import build_target  # noqa: E402


def score(split, generations: list[str]) -> dict:
    items, i = {}, 0
    for side in ("forget", "retain"):
        items[side] = []
        for doc in getattr(split, side):
            for p in doc.prompts:
                metric = regurgitation if p.kind == "sc" else knowledge
                items[side].append({"kind": p.kind, "score": metric(p.output, generations[i])})
                i += 1
    return side_means(items)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="default")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the preset's eval.batch_size")
    parser.add_argument("--repeats", type=int, default=1, help="runs of the batched engine (median)")
    parser.add_argument("--official-repeats", type=int, default=1, help="runs of the official loop (median)")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/obliviate"))
    parser.add_argument("--all-splits", action="store_true", help="every split's prompts")
    parser.add_argument("--drafts", action="store_true", help="the engine verifies reference drafts")
    parser.add_argument(
        "--dtype", choices=("fp32", "bf16"), default=None, help="weights of both loops (official: bf16)"
    )
    args = parser.parse_args()
    cfg = resolve_config(args.preset, args.overrides, cache_dir=args.cache_dir)
    benchmark = load_run_benchmark(cfg)
    if args.all_splits:  # one Split holding the documents of every split
        parts = benchmark.splits.values()
        split = Split(tuple(d for p in parts for d in p.forget), tuple(d for p in parts for d in p.retain))
    else:
        split = benchmark.split(cfg.split)
    dtype = args.dtype or (cfg.eval.dtype if cfg.eval.dtype != "auto" else "fp32")
    model, tokenizer = load_model(
        build_target(cfg, benchmark, "target") / "model",
        dtype=torch.bfloat16 if dtype == "bf16" else torch.float32,
    )
    items = [p for side in ("forget", "retain") for doc in getattr(split, side) for p in doc.prompts]
    prompts = [p.input for p in items]
    drafts = None if not args.drafts else [draft_tokens(tokenizer, p.output) for p in items]

    def timed(generate) -> tuple[list[str], float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = generate()
        return out, time.perf_counter() - wall, time.process_time() - cpu

    batch_size = args.batch_size or cfg.eval.batch_size

    def official_loop(some=prompts):
        return reference_generate(model, tokenizer, some, args.max_new_tokens)

    def engine(some=prompts, some_drafts=drafts):
        return greedy_generate(model, tokenizer, some, args.max_new_tokens, batch_size, some_drafts)

    official_loop(prompts[:2])  # untimed warm-up of both
    engine(prompts[:2], None if drafts is None else drafts[:2])
    official_runs, engine_runs = [], []
    for i in range(max(args.repeats, args.official_repeats)):  # alternate: the same machine moments
        if i < args.official_repeats:
            official_runs.append(timed(official_loop))
        if i < args.repeats:
            engine_runs.append(timed(engine))
    official, batched = official_runs[0][0], engine_runs[-1][0]

    def medians(runs) -> tuple[float, float]:
        return statistics.median(r[1] for r in runs), statistics.median(r[2] for r in runs)

    def listed(runs) -> str:
        return " ".join(f"{wall:.1f}/{cpu:.1f}" for _, wall, cpu in runs)

    (official_s, official_cpu), (batched_s, batched_cpu) = medians(official_runs), medians(engine_runs)
    official_scores, batched_scores = score(split, official), score(split, batched)
    print(
        f"\n{len(prompts)} prompts, max_new_tokens={args.max_new_tokens}, "
        f"model {cfg.model.name} ({args.preset}), {dtype}, engine batch {batch_size}"
    )
    name = "batched engine" + (" + drafts" if args.drafts else "")
    print(
        f"one at a time (official loop, median of {len(official_runs)}): {official_s:8.1f} s wall "
        f"{official_cpu:8.1f} s CPU   runs (wall/CPU): {listed(official_runs)}"
    )
    print(
        f"{name} (median of {len(engine_runs)}): {batched_s:8.1f} s wall {batched_cpu:8.1f} s CPU   "
        f"runs (wall/CPU): {listed(engine_runs)}"
    )
    same = [sum(a == b for a, b in zip(official, r[0], strict=True)) for r in official_runs + engine_runs]
    print(
        f"speed-up: {official_s / batched_s:.1f}x wall, {official_cpu / batched_cpu:.1f}x CPU   "
        f"identical generations: {min(same)}/{len(prompts)} (every run of both)"
    )
    for key in official_scores:
        a, b = official_scores[key], batched_scores[key]
        flag = "equal" if a is not None and b is not None and round(a, 3) == round(b, 3) else "DIFFER"
        print(f"  {key:<22} official {a:.4f}  batched {b:.4f}  {flag}")


if __name__ == "__main__":
    main()
