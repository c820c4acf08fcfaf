"""Run one unlearning method on a target: the shared loop around every method's loss.

    loss = forget_weight · method_loss(model, batch, reference) + retain_weight · retain_term(batch["retain"])

where the retain term is NLL(R) or KL(reference ‖ model) on retain inputs (`method.retain_loss`),
unless the method weighs its own retain term (RMU, SUGD). By default each forget example is paired
with one retain example drawn with a seeded RNG (open-unlearning's `ForgetRetainDataset`, anchor =
forget), so an epoch is one pass over the forget set; a method's `plan` can replace that (SUGD's
sequential chunks). The result is a plain Hugging Face model directory; a second call with the
same inputs reuses it.

    out = unlearn(cfg, method_config("gd"), target_path, benchmark)   # -> runs/unlearn/gd-<key>/
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import torch
from accelerate import PartialState
from safetensors import safe_open

from obliviate.config import RunConfig
from obliviate.data.records import Benchmark, Document, Split
from obliviate.device import model_device, place
from obliviate.engine import (
    ENGINE_VERSION,
    TrainConfig,
    build_once,
    resolve_precision,
    save_model,
    train,
    train_key,
)
from obliviate.keys import content_key
from obliviate.methods import METHODS, MethodConfig, Phase
from obliviate.methods._logps import kl_from_reference
from obliviate.methods._reference import AdapterOff, ReferenceValues
from obliviate.numerics import nll
from obliviate.params import (
    ADAPTER_MODES,
    ParamsConfig,
    check_params,
    count_trainable,
    decoder_layers,
    finalize,
    params_key,
    select_parameters,
)
from obliviate.peak_memory import PeakMemory
from obliviate.targets import load_lora_target, load_target
from obliviate.training_data import collate, document_pairs, tokenize_documents, tokenize_pair


@dataclass(frozen=True)
class StopRule:
    """Stop an unlearning run early: every `every` optimizer steps, `done(model, tokenizer)` is asked
    (the model as it trains); True ends the run there. `key` describes the rule in the run's key."""

    every: int
    done: Callable[[torch.nn.Module, object], bool]
    key: dict


def unlearn_key(
    cfg: RunConfig,
    method: MethodConfig,
    target_path: Path,
    benchmark: Benchmark,
    stop: StopRule | None = None,
) -> str:
    version = METHODS[method.name].version
    payload = {
        "engine": ENGINE_VERSION,
        "target": target_path.name,
        "data": benchmark.fingerprint(),
        "split": cfg.split,
        "max_length": cfg.max_length,
        "method": method.model_dump(),
        "params": params_key(cfg.unlearn_params) if cfg.unlearn_params else None,
        "train": train_key(cfg.unlearn_train),
        **({"stop": {"every": stop.every, **stop.key}} if stop is not None else {}),
        **({"method_version": version} if version > 1 else {}),
    }
    return content_key(payload)


def refusal_lines() -> list[str]:
    text = files("obliviate.methods").joinpath("data/refusals.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def refusal_examples(tokenizer, docs: list[Document], max_length: int, seed: int) -> list:
    """Each forget prompt (in `tokenize_documents` order) with a refusal drawn uniformly (seeded)."""
    rng, lines = random.Random(seed), refusal_lines()
    return [
        tokenize_pair(tokenizer, prompt, rng.choice(lines), max_length)
        for doc in docs
        for prompt, _ in document_pairs(doc)
    ]


def paired_plan(forget: list, retain: list, refusals: list | None, method, train_cfg: TrainConfig):
    """The default: one phase, each forget example with a uniformly drawn retain example (seeded)."""
    rng = random.Random(train_cfg.seed)
    items = []
    for i, f in enumerate(forget):
        item = {"forget": f}
        if refusals is not None:
            item["refusal"] = refusals[i]
        if retain:
            item["retain"] = retain[rng.randrange(len(retain))]
        items.append(item)
    return [Phase(items, train_cfg)]


def examples_of(value) -> tuple:
    """An item's value as a tuple of Examples (an item holds an Example or a tuple of them)."""
    return value if isinstance(value, tuple) else (value,)


def collate_items(items: list[dict], pad_id: int) -> dict:
    """A list of {key: Example or tuple of Examples} -> {key: padded batch}."""
    return {key: collate([ex for item in items for ex in examples_of(item[key])], pad_id) for key in items[0]}


def item_length(item: dict) -> int:
    return sum(len(ex.input_ids) for v in item.values() for ex in examples_of(v))


def resolve_params(cfg: RunConfig, method: MethodConfig, n_layers: int) -> ParamsConfig:
    """The run's `unlearn_params` if set, else the method's own default, else full fine-tuning."""
    if cfg.unlearn_params is not None:
        return cfg.unlearn_params
    default_params = METHODS[method.name].default_params
    return default_params(method, n_layers) if default_params else ParamsConfig()


def resolve_train(cfg: RunConfig, method: MethodConfig) -> TrainConfig:
    """The run's `unlearn_train` with the method's own lr / epochs where it sets them."""
    update = {k: getattr(method, k) for k in ("lr", "epochs") if getattr(method, k) is not None}
    return cfg.unlearn_train.model_copy(update=update)


def count_changed(model: torch.nn.Module, target_dir: Path) -> int:
    """Entries of `model`'s parameters that differ from the target's saved weights, read one
    tensor at a time from its safetensors files (a copy of every weight would cost the run's peak
    memory its size: 0.54 GB for SmolLM2-135M)."""
    params = dict(model.named_parameters())
    changed = 0
    for file in sorted(target_dir.glob("*.safetensors")):
        with safe_open(file, framework="pt") as weights:
            for name in weights.keys():  # noqa: SIM118 (safe_open is not a mapping)
                if name in params:
                    changed += int((params[name].detach().cpu() != weights.get_tensor(name)).sum())
    return changed


def unlearn(
    cfg: RunConfig,
    method: MethodConfig,
    target_path: Path,
    benchmark: Benchmark,
    stop: StopRule | None = None,
) -> Path:
    """Unlearn the split's forget set from the target; return the run directory (model in `model/`).
    With `stop`, the run may end before its last epoch (`StopRule`)."""
    out = cfg.out_dir / "unlearn" / f"{method.name}-{unlearn_key(cfg, method, target_path, benchmark, stop)}"
    if (out / "unlearn.json").is_file():
        return out
    # Checked before any folder is made: a wrong split or parameter set leaves nothing behind.
    split = benchmark.split(cfg.split)
    if cfg.unlearn_params is not None and cfg.unlearn_params.mode == "target_adapter":
        model, tokenizer = load_lora_target(cfg, target_path, benchmark, eager=False)  # unmerged, trainable
    else:
        model, tokenizer = load_target(target_path)
    params = resolve_params(cfg, method, len(decoder_layers(model)))
    check_params(model, params)
    return build_once(
        out,
        "unlearn.json",
        lambda partial: _unlearn_into(
            cfg, method, target_path, split, model, tokenizer, params, partial, stop
        ),
    )


def _unlearn_into(
    cfg: RunConfig,
    method: MethodConfig,
    target_path: Path,
    split: Split,
    model,
    tokenizer,
    params: ParamsConfig,
    partial: Path,
    stop: StopRule | None = None,
) -> dict:
    """The unlearning run, its model written into `partial/model`; returns the fields of `unlearn.json`."""
    spec = METHODS[method.name]
    needs = spec.needs
    train_cfg = resolve_train(cfg, method)
    forget = tokenize_documents(tokenizer, split.forget, cfg.max_length)
    use_retain = needs.retain and method.retain_weight > 0
    retain = tokenize_documents(tokenizer, split.retain, cfg.max_length) if use_retain else []
    if use_retain and not retain:
        raise ValueError(f"{method.name} needs retain data, and the split's retain set is empty")
    refusals = None
    if needs.refusals:
        refusals = refusal_examples(tokenizer, list(split.forget), cfg.max_length, train_cfg.seed)
    plan = spec.plan or paired_plan
    phases = plan(forget, retain, refusals, method, train_cfg)

    pad_id = tokenizer.pad_token_id
    start = time.perf_counter()  # the reference's work counts as the run's
    # The starting model itself, for terms that need its whole distributions at every step: a
    # frozen copy, or under LoRA the trained model with its adapter off (`AdapterOff`, below)
    asks_reference_model = needs.reference or (use_retain and method.retain_loss == "kl")
    reference_model = None
    if asks_reference_model and params.mode != "lora":
        reference_model = copy.deepcopy(model).eval().requires_grad_(False)
    values = None
    if spec.reference_values is not None:  # what the loss needs of it per example, computed once
        examples = [
            ex
            for phase in phases
            for item in phase.items
            for key in spec.reference_inputs
            if key in item
            for ex in examples_of(item[key])
        ]
        # where this process will train: accelerate's device (under a multi-GPU launch, this rank's GPU)
        model = place(model, PartialState().device)
        values = ReferenceValues.compute(
            model,
            examples,
            lambda m, b: spec.reference_values(m, b, method),
            pad_id,
            bf16=resolve_precision(train_cfg.precision) == "bf16",
        )

    model = select_parameters(model, params)
    if asks_reference_model and params.mode == "lora":  # (a target's own adapter is copied above)
        reference_model = AdapterOff(model)
    reference = values if values is not None else reference_model  # what the method's loss is given

    def loss_fn(model, batch):
        if isinstance(reference_model, torch.nn.Module):  # the engine placed `model`; the copy follows
            place(reference_model, model_device(model))
        loss, logs = spec.loss(model, batch, reference, method)
        if needs.own_retain_term:  # RMU, SUGD: already weighted
            return loss, logs
        loss = method.forget_weight * loss
        logs["forget_term"] = loss.detach().item()  # the two terms of the total, weighted
        if not use_retain:
            return loss, logs
        if method.retain_loss == "kl":
            retain_term = kl_from_reference(model, reference_model, batch["retain"])
        else:
            retain_term = nll(model, batch["retain"])
        logs[f"retain_{method.retain_loss}"] = retain_term.detach().item()
        logs["retain_term"] = method.retain_weight * logs[f"retain_{method.retain_loss}"]
        return loss + method.retain_weight * retain_term, logs

    n_trainable = count_trainable(model)
    steps, tokens, losses, step_logs, resumed_seconds = 0, 0, [], [], 0.0
    stopped_at = None

    def check_stop(step: int) -> bool:
        nonlocal stopped_at
        if stop is not None and stopped_at is None and (steps + step) % stop.every == 0:
            if stop.done(model, tokenizer):
                stopped_at = steps + step
        return stopped_at is not None

    with PeakMemory() as peak:
        for i, phase in enumerate(phases):
            if stopped_at is not None:
                break
            result = train(
                model,
                phase.items,
                lambda items: collate_items(items, pad_id),
                loss_fn,
                phase.train,
                run_dir=partial / "checkpoint" / f"phase{i}",
                desc=method.name if len(phases) == 1 else f"{method.name} {i + 1}/{len(phases)}",
                shuffle=phase.shuffle,
                length_of=item_length,
                log=cfg.tracker(partial),
                on_step=check_stop if stop is not None else None,
            )
            model, steps, tokens = result.model, steps + result.steps, tokens + result.tokens
            losses.extend(result.losses)
            step_logs.extend({**logs, "phase": i} for logs in result.step_logs)
            resumed_seconds += result.resumed_seconds
    # with the training time of the interrupted runs this one resumed
    seconds = time.perf_counter() - start + resumed_seconds
    if params.mode in ADAPTER_MODES:  # the adapter alone, for users who serve the base with adapters
        model.save_pretrained(partial / "adapter", safe_serialization=True)
    model = finalize(model, params)
    save_model(model, tokenizer, partial / "model", method.name)
    changed = count_changed(model, target_path / "model")
    reference_bytes = values.nbytes if values is not None else 0
    if isinstance(reference_model, torch.nn.Module):  # a copy (not the adapter switched off)
        reference_bytes += sum(p.numel() * p.element_size() for p in reference_model.parameters())
    return {
        "method": method.model_dump(),
        "target": str(target_path),
        "split": cfg.split,
        "params": params.model_dump(),
        "train": train_cfg.model_dump(),
        "phases": len(phases),
        "trainable_parameters": n_trainable,
        "parameters_changed": changed,
        "steps": steps,
        "stopped_early_at": stopped_at,
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "peak_rss_mb": peak.rss_mb,
        "peak_cuda_mb": peak.cuda_mb,
        "reference_bytes": reference_bytes,
        "losses": losses,
        "step_logs": step_logs,
    }
