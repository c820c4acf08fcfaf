"""Unlearning cost: wall time, peak RSS and where the memory goes, on issue #20's task.

The task (the one open-unlearning was timed on beside us): SmolLM2-135M-Instruct as the target,
the first 2 documents per task of LUME's validation split (20 forget + 20 retain examples),
15 optimizer steps of 4 forget + 4 retain examples (3 epochs), bf16 autocast where the machine has
native bf16. Each run is a fresh process (`obliviate unlearn`'s own work: imports, loading the
target, training, saving the model), timed alone; the median of `--repeats` runs is printed, with
every run's figures beside it.

The breakdown prices what a run holds at its peak: the weights, their gradients and AdamW states,
the frozen reference (a model, or the quantities precomputed from it), the tensors autograd saves
for backward at the longest step, the Python + torch runtime before the model is loaded, and the
rest as the difference to the measured peak (the process's ru_maxrss): temporaries of the loss and
the backward pass, and the allocator's slack (freed memory glibc keeps: ~0.6 GB of the rest on
SmolLM2 here, gone with MALLOC_MMAP_THRESHOLD_=131072 at 1.8x the time). Where little trains (RMU)
the peak is the model's loading (weights and the mapped file) and "rest" holds that.

Each method's line also gives the tokens trained (padding not counted) and its losses at steps 1, 8
and 15, which show how far an option that moves results by rounding moved them.

    python perf/unlearn_cost.py                                  # gd npo kl rmu undial, 3 runs each
    python perf/unlearn_cost.py --methods gd,npo --repeats 5 --seeds 0,1,2
    python perf/unlearn_cost.py --methods gd,npo --set unlearn_train.pack_sequences=true \
        --set unlearn_train.activation_checkpointing=true
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def run_config(data: Path, out_dir: Path, cache_dir: Path, seed: int, overrides: list[str]):
    """The default preset's recipe on the task: its learning rates, our batch and step count."""
    from obliviate.presets import resolve_config

    fixed = [
        "data_format=lume",
        "docs_per_task=2",
        "split=validation",
        "max_length=512",
        "unlearn_train.batch_size=4",
        "unlearn_train.epochs=3",
        "unlearn_train.progress=false",
        f"unlearn_train.seed={seed}",
    ]
    return resolve_config("default", fixed + overrides, data=data, out_dir=out_dir, cache_dir=cache_dir)


class SavedForBackward:
    """The bytes autograd holds for backward, at their largest: storages saved in a forward pass
    (activations, autocast's bf16 copies of the weights), each counted once, parameters excluded;
    the count is read when the backward pass starts."""

    def __init__(self, model_params: set[int]):
        self.params, self.seen, self.current, self.peak, self.in_backward = model_params, set(), 0, 0, False

    def pack(self, tensor):
        if self.in_backward:  # a new forward pass
            self.seen, self.current, self.in_backward = set(), 0, False
        storage = tensor.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in self.seen and ptr not in self.params:
            self.seen.add(ptr)
            self.current += storage.nbytes()
        return tensor

    def unpack(self, tensor):
        if not self.in_backward:
            self.peak, self.in_backward = max(self.peak, self.current), True
        return tensor


def child(args) -> None:
    """One unlearning run in this process; prints its figures as one JSON line."""
    import resource

    import torch

    from obliviate.peak_memory import current_rss_mb

    runtime_mb = current_rss_mb() * 2**20 / 1e6  # Python, torch and transformers, before any model exists
    from obliviate import targets
    from obliviate.methods import method_config
    from obliviate.models import BaseSpec, resolve_base
    from obliviate.presets import load_run_benchmark
    from obliviate.unlearn import unlearn

    cfg = run_config(args.data, args.out, args.cache, args.seed, args.set)
    base_path, _ = resolve_base(BaseSpec(name="smollm2-135m"), args.cache)
    target = args.out / "target"
    if not (target / "model").exists():  # `unlearn` takes a target directory with the model in model/
        target.mkdir(parents=True)
        (target / "model").symlink_to(Path(base_path).resolve())
    benchmark = load_run_benchmark(cfg)
    method = method_config(args.child, {**cfg.methods.get(args.child, {}), "epochs": 3})

    saved, weights_bytes = None, 0
    load_target = targets.load_target

    def load_and_watch(path):  # the hooks need the parameters' storages, to leave them out
        nonlocal saved, weights_bytes
        model, tokenizer = load_target(path)
        weights_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        saved = SavedForBackward({p.untyped_storage().data_ptr() for p in model.parameters()})
        hooks.__enter__()
        return model, tokenizer

    hooks = torch.autograd.graph.saved_tensors_hooks(lambda t: saved.pack(t), lambda t: saved.unpack(t))
    import obliviate.unlearn as unlearn_module

    unlearn_module.load_target = load_and_watch
    run_dir = unlearn(cfg, method, target, benchmark)
    hooks.__exit__(None, None, None)
    result = json.loads((run_dir / "unlearn.json").read_text())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # Linux: KiB
    mb = 1 / 1e6
    weights = weights_bytes * mb
    trainable = result["trainable_parameters"] * 4 * mb  # fp32 master weights' gradients
    states = cfg.unlearn_train.optimizer_states
    reference = result["reference_bytes"] * mb
    parts = {
        "runtime (python, torch, libraries)": runtime_mb,
        "weights (fp32)": weights,
        "gradients": trainable,
        f"AdamW states (2 x {states})": 2 * trainable * (0.5 if states == "bf16" else 1),
        "frozen reference (a copy, or its values)": reference,
        "saved for backward (largest step)": saved.peak * mb,
    }
    parts["rest (temporaries, allocator slack)"] = peak_mb - sum(parts.values())
    parts["peak"] = peak_mb
    print(
        json.dumps(
            {
                "train_s": result["seconds"],
                "steps": result["steps"],
                "tokens": result["tokens"],
                "losses": result["losses"],
                "breakdown_mb": parts,
                "model": str(run_dir / "model"),
            }
        )
    )


def run_once(method: str, seed: int, args, out: Path) -> dict:
    command = [sys.executable, __file__, "--child", method, "--seed", str(seed), "--out", str(out)]
    command += ["--data", str(args.data), "--cache", str(args.cache)]
    command += [x for s in args.set for x in ("--set", s)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{method} seed {seed} failed:\n{stderr[-3000:]}")
    figures = json.loads(stdout.strip().splitlines()[-1])
    figures["wall_s"] = wall
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--methods", default="gd,npo,kl,rmu,undial")
    parser.add_argument("--repeats", type=int, default=3, help="runs per method (fresh process each)")
    parser.add_argument("--seeds", default="0", help="unlearn_train.seed values, comma-separated")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "lume")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "obliviate")
    parser.add_argument("--set", action="append", default=[], help="extra RunConfig override (repeatable)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"task: LUME validation, 2 documents per task, 15 steps of 4+4 examples; {args.repeats} runs")
    for method in args.methods.split(","):
        for seed in seeds:
            runs = []
            for _ in range(args.repeats):
                with tempfile.TemporaryDirectory() as tmp:
                    runs.append(run_once(method, seed, args, Path(tmp)))
            wall = statistics.median(r["wall_s"] for r in runs)
            train_s = statistics.median(r["train_s"] for r in runs)
            peak = statistics.median(r["breakdown_mb"]["peak"] for r in runs)
            walls = ", ".join(f"{r['wall_s']:.1f}" for r in runs)
            peaks = ", ".join(f"{r['breakdown_mb']['peak'] / 1e3:.2f}" for r in runs)
            print(
                f"\n{method} seed {seed}: wall {wall:.1f} s (runs {walls}), training {train_s:.1f} s, "
                f"peak RSS {peak / 1e3:.2f} GB (runs {peaks}); {runs[0]['tokens']} tokens trained, "
                f"losses at steps 1 / 8 / {len(runs[0]['losses'])}: "
                + " / ".join(f"{runs[0]['losses'][i]:.4f}" for i in (0, 7, -1))
            )
            by_peak = sorted(runs, key=lambda r: r["breakdown_mb"]["peak"])
            print("  breakdown of the median-peak run:")
            for part, mb in by_peak[len(by_peak) // 2]["breakdown_mb"].items():
                print(f"  {part:<38} {mb / 1e3:6.2f} GB")


if __name__ == "__main__":
    main()
