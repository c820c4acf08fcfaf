"""Training and likelihood-pass throughput of a ~1B model on an accelerator, against its bf16 peak.

The model is a randomly initialised Llama built on the device (nothing is downloaded): the shape of
Llama-3.2-1B (16 layers, width 2048, MLP 8192, 32 query and 8 key-value heads, tied embeddings)
with SmolLM2's tokenizer and its 49k vocabulary, 1.07B parameters. The figures it prints:

- the peak: the device's bf16 matmul throughput, an 8192 x 8192 x 8192 product (the mean of 10
  after 3 warm-ups), beside the datasheet's dense figure if `--datasheet-tflops` gives one;
- the likelihood pass (`eval/passes.token_statistics`, what every MIA attack reads) over LUME's
  validation MIA documents with the model in bf16, as `obliviate eval` runs it on a GPU: tokens/s,
  TFLOP/s (the forward's matmul FLOPs, `likelihood_pass.forward_flops`) and the fraction of the
  peak, at several batch sizes; the model's forward alone on the same batches; and the pass with
  the CPU's statistics chunk (8 positions), as it ran before accelerators got their own;
- unlearning on issue #20's task (`unlearn_cost.run_config`: 20 forget + 20 retain examples, 15
  optimizer steps of 4 + 4, bf16 autocast over fp32 weights, fused AdamW), gd and npo through
  `unlearn.unlearn`, the median of `--repeats` runs after one untimed warm-up run: the training
  seconds of `unlearn.json` (npo's reference values and moving the model onto the device
  included) and tokens/s; then one run of `--long-epochs` epochs, whose extra steps give the cost
  of a step without the run's fixed part. The model FLOP utilisation counts 6 x the linear
  layers' weights per trained token (forward and backward; attention's FLOPs and npo's one
  reference pass over the forget set left out, so it is a lower bound).

    python perf/accelerator_throughput.py --data ../shared/data/lume --datasheet-tflops 989
    python perf/accelerator_throughput.py --data ../shared/data/lume --size tiny --device cpu  # here
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
import transformers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from likelihood_pass import forward_flops  # noqa: E402
from unlearn_cost import run_config  # noqa: E402

from obliviate.device import pick_device, place  # noqa: E402
from obliviate.eval import passes  # noqa: E402
from obliviate.methods import method_config  # noqa: E402
from obliviate.models import BaseSpec, load_model, load_tokenizer, resolve_base  # noqa: E402
from obliviate.presets import load_run_benchmark, resolve_config  # noqa: E402
from obliviate.unlearn import unlearn  # noqa: E402

SHAPES = {
    "1b": dict(
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=64,
    ),
    # the same code paths, small enough for a CPU: how the script is checked without a GPU
    "tiny": dict(
        hidden_size=64,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
    ),
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_tflops(device: torch.device, n: int) -> float:
    """bf16 throughput of an n x n x n matmul: the mean of 10 after 3 warm-ups."""
    a = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    b = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    for _ in range(3):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    synchronize(device)
    return 2 * n**3 * 10 / (time.perf_counter() - start) / 1e12


def build_target(size: str, tokenizer, out: Path, device: torch.device) -> tuple[int, int]:
    """A random Llama of `size` saved as the target directory `out` (bf16 weights); (its parameters,
    its linear layers' weights: the output layer's included)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **SHAPES[size],
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    n_params = sum(p.numel() for p in model.parameters())
    linear_weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    model.to(torch.bfloat16).save_pretrained(out / "model", safe_serialization=True)
    tokenizer.save_pretrained(out / "model")
    return n_params, linear_weights


def timed(run, repeats: int, device: torch.device) -> tuple[float, list[float], object]:
    """(median seconds, every run's seconds, the last result), after one untimed run."""
    result = run()
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        result = run()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), seconds, result


@torch.inference_mode()
def forward_only(model, documents: list[list[int]], batch_size: int, pad_id: int, device) -> None:
    """The model's forward over the pass's batches (longest first, right-padded), nothing after it."""
    ordered = sorted(documents, key=len, reverse=True)
    for start in range(0, len(ordered), batch_size):
        rows = ordered[start : start + batch_size]
        ids = torch.full((len(rows), len(rows[0])), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, tokens in enumerate(rows):
            ids[r, : len(tokens)], mask[r, : len(tokens)] = torch.tensor(tokens), 1
        model(input_ids=ids.to(device), attention_mask=mask.to(device))


def likelihood_pass(target: Path, texts: list[str], args, device, peak: float) -> None:
    model, tokenizer = load_model(target / "model", dtype=torch.bfloat16)
    model = place(model, device).eval()
    documents = [tokenizer(t).input_ids for t in texts]
    lengths = [len(d) for d in documents]
    flops = forward_flops(model, lengths)
    print(
        f"\nlikelihood pass: {len(texts)} documents, {sum(lengths)} tokens (longest {max(lengths)}), "
        f"bf16; forward {flops / 1e12:.2f} TFLOP"
    )

    def report(name: str, median: float, seconds: list[float]) -> None:
        print(
            f"  {name:<44} {median * 1e3:8.1f} ms ({', '.join(f'{s * 1e3:.1f}' for s in seconds)}); "
            f"{sum(lengths) / median:9.0f} tokens/s; {flops / median / 1e12:6.1f} TFLOP/s = "
            f"{flops / median / 1e12 / peak:5.1%} of the peak"
        )

    accelerator_chunk = passes.ACCELERATOR_STATISTICS_CHUNK
    values = {}
    for batch in args.batch_sizes:
        median, seconds, _ = timed(
            lambda b=batch: forward_only(model, documents, b, tokenizer.pad_token_id, device),
            args.repeats,
            device,
        )
        report(f"forward alone, batch {batch}", median, seconds)
        for chunk in (passes.STATISTICS_CHUNK, accelerator_chunk):
            passes.ACCELERATOR_STATISTICS_CHUNK = chunk
            median, seconds, values[batch, chunk] = timed(
                lambda b=batch: passes.token_statistics(model, tokenizer, texts, b), args.repeats, device
            )
            report(f"pass, batch {batch}, statistics chunk {chunk}", median, seconds)
    passes.ACCELERATOR_STATISTICS_CHUNK = accelerator_chunk
    # whether the chunk size or the batch changes any value (the CPU's pass is exact on both)
    base = values[args.batch_sizes[0], accelerator_chunk]
    for key, other in values.items():
        diff = max(
            float(np.max(np.abs(getattr(a, f) - getattr(b, f)), initial=0.0))
            for a, b in zip(base, other, strict=True)
            for f in ("logps", "mu", "sigma")
        )
        print(
            f"  largest difference, batch {key[0]} chunk {key[1]} against batch {args.batch_sizes[0]} "
            f"chunk {accelerator_chunk}: {diff:.3g}"
        )


def unlearning(target: Path, args, device, peak: float, linear_weights: int, work: Path) -> None:
    print(f"\nunlearning on #20's task, {args.repeats} runs each after a warm-up run (seconds: training)")
    cfg = run_config(args.data, work / "runs", work / "cache", 0, [])
    benchmark = load_run_benchmark(cfg)

    def run(name: str, seed: int, epochs: int = 3, batch: int = 4) -> dict:
        sets = [f"unlearn_train.epochs={epochs}", f"unlearn_train.batch_size={batch}"]
        if batch > 4:  # enough examples for a few full batches: ~3 a document
            sets.append(f"docs_per_task={-(-batch // 3)}")
        cfg = run_config(args.data, work / "runs", work / "cache", seed, sets)
        method = method_config(name, {**cfg.methods.get(name, {}), "epochs": epochs})
        run_dir = unlearn(cfg, method, target, benchmark if batch <= 4 else load_run_benchmark(cfg))
        result = json.loads((run_dir / "unlearn.json").read_text())
        shutil.rmtree(run_dir)  # a 1B model's weights each
        return result

    run("gd", 1000)  # warm-up: the device's libraries load, kernels are chosen
    for name in args.methods:
        results = [run(name, seed) for seed in range(args.repeats)]
        seconds = statistics.median(r["seconds"] for r in results)
        tokens = statistics.median(r["tokens"] for r in results)
        steps = results[0]["steps"]
        flops = 6 * linear_weights * tokens
        cuda = statistics.median(r["peak_cuda_mb"] or 0 for r in results)
        each = ", ".join(f"{r['seconds']:.2f}" for r in results)
        print(
            f"  {name:<6} {seconds:6.2f} s ({each}) for "
            f"{steps} steps, {tokens:.0f} tokens: {tokens / seconds:8.0f} tokens/s, "
            f"{seconds / steps * 1e3:6.1f} ms a step; {flops / seconds / 1e12:6.1f} TFLOP/s = "
            f"{flops / seconds / 1e12 / peak:5.1%} of the peak; peak device memory {cuda / 1e3:.1f} GB"
        )
        if args.long_epochs:  # what a step costs once the run's fixed costs are paid
            long = run(name, 0, args.long_epochs)
            step_s = (long["seconds"] - seconds) / (long["steps"] - steps)
            step_tokens = (long["tokens"] - tokens) / (long["steps"] - steps)
            step_flops = 6 * linear_weights * step_tokens
            print(
                f"  {name:<6} {long['seconds']:6.2f} s for {long['steps']} steps: each step past the "
                f"{steps}th {step_s * 1e3:.1f} ms, {step_tokens / step_s:.0f} tokens/s, "
                f"{step_flops / step_s / 1e12:.1f} TFLOP/s = {step_flops / step_s / 1e12 / peak:.1%} "
                f"of the peak; so {seconds - steps * step_s:.2f} s of the {steps}-step run is fixed"
            )
    for batch in args.train_batch_sizes:  # utilisation once steps are large enough to fill the device
        short, long = run("gd", 0, 3, batch), run("gd", 0, 3 + args.long_epochs, batch)
        step_s = (long["seconds"] - short["seconds"]) / (long["steps"] - short["steps"])
        step_tokens = (long["tokens"] - short["tokens"]) / (long["steps"] - short["steps"])
        step_flops = 6 * linear_weights * step_tokens
        print(
            f"  gd, {batch} + {batch} examples a step: {step_s * 1e3:.1f} ms a step past the "
            f"{short['steps']}th, {step_tokens:.0f} tokens a step, {step_tokens / step_s:.0f} tokens/s, "
            f"{step_flops / step_s / 1e12:.1f} TFLOP/s = {step_flops / step_s / 1e12 / peak:.1%} of the peak"
        )
    if args.profile:
        profile_steps(run, args.profile, device)


def profile_steps(run, top: int, device) -> None:
    """Where a gd run's time goes on the device: the operators by their CUDA time and by the host's,
    and how much of the run's wall the device was busy (a run the host cannot feed shows idle)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        result = run("gd", 0)
        wall = time.perf_counter() - start
    events = prof.key_averages()
    busy = sum(e.self_device_time_total for e in events) / 1e6
    print(
        f"\nprofile of one gd run ({result['steps']} steps, {result['seconds']:.2f} s of training, "
        f"{wall:.2f} s with loading and saving): the device busy {busy:.2f} s in all"
    )
    print(events.table(sort_by="self_device_time_total", row_limit=top, max_name_column_width=60))
    print(events.table(sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=60))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "lume")
    parser.add_argument(
        "--tokenizer", type=Path, help="SmolLM2's tokenizer's directory (default: the base's)"
    )
    parser.add_argument("--size", choices=SHAPES, default="1b")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--methods", default="gd,npo")
    parser.add_argument("--batch-sizes", default="8,32,68", help="documents per forward of the pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--long-epochs", type=int, default=15, help="one run this long per method: the cost of a step"
    )
    parser.add_argument("--skip-pass", action="store_true", help="unlearning only")
    parser.add_argument(
        "--train-batch-sizes", default="", help="gd at these batches too (e.g. 16,64): a step's cost"
    )
    parser.add_argument("--profile", type=int, default=0, help="profile a gd run: the top N operators")
    parser.add_argument("--datasheet-tflops", type=float, help="the device's dense bf16 figure")
    args = parser.parse_args()
    args.methods = args.methods.split(",")
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    args.train_batch_sizes = [int(b) for b in args.train_batch_sizes.split(",") if b]
    transformers.utils.logging.disable_progress_bar()  # a bar for every load and save of the model
    device = pick_device(args.device)
    if args.tokenizer:
        tokenizer = load_tokenizer(args.tokenizer)
    else:
        base, _ = resolve_base(BaseSpec(name="smollm2-135m"), ROOT / ".cache" / "obliviate")
        tokenizer = load_tokenizer(base)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = peak_tflops(device, 8192 if device.type == "cuda" else 1024)
    print(f"device {name}; torch {torch.__version__}; bf16 matmul {peak:.0f} TFLOP/s (the peak)", end="")
    if args.datasheet_tflops:
        print(f", {peak / args.datasheet_tflops:.0%} of the datasheet's {args.datasheet_tflops:.0f}", end="")
    print()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        target = work / "target"
        n_params, linear_weights = build_target(args.size, tokenizer, target, device)
        print(
            f"random Llama ({args.size}): {n_params / 1e9:.3f} B parameters, built in "
            f"{time.perf_counter() - start:.1f} s"
        )
        # all of the split's MIA documents, as `likelihood_pass.py` reads them (68 on LUME)
        cfg = resolve_config("default", ["split=validation"], data=args.data)
        split = load_run_benchmark(cfg).split("validation")
        texts = [d.text for d in (*split.member, *split.nonmember)]
        failed = []
        for part, run in (
            ("likelihood pass", lambda: likelihood_pass(target, texts, args, device, peak)),
            ("unlearning", lambda: unlearning(target, args, device, peak, linear_weights, work)),
        ):
            if part == "likelihood pass" and args.skip_pass:
                continue
            try:  # one part's failure leaves the other's figures (a device's time is scarce)
                run()
            except Exception:
                traceback.print_exc()
                failed.append(part)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
