"""ULD: unlearning from logit difference (Ji et al. 2024, "Reversing the Forget-Retain Objectives",
arXiv 2406.08607; the authors' `uld/model/contrastllm.py`).

An assistant model is trained to do the opposite of unlearning: remember the forget set and forget
the retain set. The served logits are the target's minus the assistant's,

    z = z_target − w · z_assistant,

with the assistant's logits set to 0 outside the target's top tokens (the relative-top filter of
DoLa that ULD applies, τ = `relative_top`): the assistant only re-ranks tokens the target finds
plausible. Where the assistant is flat (retain inputs) the subtraction changes nothing.

The assistant is the target's first k decoder layers with its final norm and output head, and a
LoRA adapter (r 16, α 32) trained on the shared engine with

    L = NLL(forget) + retain_weight · KL(Uniform ‖ p_assistant) on retain inputs

(the paper's code: k = 8 of 32 layers, retain weight 5, lr 1e-3, w = 1 in its config and 0.8 in
its TOFU evaluation, τ = 0.1 / 0.01). The KL is averaged over the non-padding positions (the
authors average over all B·T positions). The adapter is merged and the assistant saved as a plain
model directory, cached like an unlearning run. Every pass (generation, answer log-probs, the
token statistics of MIA, perplexity) goes through the combined logits, so every metric sees the
served distribution. The target's weights are unchanged.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

import torch
from pydantic import Field

from obliviate.engine import ENGINE_VERSION, TrainConfig, build_once, save_model, train, train_key
from obliviate.eval import passes
from obliviate.eval.metrics import utility
from obliviate.inference import InferenceConfig, InferenceContext, InferenceMethod
from obliviate.keys import content_key
from obliviate.numerics import forward_logits, kl_from_uniform, log_probs, nll
from obliviate.params import ParamsConfig, count_trainable, decoder_layers, finalize, select_parameters
from obliviate.peak_memory import PeakMemory
from obliviate.subjects.base import Subject
from obliviate.subjects.hf import HFSubject, draft_tokens


class ULDConfig(InferenceConfig):
    name: Literal["uld"] = "uld"
    assistant_layers: int = Field(
        0,
        ge=0,
        description="the target's first k layers form the assistant (0: a quarter; the paper: 8 of 32)",
    )
    lora_rank: int = Field(16, ge=1, description="LoRA rank of the assistant")
    lora_alpha: float = Field(32.0, gt=0, description="LoRA alpha of the assistant")
    retain_weight: float = Field(5.0, ge=0, description="weight of KL(uniform ‖ assistant) on retain inputs")
    weight: float = Field(1.0, gt=0, description="w in z_target − w·z_assistant (paper's TOFU eval: 0.8)")
    relative_top: float = Field(
        0.1, ge=0, lt=1, description="τ of the relative-top filter of the assistant's logits (0: none)"
    )
    lr: float = Field(1e-3, gt=0, description="assistant learning rate")
    epochs: int = Field(10, ge=1, description="assistant training epochs")
    batch_size: int = Field(8, ge=1, description="forget (+ retain) pairs per step")
    seed: int = Field(0, description="seed of the example order and the retain pairing")


# --- the served logits ------------------------------------------------------------------------------


def relative_top_mask(target_logits: torch.Tensor, relative_top: float) -> torch.Tensor:
    """True where the assistant's logit is zeroed: the target's log p is below
    min(max log p + ln τ, log p of its ⌊τV⌋-th most probable token) (ULD's filter; at least one
    token is kept)."""
    logp = log_probs(target_logits)
    keep = max(1, int(relative_top * logp.shape[-1]))
    kth_best = logp.topk(keep, dim=-1).values[..., -1:]
    threshold = torch.minimum(logp.max(-1, keepdim=True).values + math.log(relative_top), kth_best)
    return logp < threshold


def combined_logits(
    target_logits: torch.Tensor, assistant_logits: torch.Tensor, weight: float, relative_top: float
) -> torch.Tensor:
    """z_target − w · z_assistant in float32, the assistant zeroed by the relative-top filter."""
    target_logits, assistant_logits = target_logits.float(), assistant_logits.float()
    if relative_top > 0:
        assistant_logits = assistant_logits.masked_fill(relative_top_mask(target_logits, relative_top), 0.0)
    return target_logits - weight * assistant_logits


@contextmanager
def _layers_numbered_after(model: torch.nn.Module, offset: int):
    """Within: the model's attention layers write to KV-cache layers offset..offset+k-1, so the
    target (layers 0..offset-1) and the assistant share one cache, which the decoder pads,
    selects and joins as one."""
    numbered = [m for m in model.modules() if isinstance(getattr(m, "layer_idx", None), int)]
    for m in numbered:
        m.layer_idx += offset
    try:
        yield
    finally:
        for m in numbered:
            m.layer_idx -= offset


class LogitDifferenceModel(torch.nn.Module):
    """A causal LM whose logits are `combined_logits` of a target and an assistant over the same
    inputs: the passes (`eval/passes.py`) run it like any model. The assistant runs first, so the
    positions the cache reports (from the target's first layer) are those before this step."""

    def __init__(self, target, assistant, weight: float, relative_top: float):
        super().__init__()
        self.target, self.assistant = target, assistant
        self.weight, self.relative_top = weight, relative_top
        self.config, self.generation_config = target.config, target.generation_config
        self.offset = len(decoder_layers(target))

    def forward(self, **inputs):
        if inputs.get("past_key_values", inputs.get("cache")) is not None:
            with _layers_numbered_after(self.assistant, self.offset):
                assistant_logits = self.assistant(**inputs).logits
        else:
            assistant_logits = self.assistant(**inputs).logits
        target_logits = self.target(**inputs).logits
        logits = combined_logits(target_logits, assistant_logits, self.weight, self.relative_top)
        return SimpleNamespace(logits=logits)


class LogitDifferenceSubject(Subject):
    """The target subject's plain model minus an assistant model directory's, in every pass."""

    def __init__(self, target: Subject, assistant: HFSubject, weight: float, relative_top: float):
        self.target, self.assistant, self.weight, self.relative_top = target, assistant, weight, relative_top
        self.name = f"{target.name} − assistant"
        self.fingerprint = content_key(
            {
                "wrapper": "logit_difference",
                "target": target.fingerprint,
                "assistant": assistant.fingerprint,
                "weight": weight,
                "relative_top": relative_top,
            }
        )
        self.dtype, self.device = target.dtype, target.device

    @property
    def numerics(self) -> str:
        return "batched"

    def served(self):
        """(combined model, tokenizer)."""
        target, tokenizer = self.target.hf_model()
        assistant, _ = self.assistant.hf_model()
        return LogitDifferenceModel(target, assistant, self.weight, self.relative_top), tokenizer

    def generate(self, prompts, max_new_tokens, batch_size, drafts=None) -> list[str]:
        model, tokenizer = self.served()
        draft_ids = [draft_tokens(tokenizer, d) for d in drafts] if drafts is not None else None
        return passes.greedy_generate(model, tokenizer, prompts, max_new_tokens, batch_size, draft_ids)

    def sample(self, prompts, k, max_new_tokens, temperature, top_p, seed):
        return passes.sample_generate(*self.served(), prompts, k, max_new_tokens, temperature, top_p, seed)

    def token_stats(self, texts, batch_size):
        return passes.token_statistics(*self.served(), texts, batch_size)

    def answer_logprobs(self, prompts, answers, batch_size):
        return passes.answer_logprobs(*self.served(), prompts, answers, batch_size)

    def perplexity(self, text, window, stride, batch_size) -> float:
        return utility.perplexity(*self.served(), text, window, stride, batch_size)

    def release(self) -> None:
        self.target.release()
        self.assistant.release()

    def with_weights(self, attack) -> LogitDifferenceSubject:
        """The attack reaches the target's weights; the assistant is served as trained."""
        return LogitDifferenceSubject(
            self.target.with_weights(attack), self.assistant, self.weight, self.relative_top
        )


# --- the assistant --------------------------------------------------------------------------------


def truncate_layers(model: torch.nn.Module, k: int) -> torch.nn.Module:
    """`model` keeping its first `k` decoder layers (then its final norm and output head)."""
    layers = decoder_layers(model)
    if not 1 <= k <= len(layers):
        raise ValueError(f"uld: assistant_layers={k}, but the target has {len(layers)} layers")
    if getattr(model.get_decoder(), "layers", None) is not layers:
        raise ValueError(f"uld: cannot cut the layers of {type(model).__name__} (no decoder.layers)")
    model.get_decoder().layers = layers[:k]
    model.config.num_hidden_layers = k
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = model.config.layer_types[:k]
    return model


def assistant_loss(model: torch.nn.Module, batch: dict, cfg: ULDConfig):
    """NLL of the forget answers + retain_weight · KL(Uniform ‖ p) over the retain positions."""
    remember = nll(model, batch["forget"])
    logs = {"forget_nll": remember.detach().item()}
    if "retain" not in batch or cfg.retain_weight == 0:
        return remember, logs
    mask = batch["retain"]["attention_mask"].bool()
    flatten = kl_from_uniform(log_probs(forward_logits(model, batch["retain"])))[mask].mean()
    logs["retain_uniform_kl"] = flatten.detach().item()
    return remember + cfg.retain_weight * flatten, logs


def assistant_layers(cfg: ULDConfig, n_layers: int) -> int:
    return cfg.assistant_layers or max(1, math.ceil(n_layers / 4))


def build_assistant(ctx: InferenceContext, cfg: ULDConfig) -> tuple[Path, dict]:
    """Train (or reuse) the assistant; (its run directory, its metadata)."""
    from obliviate.models import load_model
    from obliviate.training_data import tokenize_documents
    from obliviate.unlearn import collate_items, item_length, paired_plan

    run_train = ctx.cfg.unlearn_train  # the machine's settings: precision, progress bar
    train_cfg = TrainConfig(
        lr=cfg.lr,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        scheduler="constant",
        seed=cfg.seed,
        precision=run_train.precision,
        progress=run_train.progress,
    )
    key = content_key(
        {
            "engine": ENGINE_VERSION,
            "target": ctx.target_dir.parent.name,
            "data": ctx.benchmark.fingerprint(),
            "split": ctx.split_name,
            "max_length": ctx.cfg.max_length,
            "assistant": cfg.model_dump(exclude={"weight", "relative_top"}),  # serving settings
            "train": train_key(train_cfg),
        }
    )
    out = ctx.cfg.out_dir / "inference" / f"uld-{key}"

    def build(partial):
        model, tokenizer = load_model(ctx.target_dir)
        n_layers = len(decoder_layers(model))
        model = truncate_layers(model, assistant_layers(cfg, n_layers))
        params = ParamsConfig(mode="lora", lora_rank=cfg.lora_rank, lora_alpha=cfg.lora_alpha)
        model = select_parameters(model, params)
        forget = tokenize_documents(tokenizer, ctx.split.forget, ctx.cfg.max_length)
        retain = (
            tokenize_documents(tokenizer, ctx.split.retain, ctx.cfg.max_length) if cfg.retain_weight else []
        )
        items = paired_plan(forget, retain, None, None, train_cfg)[0].items
        start = time.perf_counter()
        with PeakMemory() as peak:
            result = train(
                model,
                items,
                lambda chunk: collate_items(chunk, tokenizer.pad_token_id),
                lambda m, batch: assistant_loss(m, batch, cfg),
                train_cfg,
                run_dir=partial / "checkpoint",
                desc="uld assistant",
                length_of=item_length,
                log=ctx.cfg.tracker(partial),
            )
        trainable = count_trainable(result.model)
        save_model(finalize(result.model, params), tokenizer, partial / "assistant", "uld assistant")
        return {
            "config": cfg.model_dump(),
            "target": str(ctx.target_dir),
            "split": ctx.split_name,
            "layers": f"{assistant_layers(cfg, n_layers)} of {n_layers}",
            "trainable_parameters": trainable,
            "steps": result.steps,
            "tokens": result.tokens,
            "seconds": round(time.perf_counter() - start + result.resumed_seconds, 2),
            "peak_rss_mb": peak.rss_mb,
            "losses": result.losses,
            "step_logs": result.step_logs,
        }

    run = build_once(out, "uld.json", build)
    return run, json.loads((run / "uld.json").read_text())


def build(ctx: InferenceContext, cfg: ULDConfig):
    run, meta = build_assistant(ctx, cfg)
    assistant = HFSubject(run / "assistant", dtype=ctx.target.dtype, device=ctx.target.device)
    subject = LogitDifferenceSubject(ctx.target, assistant, cfg.weight, cfg.relative_top)
    cost = {
        "train_seconds": meta["seconds"],
        "peak_rss_mb": meta["peak_rss_mb"],
        "parameters_changed": 0,  # of the target: the assistant is a separate model
        "assistant_layers": meta["layers"],
        "curve": {"losses": meta["losses"], "step_logs": meta["step_logs"]},
    }
    return subject, cost


METHOD = InferenceMethod(ULDConfig, build, summary="z_target − w·z_assistant (assistant remembers F)")
