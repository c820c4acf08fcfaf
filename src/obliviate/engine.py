"""The one training loop: target fine-tuning, oracle retraining and every unlearning method.

Read it top to bottom: seeded epoch order -> micro-batches -> `loss_fn(model, batch)` under
autocast -> backward with gradient accumulation -> NaN/Inf guard -> clip -> optimizer and
scheduler step -> periodic checkpoint. Built on `accelerate`, so the same code runs on one CPU,
or under `accelerate launch` on several processes/GPUs (DDP, FSDP, DeepSpeed) unchanged.

`batch_size` is the global micro-batch: under several processes each takes a slice of it
(`split_batches=True`), so a run's result does not depend on the process count.

An interrupted run resumes from `<run_dir>/checkpoint` (written atomically) and ends with the
same model as an uninterrupted run: the example order is a pure function of (seed, epoch), and
the optimizer, scheduler and RNG states are restored.

    result = train(model, items, collate_fn, loss_fn, TrainConfig(lr=1e-4, epochs=3), run_dir=Path("runs/x"))
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from pydantic import Field
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from obliviate.atomic import publish_dir
from obliviate.config_base import StrictModel
from obliviate.device import native_bf16
from obliviate.eval.passes import packed_training_attention
from obliviate.locks import build_lock
from obliviate.optimizers import AdamWBF16States

# Part of every target's and unlearning run's cache key: bump it when a change to the training code
# changes the weights it produces (2: fused AdamW, output layer at label positions only).
ENGINE_VERSION = 2

LossFn = Callable[[torch.nn.Module, Any], tuple[torch.Tensor, dict[str, float]]]
StepCallback = Callable[[int], bool | None]  # called after each optimizer step; True stops training


class TrainConfig(StrictModel):
    """Optimisation settings shared by every stage that trains."""

    lr: float = Field(1e-4, gt=0, description="peak learning rate (AdamW)")
    epochs: int = Field(1, ge=1, description="passes over the training items")
    max_steps: int | None = Field(
        None, ge=1, description="stop after this many optimizer steps (None: all epochs)"
    )
    batch_size: int = Field(
        8, ge=1, description="global micro-batch size (items per forward pass, all processes)"
    )
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    warmup_ratio: float = Field(0.0, ge=0, le=1, description="fraction of steps with linear warm-up")
    scheduler: Literal["constant", "linear", "cosine"] = Field("linear", description="learning-rate schedule")
    max_grad_norm: float | None = Field(1.0, gt=0, description="gradient clipping norm (None: no clipping)")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="'auto' = bf16 autocast with fp32 master weights where the machine has native bf16 "
        "(1.5-3x faster), else fp32 (see `native_bf16`)",
    )
    seed: int = Field(0, description="seed of the example order and of any random initialisation")
    activation_checkpointing: bool = Field(
        False,
        description="keep only each decoder layer's input and recompute its activations in the backward "
        "pass: the same weights, most of the activation memory saved, up to a third more compute",
    )
    optimizer_states: Literal["fp32", "bf16"] = Field(
        "fp32",
        description="AdamW's two moment estimates per parameter: fp32 (torch's fused AdamW) or bf16, "
        "stochastically rounded (`optimizers.AdamWBF16States`): half their memory, results moved by rounding",
    )
    pack_sequences: bool = Field(
        False,
        description="run a batch's sequences back to back without their padding, each attending to "
        "itself alone (`numerics.label_logits`: losses on label positions, on a CPU; elsewhere the "
        "padded batch): no compute spent on padding, results moved by rounding",
    )
    checkpoint_every: int | None = Field(
        None, ge=1, description="save a resumable checkpoint every N optimizer steps (None: never)"
    )
    progress: bool = Field(True, description="show a progress bar")


class LogConfig(StrictModel):
    """Where the per-step training logs go besides the progress bar: a tracker accelerate supports."""

    tracker: Literal["none", "tensorboard", "mlflow"] = Field(
        "none", description="tracker of every training run's loss and its terms per step"
    )
    dir: Path | None = Field(None, description="tracker directory (None: <out_dir>/logs)")


def _tracker_available(tracker: str) -> None:
    from accelerate.utils import is_mlflow_available, is_tensorboard_available

    available = {"tensorboard": is_tensorboard_available, "mlflow": is_mlflow_available}[tracker]()
    if not available:
        raise ValueError(f"log.tracker={tracker} needs the {tracker} package: pip install {tracker}")


class TrainingDiverged(RuntimeError):
    """The loss, the gradient or the weights became NaN/Inf; the model is not saved."""


def check_finite_weights(model: torch.nn.Module, desc: str) -> None:
    """Refuse a model with a NaN or Inf weight (raise `TrainingDiverged` naming the first one).

    A step can be finite in loss and gradient and still overflow the weights (a huge learning
    rate): such a model generates nothing, so it must fail the run, not be saved and scored."""
    for name, param in model.named_parameters():
        if not bool(torch.isfinite(param.detach()).all()):
            raise TrainingDiverged(
                f"{desc}: weight {name} is not finite after training; stopped without saving "
                "(lower the learning rate, or use precision=fp32)"
            )


def save_model(model: torch.nn.Module, tokenizer: Any, directory: Path, desc: str) -> None:
    """Save a trained model and its tokenizer (Hugging Face format), after checking its weights."""
    check_finite_weights(model, desc)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


@dataclass
class TrainResult:
    model: torch.nn.Module
    steps: int
    tokens: int
    seconds: float
    losses: list[float] = field(default_factory=list)  # per optimizer step, mean over its micro-batches
    # per optimizer step, the mean of each value the loss logs (a method's forget and retain terms)
    step_logs: list[dict[str, float]] = field(default_factory=list)
    resumed_from_step: int = 0
    resumed_seconds: float = 0.0  # training seconds before the resume (included in `seconds`)


class EpochShuffle(Sampler[int]):
    """A permutation that depends only on (seed, epoch): resuming replays the same order.

    With `lengths`, items are grouped by length (shuffle, sort windows of 32 batches by length,
    cut into batches, shuffle the batches): batches pad little, which on the documents-and-answers
    mix of a benchmark is 2-3x fewer wasted tokens, while every epoch still sees a new order."""

    def __init__(
        self,
        n: int,
        seed: int,
        shuffle: bool = True,
        lengths: Sequence[int] | None = None,
        batch_size: int = 1,
    ):
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0
        self.lengths, self.batch_size = lengths, batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        if not self.shuffle:
            return iter(range(self.n))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=generator).tolist()
        if self.lengths is None:
            return iter(order)
        window = 32 * self.batch_size
        batches = []
        for start in range(0, self.n, window):
            chunk = sorted(order[start : start + window], key=lambda i: self.lengths[i])
            batches.extend(chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        # the last batch may be short: keep it last so only one batch is ever short
        full, tail = batches[:-1], batches[-1:]
        batch_order = torch.randperm(len(full), generator=generator).tolist()
        return iter([i for b in batch_order for i in full[b]] + [i for b in tail for i in b])

    def __len__(self) -> int:
        return self.n


def resolve_precision(precision: str) -> str:
    """'auto' -> 'bf16' where `native_bf16()`, else 'fp32'; an explicit choice stays."""
    if precision != "auto":
        return precision
    return "bf16" if native_bf16() else "fp32"


def lr_factor(schedule: str, step: int, *, warmup: int, total: int) -> float:
    """The learning rate at `step` as a fraction of the configured one: a linear warm-up over `warmup`
    steps, then constant, linear to 0 at `total`, or half a cosine to 0 at `total`. The factors of
    transformers' `get_scheduler` ("constant_with_warmup", "linear", "cosine"), float for float
    (tests/test_engine.py), written here because importing transformers' imports peft and
    bitsandbytes: 1.3 s of imports that nothing else in a training process needs."""
    if step < warmup:
        return float(step) / float(max(1, warmup))
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return max(0.0, float(total - step) / float(max(1, total - warmup)))
    if schedule == "cosine":
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))  # half a cycle: pi * 0.5 * 2.0
    raise ValueError(f"unknown learning-rate schedule {schedule!r}")


def train_key(cfg: TrainConfig) -> dict:
    """The settings that determine a training run's result, for cache keys: not the progress bar, the
    checkpoint frequency or activation checkpointing (bit-identical weights, tests/test_engine.py),
    and 'auto' precision as it resolves where it resolves to fp32 (so a
    target trained in fp32 on one machine is never taken for one trained in bf16 on another)."""
    fields = cfg.model_dump(exclude={"progress", "checkpoint_every", "activation_checkpointing"})
    for name, default in (("optimizer_states", "fp32"), ("pack_sequences", False)):
        if fields[name] == default:  # keys from before the option stay valid
            del fields[name]
    if fields["precision"] == "auto" and resolve_precision("auto") == "fp32":
        fields["precision"] = "fp32"
    return fields


def _mixed_precision(precision: str) -> str:
    return "no" if resolve_precision(precision) == "fp32" else "bf16"


def _count_tokens(batch: Any) -> int:
    """Non-padding tokens in a batch, however nested (forget/retain sub-batches)."""
    if isinstance(batch, dict):
        if "attention_mask" in batch:
            return int(batch["attention_mask"].sum())
        return sum(_count_tokens(v) for v in batch.values())
    return 0


def _save_checkpoint(accelerator: Accelerator, ckpt_dir: Path, state: dict) -> None:
    """Write to a temporary sibling and rename, so a kill mid-write leaves the old checkpoint intact."""
    tmp = ckpt_dir.with_name(ckpt_dir.name + ".tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    if accelerator.is_main_process:
        (tmp / "trainer_state.json").write_text(json.dumps(state))
        old = ckpt_dir.with_name(ckpt_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if ckpt_dir.exists():
            ckpt_dir.rename(old)
        tmp.rename(ckpt_dir)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


class _KeptEmbeddingGradient(torch.autograd.Function):
    """`F.embedding` whose weight gradient is written into a buffer kept across steps."""

    @staticmethod
    def forward(ctx, input_ids, weight, padding_idx, kept):
        ctx.save_for_backward(input_ids)
        ctx.padding_idx, ctx.kept = padding_idx, kept
        return torch.nn.functional.embedding(input_ids, weight, padding_idx)

    @staticmethod
    def backward(ctx, grad_output):
        (input_ids,) = ctx.saved_tensors
        return None, ctx.kept.gradient(input_ids, grad_output, ctx.padding_idx), None, None


class KeptEmbeddingGradients:
    """The input embedding's weight gradient written into one buffer kept across steps, instead of a
    fresh zeroed (vocabulary x hidden) tensor for every forward pass: on a CPU each fresh 113 MB
    buffer of SmolLM2's embedding costs ~0.1 s of page faults, and GD and NPO make two a step.
    The same numbers as torch's embedding backward (zeros, then each index's gradient added in
    order: `index_add_`; tests/test_engine.py). The buffer is reused only once nothing but this
    object holds it (autograd has summed it into the weight's gradient); while autograd still holds
    it (two forwards whose gradients reach the weight through the embedding alone), the gradient
    goes to a fresh tensor, as before."""

    def __init__(self, num_embeddings: int):
        self.rows = num_embeddings
        self.buffer: torch.Tensor | None = None
        self.touched: torch.Tensor | None = None

    def _free(self) -> bool:
        """Nothing else holds the buffer: neither the tensor (autograd's input buffers hold it
        itself) nor its storage (a view). 2: this tensor and the handle the count is read through."""
        storage_users = torch._C._storage_Use_Count(self.buffer.untyped_storage()._cdata)
        return self.buffer._use_count() == 1 and storage_users == 2

    def gradient(self, input_ids, grad_output, padding_idx) -> torch.Tensor:
        ids = input_ids.reshape(-1)
        grad = grad_output.reshape(ids.numel(), -1)
        if padding_idx is not None:  # torch's backward leaves the padding row's gradient at 0
            keep = ids != padding_idx
            ids, grad = ids[keep], grad[keep]
        shape = (self.rows, grad.shape[1])
        kept = self.buffer
        if kept is not None and (kept.shape, kept.dtype, kept.device) == (shape, grad.dtype, grad.device):
            if not self._free():  # autograd still holds it: a fresh one, as torch would
                return grad.new_zeros(shape).index_add_(0, ids, grad)
            kept.index_fill_(0, self.touched, 0)
        else:
            self.buffer = grad.new_zeros(shape)
        self.touched = ids
        return self.buffer.index_add_(0, ids, grad)


@contextmanager
def kept_embedding_gradients(model: torch.nn.Module):
    """Within: the model's input embedding (a plain `nn.Embedding`) trains through
    `KeptEmbeddingGradients`; a model with another embedding is left as it is."""
    embedding = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    plain = (
        type(embedding) is torch.nn.Embedding
        and embedding.max_norm is None
        and not embedding.scale_grad_by_freq
        and not embedding.sparse
    )
    if not plain:
        yield
        return
    kept = KeptEmbeddingGradients(embedding.num_embeddings)

    def forward(input_ids: torch.Tensor) -> torch.Tensor:
        if not (torch.is_grad_enabled() and embedding.weight.requires_grad):
            return torch.nn.functional.embedding(input_ids, embedding.weight, embedding.padding_idx)
        return _KeptEmbeddingGradient.apply(input_ids, embedding.weight, embedding.padding_idx, kept)

    embedding.forward = forward
    try:
        yield
    finally:
        del embedding.forward


def _activation_checkpointing(model: torch.nn.Module, on: bool) -> None:
    """Switch Hugging Face activation checkpointing (non-reentrant) on or off; the method's name
    changed in transformers 5.x."""
    if hasattr(model, "activation_checkpointing_enable"):
        if on:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.activation_checkpointing_disable()
    elif on:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_disable()


def train(
    model: torch.nn.Module,
    items: Sequence[Any],
    collate_fn: Callable[[list[Any]], Any],
    loss_fn: LossFn,
    cfg: TrainConfig,
    *,
    run_dir: Path | None = None,
    desc: str = "train",
    shuffle: bool = True,
    on_step: StepCallback | None = None,
    length_of: Callable[[Any], int] | None = None,
    log: tuple[LogConfig, Path] | None = None,
) -> TrainResult:
    """Train the parameters of `model` that require grad; return the unwrapped model.

    `loss_fn(model, batch)` does the forward passes and returns (scalar loss, dict of floats to show).
    `length_of(item)`, if given, groups items of similar length into batches (less padding).
    `log` = (config, directory): each step's loss and logged values also go to that tracker, as run `desc`."""
    if not items:
        raise ValueError(f"{desc}: nothing to train on (0 items)")
    set_seed(cfg.seed)
    # Accelerate keeps one global state per process; each run may choose its own precision.
    AcceleratorState._reset_state()
    tracker = log[0].tracker if log is not None and log[0].tracker != "none" else None
    if tracker is not None:
        _tracker_available(tracker)
    accelerator = Accelerator(
        mixed_precision=_mixed_precision(cfg.precision),
        gradient_accumulation_steps=cfg.grad_accum,
        split_batches=True,
        cpu=not torch.cuda.is_available(),
        log_with=tracker,
        project_dir=str(log[1]) if tracker is not None else None,
    )
    if tracker is not None:
        accelerator.init_trackers(re.sub(r"[^A-Za-z0-9._-]", "_", desc), config=cfg.model_dump(mode="json"))
    if cfg.batch_size % accelerator.num_processes:
        raise ValueError(
            f"batch_size {cfg.batch_size} must be a multiple of the process count {accelerator.num_processes}"
        )
    lengths = [length_of(item) for item in items] if length_of is not None else None
    sampler = EpochShuffle(len(items), cfg.seed, shuffle, lengths, cfg.batch_size)
    loader = DataLoader(list(items), batch_size=cfg.batch_size, sampler=sampler, collate_fn=collate_fn)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError(f"{desc}: the model has no trainable parameters")
    # The fused kernel: one pass over the parameters instead of several (0.07 s vs 0.3 s a step for
    # SmolLM2-135M on a 2-core CPU).
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in trainable)
    if cfg.optimizer_states == "bf16":
        optimizer = AdamWBF16States(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay, seed=cfg.seed)
    else:
        optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
    steps_per_epoch = math.ceil(len(loader) / cfg.grad_accum)
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    warmup = round(cfg.warmup_ratio * total_steps)
    scheduler = LambdaLR(optimizer, partial(lr_factor, cfg.scheduler, warmup=warmup, total=total_steps))
    model.train()
    if cfg.activation_checkpointing:
        if not getattr(model, "supports_gradient_checkpointing", False):
            raise ValueError(f"{desc}: activation_checkpointing: {type(model).__name__} does not support it")
        _activation_checkpointing(model, True)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    ckpt_dir = run_dir / "checkpoint" if run_dir is not None else None
    step, epoch0, skip_batches, tokens, losses, step_logs, seconds_before = 0, 0, 0, 0, [], [], 0.0
    if ckpt_dir is not None and (ckpt_dir / "trainer_state.json").is_file():
        accelerator.load_state(str(ckpt_dir))
        state = json.loads((ckpt_dir / "trainer_state.json").read_text())
        step, epoch0, skip_batches = state["step"], state["epoch"], state["batch_in_epoch"]
        tokens, losses = state["tokens"], state["losses"]
        step_logs = state.get("step_logs", [])  # absent in checkpoints of older versions
        seconds_before = state.get("seconds", 0.0)  # absent in checkpoints of older versions
    resumed_from = step

    bar = tqdm(
        total=total_steps,
        initial=step,
        desc=desc,
        mininterval=1.0,
        disable=not (cfg.progress and accelerator.is_main_process),
    )
    start, window_loss, window_n, window_logs = time.perf_counter(), 0.0, 0, {}
    tokens_at_start = tokens
    # what the run changes in the model, undone in `finally`: `numerics.label_logits` packs the
    # batches of a model switched so (its packed forwards and their recomputation under activation
    # checkpointing attend alike), and the embedding's gradient goes into a kept buffer
    run_scope, unwrapped = ExitStack(), accelerator.unwrap_model(model)
    if cfg.pack_sequences and packed_training_attention(unwrapped, True):
        run_scope.callback(packed_training_attention, unwrapped, False)
    run_scope.enter_context(kept_embedding_gradients(unwrapped))
    # closed also on an error, so that the error's message starts on a line of its own
    try:
        for epoch in range(epoch0, cfg.epochs):
            if step >= total_steps:
                break
            epoch_loader = loader
            batch_in_epoch = 0
            if epoch == epoch0 and skip_batches:
                epoch_loader = accelerator.skip_first_batches(loader, skip_batches)
                batch_in_epoch = skip_batches
            # Accelerate's loaders re-seed the sampler with their own iteration count on each pass;
            # setting it on the loader keeps the order a function of the real epoch, also after a resume.
            sampler.set_epoch(epoch)
            if hasattr(epoch_loader, "set_epoch"):
                epoch_loader.set_epoch(epoch)
            for batch in epoch_loader:
                batch_in_epoch += 1
                with accelerator.accumulate(model):
                    with accelerator.autocast():
                        loss, logs = loss_fn(model, batch)
                    loss_value = loss.detach().float().item()
                    if not math.isfinite(loss_value):
                        raise TrainingDiverged(
                            f"{desc}: loss is {loss_value} at step {step + 1}; stopped without saving "
                            "(lower the learning rate, or use precision=fp32)"
                        )
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and cfg.max_grad_norm is not None:
                        grad_norm = accelerator.clip_grad_norm_(trainable, cfg.max_grad_norm)
                        if not math.isfinite(float(grad_norm)):
                            raise TrainingDiverged(
                                f"{desc}: gradient norm is {float(grad_norm)} at step {step + 1}"
                            )
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                tokens += (
                    _count_tokens(batch) * accelerator.num_processes
                )  # slices are near-equal; no sync for a count
                window_loss, window_n = window_loss + loss_value, window_n + 1
                for key, value in logs.items():
                    window_logs[key] = window_logs.get(key, 0.0) + float(value)
                if not accelerator.sync_gradients:
                    continue
                step += 1
                losses.append(window_loss / window_n)
                step_logs.append({key: value / window_n for key, value in window_logs.items()})
                if tracker is not None:
                    accelerator.log({"loss": losses[-1], **step_logs[-1]}, step=step)
                window_loss, window_n, window_logs = 0.0, 0, {}
                elapsed = time.perf_counter() - start
                bar.update(1)
                bar.set_postfix(
                    loss=f"{losses[-1]:.4f}",
                    tok_s=f"{(tokens - tokens_at_start) / elapsed:.0f}",
                    **{k: f"{v:.4g}" for k, v in logs.items()},
                )
                if ckpt_dir is not None and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                    done_epoch = batch_in_epoch >= len(loader)
                    _save_checkpoint(
                        accelerator,
                        ckpt_dir,
                        {
                            "step": step,
                            "epoch": epoch + 1 if done_epoch else epoch,
                            "batch_in_epoch": 0 if done_epoch else batch_in_epoch,
                            "tokens": tokens,
                            "losses": losses,
                            "step_logs": step_logs,
                            "seconds": seconds_before + elapsed,
                        },
                    )
                if on_step is not None and on_step(step):
                    total_steps = step  # stop here, as if the schedule had ended
                if step >= total_steps:
                    break
    finally:
        bar.close()
        run_scope.close()
        if tracker is not None:
            accelerator.end_training()
    accelerator.wait_for_everyone()
    unwrapped.eval()
    if cfg.activation_checkpointing:
        _activation_checkpointing(unwrapped, False)
    seconds = seconds_before + time.perf_counter() - start
    accelerator.free_memory()
    return TrainResult(unwrapped, step, tokens, seconds, losses, step_logs, resumed_from, seconds_before)


def build_once(final: Path, meta_name: str, build: Callable[[Path], dict]) -> Path:
    """Build the run directory `final` unless it is complete; return it.

    `build(partial)` writes the run into `<final>.partial/` and returns its metadata, which
    `publish_run` writes as `meta_name` before renaming the folder into place. One process builds a
    key at a time (`locks.build_lock`): a second one waits, then reuses the finished run. A failed
    build removes its `.partial/` folder unless it holds a checkpoint to resume from."""
    if (final / meta_name).is_file():
        return final
    with build_lock(final):
        if (final / meta_name).is_file():  # built by another process while this one waited
            return final
        partial = final.with_name(final.name + ".partial")
        partial.mkdir(parents=True, exist_ok=True)
        try:
            meta = build(partial)
        except BaseException:
            if not any(partial.glob("**/checkpoint/trainer_state.json")):
                shutil.rmtree(partial, ignore_errors=True)
            raise
        return publish_run(partial, final, meta_name, meta)


def publish_run(partial: Path, final: Path, meta_name: str, meta: dict) -> Path:
    """Finish a run directory: drop its checkpoint, write its metadata last, rename it into place.

    The metadata file is what marks a run complete, and the rename is atomic, so a run is either
    absent, partial (resumable) or complete; never half-written under its final name."""
    shutil.rmtree(partial / "checkpoint", ignore_errors=True)
    (partial / meta_name).write_text(json.dumps(meta, indent=2))
    return publish_dir(partial, final)
