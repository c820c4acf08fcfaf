"""An erase run: load a LoRA target, apply the influence-function edit, save, optionally compare.

    out = erase_requests(cfg, target_dir, benchmark, "removal", Path("req.jsonl"), EraseConfig())
    out = erase_forget_set(cfg, target_dir, benchmark, EraseConfig())    # the split's forget docs
    # -> <out_dir>/erase/<kind>-<key>/{adapter/, model/, erase.json}

The run writes into `<name>.partial/` and is renamed into place when `erase.json` is written (as
`unlearn.py` does), so a run directory is either complete or absent; a second call with the same
inputs returns the finished one. `erase.json` holds the seconds of the edit (gradients + solve,
model loading excluded), the solver's statistics per Newton step, peak memory, how many weights
changed and, with `compare_retrain`, the retraining times and closeness (see `compare.py`).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import torch

from obliviate.config import RunConfig
from obliviate.data.records import Benchmark
from obliviate.device import place
from obliviate.engine import build_once, save_model, train_key
from obliviate.erase.compare import (
    function_closeness,
    merged_deltas,
    model_logits,
    retrain_lora,
    weight_closeness,
)
from obliviate.erase.config import EraseConfig
from obliviate.erase.objective import Objective
from obliviate.erase.requests import (
    Edit,
    RequestKind,
    edited_pairs,
    read_requests,
    tokenize_edits,
    training_pairs,
)
from obliviate.erase.update import newton_update
from obliviate.keys import content_key
from obliviate.models import load_model, resolve_base
from obliviate.params import select_parameters, untie_adapted_embeddings
from obliviate.peak_memory import PeakMemory
from obliviate.targets import load_lora_target, training_documents
from obliviate.training_data import Example, document_pairs, tokenize_pair

ERASE_FORMAT_VERSION = 1
DTYPES = {"fp32": torch.float32, "fp64": torch.float64}


def erase_key(
    cfg: RunConfig, target_dir: Path, kind: str, edits: list[Edit], erase_cfg: EraseConfig, compare: bool
) -> str:
    payload = {
        "version": ERASE_FORMAT_VERSION,
        "target": Path(target_dir).name,
        "kind": kind,
        "edits": [[e.input, e.output, e.new] for e in edits],
        "max_length": cfg.max_length,
        "erase": erase_cfg.model_dump(),
        "compare": compare,
        "retrain": train_key(cfg.target_train) if compare else None,
    }
    return content_key(payload)


def compare_with_retraining(
    cfg: RunConfig,
    target_dir: Path,
    benchmark: Benchmark,
    objective: Objective,
    theta_hat: torch.Tensor,
    theta_erased: torch.Tensor,
    new_data: list[Example],
    removed: list[Example],
    retain: list[Example],
    erase_cfg: EraseConfig,
) -> dict:
    """Retrain on D′ (warm, and from scratch if configured); closeness of the erased model to each."""
    objective.load(theta_hat)
    target_deltas = merged_deltas(objective.model)
    objective.load(theta_erased)
    erased_deltas = merged_deltas(objective.model)
    pad_id = objective.pad_id

    def at(theta):
        return lambda batch: objective.logits(theta, batch)

    warm_cfg = cfg.target_train.model_copy(
        update={
            "epochs": erase_cfg.retrain_warm_epochs,
            "lr": erase_cfg.retrain_warm_lr or cfg.target_train.lr / 10,
            "warmup_ratio": 0.0,
            "precision": "fp32",  # the comparison wants the minimiser, not bf16 noise around it
            "checkpoint_every": None,
        }
    )
    # The reference is retraining from scratch with the target's recipe (what "the data was never
    # there" means); the warm run is a short fine-tune from θ̂, not converged: shown as what it is.
    runs: dict[str, Any] = {}
    if erase_cfg.retrain_scratch:

        def fresh():
            base_path, _ = resolve_base(cfg.model, cfg.cache_dir, benchmark.texts())
            base, _ = load_model(base_path, trust_remote_code=cfg.model.trust_remote_code)
            torch.manual_seed(cfg.target_train.seed)  # the adapter's random init
            return select_parameters(base, cfg.target_params)

        runs["scratch"] = (fresh, cfg.target_train.model_copy(update={"checkpoint_every": None}))
    runs["warm"] = (lambda: load_lora_target(cfg, target_dir, benchmark, eager=False)[0], warm_cfg)
    what = {
        "scratch": "retrained from scratch on D′ with the target's recipe",
        "warm": f"fine-tuned from the target on D′, {warm_cfg.epochs} epochs at lr {warm_cfg.lr:g} (short)",
    }
    out = {}
    for name, (make_model, train_cfg) in runs.items():
        retrained, seconds = retrain_lora(make_model(), new_data, pad_id, train_cfg)
        out[name] = {
            "reference": what[name],
            "seconds": round(seconds, 2),
            "epochs": train_cfg.epochs,
            "lr": train_cfg.lr,
            **weight_closeness(target_deltas, erased_deltas, merged_deltas(retrained)),
            **function_closeness(
                model_logits(retrained),
                at(theta_erased),
                at(theta_hat),
                removed,
                retain,
                pad_id,
                erase_cfg.batch_size,
            ),
        }
        del retrained
    objective.load(theta_erased)
    return out


def erase(
    cfg: RunConfig,
    target_dir: Path,
    benchmark: Benchmark,
    kind: RequestKind,
    edits: list[Edit],
    erase_cfg: EraseConfig,
    compare_retrain: bool = False,
) -> Path:
    """Apply the edits to the LoRA target's adapter; return the run directory (`model/`, `adapter/`)."""
    key = erase_key(cfg, target_dir, kind, edits, erase_cfg, compare_retrain)
    out = cfg.out_dir / "erase" / f"{kind}-{key}"

    def build(partial: Path) -> dict:
        with PeakMemory() as peak:
            meta = _erase_into(cfg, target_dir, benchmark, kind, edits, erase_cfg, compare_retrain, partial)
        return {**meta, "peak_rss_mb": peak.rss_mb, "peak_cuda_mb": peak.cuda_mb}

    return build_once(out, "erase.json", build)


def _erase_into(cfg, target_dir, benchmark, kind, edits, erase_cfg, compare_retrain, partial: Path) -> dict:
    """The edit, written into `partial`; returns the fields of `erase.json` (the caller adds memory)."""
    model, tokenizer = load_lora_target(cfg, target_dir, benchmark)
    # The influence solve (double backward, fp64 by default) runs where its batches are: the CPU.
    model = place(model, "cpu").to(DTYPES[erase_cfg.dtype])
    pairs = training_pairs(training_documents(cfg, benchmark, "target"))
    new_pairs = edited_pairs(pairs, edits)
    data = [tokenize_pair(tokenizer, p, a, cfg.max_length) for p, a in pairs]  # D, as the target trained
    new_data = [tokenize_pair(tokenizer, p, a, cfg.max_length) for p, a in new_pairs]  # D′
    removed, added = tokenize_edits(tokenizer, edits, cfg.max_length)
    objective = Objective(model, tokenizer.pad_token_id, erase_cfg.batch_size)
    theta_hat = objective.theta()

    start = time.perf_counter()
    result = newton_update(objective, theta_hat, data, new_data, removed, added, erase_cfg)
    seconds = time.perf_counter() - start
    if not torch.isfinite(result.theta).all():
        raise ValueError("erase: the update is not finite; raise erase.damping")

    comparison = None
    if compare_retrain:
        edited = {(e.input, e.output) for e in edits}
        retain = [ex for pair, ex in zip(pairs, data, strict=True) if pair not in edited]
        comparison = compare_with_retraining(
            cfg,
            target_dir,
            benchmark,
            objective,
            theta_hat,
            result.theta,
            new_data,
            removed,
            retain,
            erase_cfg,
        )

    objective.load(theta_hat)
    target_deltas = merged_deltas(model)
    objective.load(result.theta)
    changed = sum(int((d != target_deltas[k]).sum()) for k, d in merged_deltas(model).items())
    model.save_pretrained(partial / "adapter", safe_serialization=True)
    merged = copy.deepcopy(model).to(torch.float32)
    untie_adapted_embeddings(merged)
    merged = merged.merge_and_unload()
    merged.requires_grad_(False)
    save_model(merged, tokenizer, partial / "model", "erase")
    return {
        "kind": kind,
        "target": str(target_dir),
        "requests": len(edits),
        "examples": len(data),
        "examples_after": len(new_data),
        "erase": erase_cfg.model_dump(),
        "seconds": round(seconds, 2),
        "b_norm": result.b_norm,
        "delta_norm": float(result.delta.norm()),
        "newton_steps": result.steps,
        "relative_residual": result.steps[-1]["relative_residual"],
        "adapter_parameters": int(theta_hat.numel()),
        "adapter_parameters_changed": int((result.delta != 0).sum()),
        "parameters_changed": changed,
        "comparison": comparison,
        "edits": [{"input": e.input, "output": e.output, "new": e.new} for e in edits],
    }


def erase_requests(
    cfg: RunConfig,
    target_dir: Path,
    benchmark: Benchmark,
    kind: RequestKind,
    requests_file: Path,
    erase_cfg: EraseConfig,
    compare_retrain: bool = False,
) -> Path:
    """`erase` with the edits of a request JSONL (format in `requests.py`)."""
    edits = read_requests(requests_file, kind, training_documents(cfg, benchmark, "target"))
    return erase(cfg, target_dir, benchmark, kind, edits, erase_cfg, compare_retrain)


def forget_set_edits(cfg: RunConfig, benchmark: Benchmark) -> list[Edit]:
    """Removal of every training pair of the split's forget documents."""
    return [Edit(p, a) for doc in benchmark.split(cfg.split).forget for p, a in document_pairs(doc)]


def erase_forget_set(
    cfg: RunConfig, target_dir: Path, benchmark: Benchmark, erase_cfg: EraseConfig | None = None
) -> Path:
    """For `obliviate bench`: remove every example of the split's forget documents from a LoRA
    target (settings: `erase_cfg`, else the run's `erase` section); returns the run directory, whose
    `model/` is a plain HF model and `erase.json` has `seconds` and `parameters_changed` like
    `unlearn.json`."""
    erase_cfg = erase_cfg or cfg.erase
    return erase(cfg, target_dir, benchmark, "removal", forget_set_edits(cfg, benchmark), erase_cfg)
