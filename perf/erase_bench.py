"""Erase (influence-function edit) against LoRA retraining on a LoRA target: time and closeness.

For each request (kind x size) the adapter is edited once per solver variant and retrained on D′
twice (warm start from θ̂, and from scratch with the target's recipe); the table gives erase and
retrain seconds, the cosine / relative distance of merged ΔW (erase vs retrain, both from the
target), and the KL gap closed on forget (the edited examples) and retain (the rest of D) inputs.
With --lume, the forget-set removal's erased and retrained models get the LUME forget/retain
means (greedy generations) next to the target's.

    python perf/erase_bench.py --preset smoke                       # tiny Llama, ~2-4 min on 2 cores
    python perf/erase_bench.py --preset smoke --variant "gn:curvature=gn" --variant "3x:newton_steps=3"
    python perf/erase_bench.py --preset default --sizes 1,4 --kinds removal --warm-epochs 1 \\
        --set erase.hessian_examples=16 --set erase.cg_max_iter=10 --no-scratch   # SmolLM2-135M

Requests are built from the split's forget documents: removal drops pairs; query modification
prefixes the prompt ("In short, " + input); response correction swaps in another pair's answer.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from obliviate.config import parse_override  # noqa: E402
from obliviate.erase.compare import (  # noqa: E402
    function_closeness,
    merged_deltas,
    model_logits,
    retrain_lora,
    weight_closeness,
)
from obliviate.erase.config import EraseConfig  # noqa: E402
from obliviate.erase.objective import Objective  # noqa: E402
from obliviate.erase.requests import Edit, edited_pairs, tokenize_edits, training_pairs  # noqa: E402
from obliviate.erase.run import forget_set_edits  # noqa: E402
from obliviate.erase.update import newton_update  # noqa: E402
from obliviate.models import load_model, resolve_base  # noqa: E402
from obliviate.params import select_parameters  # noqa: E402
from obliviate.presets import load_run_benchmark, resolve_config  # noqa: E402
from obliviate.targets import build_target, load_lora_target, training_documents  # noqa: E402
from obliviate.training_data import document_pairs, tokenize_pair  # noqa: E402


def build_requests(cfg, benchmark, kinds, sizes, forget_set: bool) -> list[tuple[str, str, list[Edit]]]:
    """(label, kind, edits) for each kind and size, from the split's forget pairs that have a prompt."""
    split = benchmark.split(cfg.split)
    pairs = [p for doc in split.forget for p in document_pairs(doc) if p[0]]
    answers = [a for doc in split.retain for _, a in document_pairs(doc)]
    out = []
    for kind in kinds:
        for size in sizes:
            chosen = pairs[:size]
            if kind == "removal":
                edits = [Edit(x, y) for x, y in chosen]
            elif kind == "query":
                edits = [Edit(x, y, (f"In short, {x}", y)) for x, y in chosen]
            else:
                edits = [Edit(x, y, (x, answers[i % len(answers)])) for i, (x, y) in enumerate(chosen)]
            out.append((f"{kind} {len(edits)}", kind, edits))
    if forget_set:
        edits = forget_set_edits(cfg, benchmark)
        out.append((f"removal forget-set {len(edits)}", "removal", edits))
    return out


def lume_means(model, tokenizer, benchmark, cfg) -> dict:
    from obliviate.eval.protocols.lume import generation_items, side_means
    from obliviate.subjects import HFSubject

    # merge a copy: merging the objective's own peft model would remove the adapter it edits
    merged = copy.deepcopy(model).merge_and_unload() if hasattr(model, "merge_and_unload") else model
    subject = HFSubject.from_loaded(merged.eval(), tokenizer, "uncached")
    return side_means(generation_items(subject, benchmark.split(cfg.split), cfg.eval))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--kinds", default="removal,query,response")
    parser.add_argument("--sizes", default="1,4", help="examples per request")
    parser.add_argument("--no-forget-set", action="store_true", help="skip removing the whole forget set")
    parser.add_argument(
        "--variant", action="append", default=[], help='"name:key=value,key=value" erase overrides'
    )
    parser.add_argument("--warm-epochs", type=int, default=3)
    parser.add_argument("--warm-lr", type=float, default=None, help="default: a tenth of the target's lr")
    parser.add_argument("--no-scratch", action="store_true", help="skip retraining from scratch")
    parser.add_argument("--lume", action="store_true", help="LUME means of the forget-set request's models")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="run or erase.* override"
    )
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/obliviate"))
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    run_overrides = ["target_params.mode=lora", "target_train.progress=false", *args.overrides]
    cfg = resolve_config(args.preset, run_overrides, cache_dir=args.cache_dir)
    variants = {"default": cfg.erase}
    for text in args.variant:
        name, _, fields = text.partition(":")
        update = cfg.erase.model_dump()
        for item in filter(None, fields.split(",")):
            path, value = parse_override(item)
            update[path[0]] = value
        variants[name] = EraseConfig.model_validate(update)
    benchmark = load_run_benchmark(cfg)
    start = time.perf_counter()
    target_dir = build_target(cfg, benchmark, "target")
    print(f"target {target_dir} ({time.perf_counter() - start:.0f} s)", flush=True)

    model, tokenizer = load_lora_target(cfg, target_dir, benchmark)
    pad_id = tokenizer.pad_token_id
    pairs = training_pairs(training_documents(cfg, benchmark, "target"))
    data = [tokenize_pair(tokenizer, x, y, cfg.max_length) for x, y in pairs]
    objective = Objective(model, pad_id, variants["default"].batch_size)
    theta_hat = objective.theta()
    target_deltas = merged_deltas(model)
    rows = []
    for label, _kind, edits in build_requests(
        cfg, benchmark, args.kinds.split(","), [int(s) for s in args.sizes.split(",")], not args.no_forget_set
    ):
        new_data = [tokenize_pair(tokenizer, x, y, cfg.max_length) for x, y in edited_pairs(pairs, edits)]
        removed, added = tokenize_edits(tokenizer, edits, cfg.max_length)
        edited = {(e.input, e.output) for e in edits}
        retain = [ex for pair, ex in zip(pairs, data, strict=True) if pair not in edited]
        # retraining, once per request
        retrained = {}
        warm_cfg = cfg.target_train.model_copy(
            update={
                "epochs": args.warm_epochs,
                "lr": args.warm_lr or cfg.target_train.lr / 10,
                "warmup_ratio": 0.0,
                "precision": "fp32",
                "checkpoint_every": None,
            }
        )
        warm_model, _ = load_lora_target(cfg, target_dir, benchmark, eager=False)
        retrained["warm"] = retrain_lora(warm_model, new_data, pad_id, warm_cfg)
        print(f"{label}: warm retrain {retrained['warm'][1]:.1f} s", flush=True)
        if not args.no_scratch:
            base_path, _ = resolve_base(cfg.model, cfg.cache_dir, benchmark.texts())
            base, _ = load_model(base_path)
            torch.manual_seed(cfg.target_train.seed)
            scratch_cfg = cfg.target_train.model_copy(update={"checkpoint_every": None})
            retrained["scratch"] = retrain_lora(
                select_parameters(base, cfg.target_params), new_data, pad_id, scratch_cfg
            )
        for name, erase_cfg in variants.items():
            t0 = time.perf_counter()
            result = newton_update(objective, theta_hat, data, new_data, removed, added, erase_cfg)
            erase_seconds = time.perf_counter() - t0
            objective.load(result.theta)
            erased_deltas = merged_deltas(model)
            row = {
                "request": label,
                "variant": name,
                "erase_s": round(erase_seconds, 1),
                "residual": result.steps[-1]["relative_residual"],
                "hvps": sum(s["iterations"] for s in result.steps),
            }
            for which, (retrained_model, seconds) in retrained.items():
                closeness = weight_closeness(target_deltas, erased_deltas, merged_deltas(retrained_model))
                kl = function_closeness(
                    model_logits(retrained_model),
                    lambda b, t=result.theta: objective.logits(t, b),
                    lambda b: objective.logits(theta_hat, b),
                    removed,
                    retain,
                    pad_id,
                    erase_cfg.batch_size,
                )
                row[f"{which}_s"] = round(seconds, 1)
                row[f"{which}_speedup"] = round(seconds / max(erase_seconds, 1e-9), 2)
                row[f"{which}_cos"] = round(closeness["cosine"], 3)
                row[f"{which}_reldist"] = round(closeness["relative_distance"], 3)
                for side in ("forget", "retain"):
                    row[f"{which}_kl_ro/{side}"] = kl.get(f"kl_retrain_original/{side}")
                    row[f"{which}_gap/{side}"] = kl.get(f"kl_gap_closed/{side}")
            if args.lume and "forget-set" in label:
                with torch.no_grad():
                    row["lume_erased"] = lume_means(model, tokenizer, benchmark, cfg)
            objective.load(theta_hat)
            rows.append(row)
            print(json.dumps(row), flush=True)
        if args.lume and "forget-set" in label:
            lume = {"target": lume_means(model, tokenizer, benchmark, cfg)}
            for which, (retrained_model, _) in retrained.items():
                lume[f"retrain_{which}"] = lume_means(retrained_model, tokenizer, benchmark, cfg)
            print("LUME " + json.dumps(lume), flush=True)
            rows.append({"request": label, "lume": lume})
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def print_table(rows: list[dict]) -> None:
    columns = ["request", "variant", "erase_s", "hvps", "residual", "warm_s", "warm_cos", "warm_reldist"]
    columns += ["warm_gap/forget", "warm_gap/retain", "scratch_s", "scratch_cos", "scratch_gap/forget"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        if "variant" in row:
            print("| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |")


if __name__ == "__main__":
    main()
