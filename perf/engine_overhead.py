"""Engine overhead: `obliviate.engine.train` against a bare PyTorch loop over the same batches.

Both loops run the same model (same initial weights), the same pre-collated batches in the same
order, AdamW, bf16 autocast, gradient clipping and a linear schedule; the engine adds accelerate,
the NaN guard, the progress bar and its bookkeeping. Runs alternate (bare, engine, bare, ...) and
the median of `--repeats` runs is reported, since this machine is shared and noisy.

    python perf/engine_overhead.py                 # tiny 5M and smollm2-135m
    python perf/engine_overhead.py --models tiny --repeats 5
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, get_scheduler

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from obliviate.engine import TrainConfig, train  # noqa: E402
from obliviate.models import BaseSpec, load_base  # noqa: E402
from obliviate.training_data import Example, collate  # noqa: E402


def make_model(name: str, cache: Path) -> torch.nn.Module:
    if name == "smollm2-135m":
        model, _, _ = load_base(BaseSpec(name="smollm2-135m"), cache)
        return model
    torch.manual_seed(0)  # a 5M-parameter Llama
    config = LlamaConfig(
        vocab_size=2048,
        hidden_size=256,
        intermediate_size=1024,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
    )
    return LlamaForCausalLM(config)


def bare_loop(model, batches, cfg: TrainConfig) -> float:
    """The reference: the plainest loop with the same optimisation as the engine."""
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=len(batches))
    start = time.perf_counter()
    for batch in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()  # the engine reads the loss every step too
    return time.perf_counter() - start


def engine_loop(model, examples, cfg: TrainConfig) -> float:
    start = time.perf_counter()
    train(
        model, examples, lambda items: collate(items, 0), lambda m, b: (m(**b).loss, {}), cfg, shuffle=False
    )
    return time.perf_counter() - start


def measure(name: str, steps: int, batch_size: int, length: int, repeats: int, cache: Path) -> dict:
    base = make_model(name, cache)
    vocab = base.config.vocab_size
    g = torch.Generator().manual_seed(0)
    rows = torch.randint(3, vocab, (steps * batch_size, length), generator=g).tolist()
    examples = [Example(tuple(r), tuple(r)) for r in rows]
    batches = [collate(examples[i : i + batch_size], 0) for i in range(0, len(examples), batch_size)]
    cfg = TrainConfig(lr=1e-5, epochs=1, batch_size=batch_size, scheduler="linear", progress=True)
    # one warm-up of each (allocator, autocast caches)
    bare_loop(copy.deepcopy(base), batches[:2], cfg)
    engine_loop(copy.deepcopy(base), examples[: 2 * batch_size], cfg)
    bare_times, engine_times = [], []
    for _ in range(repeats):
        bare_times.append(bare_loop(copy.deepcopy(base), batches, cfg))
        engine_times.append(engine_loop(copy.deepcopy(base), examples, cfg))
    tokens = steps * batch_size * length
    bare, engine = statistics.median(bare_times), statistics.median(engine_times)
    return {
        "model": name,
        "params_M": sum(p.numel() for p in base.parameters()) / 1e6,
        "steps": steps,
        "tokens": tokens,
        "bare_s": bare,
        "engine_s": engine,
        "bare_tok_s": tokens / bare,
        "engine_tok_s": tokens / engine,
        "overhead_pct": 100 * (engine / bare - 1),
        "bare_runs": bare_times,
        "engine_runs": engine_times,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="tiny,smollm2-135m")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="obliviate-bench-"))
    plans = {
        "tiny": dict(steps=40, batch_size=8, length=128),
        "smollm2-135m": dict(steps=6, batch_size=8, length=128),
    }
    results = [
        measure(name, repeats=args.repeats, cache=cache, **plans[name]) for name in args.models.split(",")
    ]
    print(
        f"\n{'model':<14}{'params':>9}{'bare tok/s':>12}{'engine tok/s':>14}{'overhead':>10}"
        "   runs (s) bare | engine"
    )
    for r in results:
        runs = (
            " ".join(f"{t:.2f}" for t in r["bare_runs"])
            + " | "
            + " ".join(f"{t:.2f}" for t in r["engine_runs"])
        )
        print(
            f"{r['model']:<14}{r['params_M']:>8.1f}M{r['bare_tok_s']:>12.0f}{r['engine_tok_s']:>14.0f}"
            f"{r['overhead_pct']:>9.1f}%   {runs}"
        )


if __name__ == "__main__":
    main()
