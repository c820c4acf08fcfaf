"""Run one unlearning method on a target: the shared loop around every method's loss.

    loss = forget_weight · method_loss(model, forget_batch, reference) + retain_weight · NLL(retain_batch)

Each forget example is paired with one retain example drawn with a seeded RNG (open-unlearning's
`ForgetRetainDataset`, anchor = forget), so an epoch is one pass over the forget set. The result
is a plain Hugging Face model directory; a second call with the same inputs reuses it.

    out = unlearn(cfg, method_config("gd"), target_path, benchmark)   # -> runs/unlearn/gd-<key>/
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import resource
import time
from pathlib import Path

import torch

from obliviate.benchmarks.records import Benchmark
from obliviate.engine import publish_run, train
from obliviate.methods import METHODS, MethodConfig
from obliviate.methods._logps import nll
from obliviate.params import count_trainable, finalize, select_parameters
from obliviate.presets import RunConfig
from obliviate.targets import load_target
from obliviate.training_data import collate, tokenize_documents


def unlearn_key(cfg: RunConfig, method: MethodConfig, target_path: Path, benchmark: Benchmark) -> str:
    payload = {
        "target": target_path.name,
        "data": benchmark.fingerprint(),
        "split": cfg.split,
        "max_length": cfg.max_length,
        "method": method.model_dump(),
        "params": cfg.unlearn_params.model_dump(),
        "train": cfg.unlearn_train.model_dump(exclude={"progress", "checkpoint_every"}),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def pair_with_retain(forget: list, retain: list, seed: int) -> list[tuple]:
    """Each forget item with one retain item drawn uniformly (seeded)."""
    if not retain:
        raise ValueError("this method needs retain data, and the split's retain set is empty")
    rng = random.Random(seed)
    return [(f, retain[rng.randrange(len(retain))]) for f in forget]


def unlearn(cfg: RunConfig, method: MethodConfig, target_path: Path, benchmark: Benchmark) -> Path:
    """Unlearn the split's forget set from the target; return the run directory (model in `model/`)."""
    _, needs, forget_loss = METHODS[method.name]
    out = cfg.out_dir / "unlearn" / f"{method.name}-{unlearn_key(cfg, method, target_path, benchmark)}"
    if (out / "unlearn.json").is_file():
        return out
    partial = out.with_name(out.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    split = benchmark.split(cfg.split)
    model, tokenizer = load_target(target_path)
    forget = tokenize_documents(tokenizer, split.forget, cfg.max_length)
    reference = None
    if needs.reference:
        reference = copy.deepcopy(model).eval().requires_grad_(False)
    use_retain = needs.retain and method.retain_weight > 0
    pad_id = tokenizer.pad_token_id
    if use_retain:
        retain = tokenize_documents(tokenizer, split.retain, cfg.max_length)
        items = pair_with_retain(forget, retain, cfg.unlearn_train.seed)

        def collate_fn(batch):
            return {
                "forget": collate([f for f, _ in batch], pad_id),
                "retain": collate([r for _, r in batch], pad_id),
            }
    else:
        items = forget

        def collate_fn(batch):
            return {"forget": collate(batch, pad_id)}

    def loss_fn(model, batch):
        loss, logs = forget_loss(model, batch["forget"], reference, method)
        loss = method.forget_weight * loss
        if use_retain:
            retain_nll = nll(model, batch["retain"])
            loss = loss + method.retain_weight * retain_nll
            logs["retain_nll"] = retain_nll.detach().item()
        return loss, logs

    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    model = select_parameters(model, cfg.unlearn_params)
    n_trainable = count_trainable(model)
    start = time.perf_counter()

    def length_of(item) -> int:  # batches of similar lengths pad less
        return sum(len(ex.input_ids) for ex in item) if use_retain else len(item.input_ids)

    result = train(
        model,
        items,
        collate_fn,
        loss_fn,
        cfg.unlearn_train,
        run_dir=partial,
        desc=method.name,
        length_of=length_of,
    )
    model = finalize(result.model, cfg.unlearn_params)
    changed = sum(
        int((p.detach() != before[name]).sum()) for name, p in model.named_parameters() if name in before
    )
    model.save_pretrained(partial / "model", safe_serialization=True)
    tokenizer.save_pretrained(partial / "model")
    meta = {
        "method": method.model_dump(),
        "target": str(target_path),
        "split": cfg.split,
        "params": cfg.unlearn_params.model_dump(),
        "train": cfg.unlearn_train.model_dump(),
        "trainable_parameters": n_trainable,
        "parameters_changed": changed,
        "steps": result.steps,
        "tokens": result.tokens,
        "seconds": round(time.perf_counter() - start, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)
        if torch.cuda.is_available()
        else None,
        "losses": result.losses,
    }
    return publish_run(partial, out, "unlearn.json", meta)
