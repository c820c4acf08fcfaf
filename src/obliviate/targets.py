"""Targets and retrain oracles: a base model fine-tuned to memorize the benchmark.

- target: fine-tuned on forget ∪ retain of every split (as LUME's OLMo targets memorized all tasks),
  or of the evaluated split only (`target_splits=evaluated`);
- oracle: the same base, same recipe, fine-tuned on retain only: the model that never saw the
  forget set, the gold standard every unlearning method is measured against.

Both are cached under `<cache_dir>/targets/<kind>-<key>/`, where the key hashes the base model's
fingerprint, the documents trained on, the fine-tuning config and the seed (records nothing trains
on, such as MIA non-members or other splits' documents, are not in it): a second call with
the same inputs loads the cached model; changing any input builds a new one. A build writes into
`<name>.partial/` (with resumable checkpoints) and is renamed into place when complete; one process
builds a key at a time, a second one waits and reuses the result (`engine.build_once`).

    path = build_target(cfg, benchmark, kind="target")   # -> .../model (Hugging Face format)
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import torch

from obliviate.config import RunConfig
from obliviate.data.records import Benchmark, Document
from obliviate.engine import (
    ENGINE_VERSION,
    TrainResult,
    build_once,
    resolve_precision,
    save_model,
    train,
    train_key,
)
from obliviate.keys import content_key
from obliviate.models import load_base, load_model, resolve_base
from obliviate.numerics import nll
from obliviate.params import check_params, count_trainable, finalize, params_key, select_parameters
from obliviate.peak_memory import PeakMemory
from obliviate.training_data import collate, tokenize_documents

Kind = Literal["target", "oracle"]
TARGET_FORMAT_VERSION = 1


def training_documents(cfg: RunConfig, benchmark: Benchmark, kind: Kind) -> tuple[Document, ...]:
    """Documents a target (forget ∪ retain) or an oracle (retain) is fine-tuned on: of every split,
    or of `cfg.split` only when `cfg.target_splits` is "evaluated"."""
    if cfg.target_splits == "all":
        forget, retain = benchmark.all_documents("forget"), benchmark.all_documents("retain")
    else:
        split = benchmark.split(cfg.split)
        forget, retain = split.forget, split.retain
    return retain if kind == "oracle" else (*forget, *retain)


def target_key(cfg: RunConfig, benchmark: Benchmark, base_fingerprint: str, kind: Kind) -> str:
    payload = {
        "version": TARGET_FORMAT_VERSION,
        "engine": ENGINE_VERSION,
        "kind": kind,
        "base": base_fingerprint,
        # what it trains on, not the whole benchmark: more MIA non-members retrain nothing
        "data": content_key([asdict(doc) for doc in training_documents(cfg, benchmark, kind)]),
        "max_length": cfg.max_length,
        "params": params_key(cfg.target_params),
        "train": train_key(cfg.target_train),
    }
    return content_key(payload)


def target_dir(cfg: RunConfig, benchmark: Benchmark, base_fingerprint: str, kind: Kind) -> Path:
    return cfg.cache_dir / "targets" / f"{kind}-{target_key(cfg, benchmark, base_fingerprint, kind)}"


def build_target(cfg: RunConfig, benchmark: Benchmark, kind: Kind = "target") -> Path:
    """Build (or reuse) the target or oracle; return its directory (model in `<dir>/model`)."""
    model, tokenizer, base_fingerprint = load_base(cfg.model, cfg.cache_dir, benchmark.texts())
    check_params(model, cfg.target_params)
    final = target_dir(cfg, benchmark, base_fingerprint, kind)
    return build_once(
        final,
        "target.json",
        lambda partial: _train_target(cfg, benchmark, kind, model, tokenizer, base_fingerprint, partial),
    )


def _train_target(
    cfg: RunConfig, benchmark: Benchmark, kind: Kind, model, tokenizer, base_fingerprint: str, partial: Path
) -> dict:
    """Fine-tune the base into `partial/model`; return the fields of `target.json`."""
    documents = training_documents(cfg, benchmark, kind)
    examples = tokenize_documents(tokenizer, documents, cfg.max_length)
    model = select_parameters(model, cfg.target_params)
    n_trainable = count_trainable(model)

    def nll_loss(model, batch):
        return nll(model, batch), {}

    pad_id = tokenizer.pad_token_id
    with PeakMemory() as peak:
        result: TrainResult = train(
            model,
            examples,
            lambda items: collate(items, pad_id),
            nll_loss,
            cfg.target_train,
            run_dir=partial,
            desc=f"{kind} ({cfg.model.name})",
            length_of=lambda ex: len(ex.input_ids),
            log=cfg.tracker(partial),
        )
    model = result.model
    if cfg.target_params.mode == "lora":
        model.save_pretrained(partial / "adapter", safe_serialization=True)
    model = finalize(model, cfg.target_params)
    save_model(model, tokenizer, partial / "model", f"{kind} ({cfg.model.name})")
    return {
        "kind": kind,
        "key": partial.name.removesuffix(".partial"),
        "base": cfg.model.model_dump(),
        "base_fingerprint": base_fingerprint,
        "benchmark": benchmark.name,
        "benchmark_fingerprint": benchmark.fingerprint(),
        "documents": len(documents),
        "examples": len(examples),
        "params": cfg.target_params.model_dump(),
        "train": cfg.target_train.model_dump(),
        "precision": resolve_precision(cfg.target_train.precision),
        "trainable_parameters": n_trainable,
        "parameters_changed": n_trainable,  # every trained parameter moves
        "peak_rss_mb": peak.rss_mb,
        "steps": result.steps,
        "tokens": result.tokens,
        "train_seconds": round(result.seconds, 2),
        "final_loss": result.losses[-1] if result.losses else None,
        "resumed_from_step": result.resumed_from_step,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }


def load_target(path: Path):
    """(model, tokenizer) of a built target or oracle directory."""
    return load_model(path / "model")


def load_lora_target(cfg: RunConfig, target_dir: Path, benchmark: Benchmark, eager: bool = True):
    """(peft model with the target's adapter, trainable; tokenizer). Eager attention for double backward."""
    from peft import PeftModel

    adapter = Path(target_dir) / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise ValueError(
            f"{target_dir}: not a LoRA target (no adapter/); build one with --set target_params.mode=lora"
        )
    base_path, _ = resolve_base(cfg.model, cfg.cache_dir, benchmark.texts())
    base, _ = load_model(base_path, trust_remote_code=cfg.model.trust_remote_code)
    if eager:
        base.set_attn_implementation("eager")
    _, tokenizer = load_model(Path(target_dir) / "model")
    model = PeftModel.from_pretrained(base, adapter, is_trainable=True)
    return model.eval(), tokenizer
