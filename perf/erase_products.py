"""Seconds of the edit's building blocks on the reviews task: Σ∇ℓ over the request rows and one
curvature product (Gauss-Newton and exact Hessian) over the sampled rows, with the output layer at
the label positions only (`Objective`, what erase runs) and at every position (before), and the
largest difference between the two results (they must agree to float32 rounding).

    python perf/erase_products.py                        # SmolLM2-135M, LoRA r 8, ~5 min on 2 cores
    python perf/erase_products.py --model tiny --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from obliviate.data.synthetic_reviews import generate  # noqa: E402
from obliviate.erase.objective import Objective  # noqa: E402
from obliviate.erase.task import EraseTaskConfig, pretrained_base, smoke_task_config, task_pairs  # noqa: E402
from obliviate.models import load_model  # noqa: E402
from obliviate.numerics import shift_labels, shift_logits  # noqa: E402
from obliviate.params import select_parameters  # noqa: E402
from obliviate.training_data import tokenize_pair  # noqa: E402


class EveryPosition(Objective):
    """The objective as before: logits (B, T, V) at every position, the label positions picked after."""

    def label_logits(self, theta, batch):
        labels, mask = shift_labels(batch["labels"])
        return shift_logits(self.logits(theta, batch))[mask], labels[mask], mask.nonzero()[:, 0]


def timed(fn, repeats: int) -> tuple[float, torch.Tensor]:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("smollm2-135m", "tiny"), default="smollm2-135m")
    parser.add_argument("--grad-rows", type=int, default=64)
    parser.add_argument("--curvature-rows", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="label positions under bf16 autocast")
    parser.add_argument("--batch-size", type=int, default=None, help="rows per pass (default: erase's)")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/obliviate"))
    args = parser.parse_args()
    torch.manual_seed(0)

    cfg = smoke_task_config() if args.model == "tiny" else EraseTaskConfig()
    task = generate(cfg.reviews)
    base, tokenizer = load_model(pretrained_base(cfg, args.cache_dir, task.texts()))
    model = select_parameters(base, cfg.params)
    model.base_model.model.set_attn_implementation("eager")
    for name, p in model.named_parameters():
        if "lora_B" in name:  # B starts at zero; a trained adapter's values
            torch.nn.init.normal_(p, std=0.02)
    rows = [tokenize_pair(tokenizer, x, y, cfg.max_length) for x, y in task_pairs(task)]
    grad_rows, curvature_rows = rows[: args.grad_rows], rows[: args.curvature_rows]
    tokens = sum(len(ex.input_ids) for ex in grad_rows) / len(grad_rows)
    labels = sum(sum(t != -100 for t in ex.labels) for ex in grad_rows) / len(grad_rows)
    print(f"{cfg.model.name}: {tokens:.0f} tokens a row, {labels:.1f} of them labels; {args.repeats} repeats")

    batch_size = args.batch_size or cfg.erase.batch_size
    print(f"{batch_size} rows per pass")
    objectives = {
        "label positions": Objective(model, tokenizer.pad_token_id, batch_size),
        "every position": EveryPosition(model, tokenizer.pad_token_id, batch_size),
    }
    theta = objectives["label positions"].theta()
    v = torch.randn_like(theta)
    blocks = {
        f"grad ({args.grad_rows} rows)": lambda o: o.grad_sum(theta, grad_rows),
        f"Gauss-Newton product ({args.curvature_rows} rows)": lambda o: o.gnvp_sum(theta, v, curvature_rows),
        f"Hessian product ({args.curvature_rows} rows)": lambda o: o.hvp_sum(theta, v, curvature_rows),
    }
    for objective in objectives.values():  # first calls pay one-off setup
        objective.gnvp_sum(theta, v, rows[:2])
    print("| block | every position s | label positions s | speed-up | max rel. difference |")
    print("|---|---|---|---|---|")
    for name, block in blocks.items():
        before_s, before = timed(lambda b=block: b(objectives["every position"]), args.repeats)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            after_s, after = timed(lambda b=block: b(objectives["label positions"]), args.repeats)
        diff = float((after - before).abs().max() / before.abs().max())
        cells = [name, f"{before_s:.1f}", f"{after_s:.1f}", f"{before_s / after_s:.1f}x", f"{diff:.1e}"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
