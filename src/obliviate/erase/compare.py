"""How close is the erased adapter to retraining? Retrain on D′ with the engine, then compare.

- `retrain_lora`: LoRA fine-tuning on D′ with the target's loss, either warm-started from θ̂ (what
  an influence function approximates: the minimiser of R′ nearest θ̂) or from a fresh adapter
  with the target's full recipe (the retrain oracle of the request). Timed.
- `merged_deltas`: the merged weight change ΔW = (α/r)·B·A of every LoRA module. Raw A and B are
  not comparable across models: BA = (BG)(G⁻¹A) for any invertible G.
- `weight_closeness`: cosine and relative distance of ΔW_erase − ΔW_target against
  ΔW_retrain − ΔW_target, over all modules together, plus the worst and median module.
- `token_kl`: teacher-forced KL(p ‖ q) per label token (the full next-token distributions),
  averaged over the label tokens of a set of examples.
- `kl_gap_closed` = (KL(retrain ‖ original) − KL(retrain ‖ erased)) / KL(retrain ‖ original):
  1 = the erased model predicts like the retrained one, 0 = no closer than the original, < 0 = worse.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch

from obliviate.engine import LossFn, TrainConfig, train
from obliviate.numerics import kl, log_probs, shift_labels, shift_logits
from obliviate.training_data import Example, collate

LogitsFn = Callable[[dict[str, torch.Tensor]], torch.Tensor]


def pooled_nll_loss(model, batch):
    """The NLL the LUME targets train with: HF's token mean over the whole batch."""
    return model(**batch).loss, {}


def retrain_lora(
    model: torch.nn.Module,
    examples: Sequence[Example],
    pad_id: int,
    train_cfg: TrainConfig,
    loss_fn: LossFn = pooled_nll_loss,
):
    """Train the adapter of a peft `model` on `examples` with the target's loss; (model, seconds)."""
    start = time.perf_counter()
    result = train(
        model,
        list(examples),
        lambda items: collate(items, pad_id),
        loss_fn,
        train_cfg,
        desc="retrain",
        length_of=lambda ex: len(ex.input_ids),
    )
    # the engine trains where accelerate puts the model (a GPU when there is one); erase's
    # comparisons run on the CPU, beside the edited model
    return result.model.to("cpu").eval(), time.perf_counter() - start


def merged_deltas(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Module name -> (α/r)·B·A (in the base weight's layout) of every LoRA module."""
    from peft.tuners.lora import LoraLayer

    with torch.no_grad():
        return {
            name: module.get_delta_weight(module.active_adapters[0]).detach().double().clone()
            for name, module in model.named_modules()
            if isinstance(module, LoraLayer)
        }


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()).clamp(min=1e-300))


def weight_closeness(
    target: dict[str, torch.Tensor], erased: dict[str, torch.Tensor], retrained: dict[str, torch.Tensor]
) -> dict:
    """Cosine and relative distance between the erase and retrain weight changes from the target."""
    erase_change = {k: erased[k] - target[k] for k in target}
    retrain_change = {k: retrained[k] - target[k] for k in target}
    flat_erase = torch.cat([v.reshape(-1) for v in erase_change.values()])
    flat_retrain = torch.cat([v.reshape(-1) for v in retrain_change.values()])
    module_cosines = [_cosine(erase_change[k].reshape(-1), retrain_change[k].reshape(-1)) for k in target]
    return {
        "cosine": _cosine(flat_erase, flat_retrain),
        "relative_distance": float(
            (flat_erase - flat_retrain).norm() / flat_retrain.norm().clamp(min=1e-300)
        ),
        "erase_change_norm": float(flat_erase.norm()),
        "retrain_change_norm": float(flat_retrain.norm()),
        "module_cosine_min": min(module_cosines),
        "module_cosine_median": statistics.median(module_cosines),
    }


def model_logits(model: torch.nn.Module) -> LogitsFn:
    def logits(batch):
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    return logits


def token_kl(
    p_logits: LogitsFn, q_logits: LogitsFn, examples: Sequence[Example], pad_id: int, batch_size: int = 8
) -> float:
    """Mean over label tokens of KL(p ‖ q) between two models' next-token distributions."""
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            batch = collate(examples[start : start + batch_size], pad_id)
            log_p = log_probs(shift_logits(p_logits(batch)), torch.float64)  # (B, T-1, V)
            log_q = log_probs(shift_logits(q_logits(batch)), torch.float64)
            _, mask = shift_labels(batch["labels"])  # (B, T-1)
            per_token = kl(log_p, log_q)  # (B, T-1)
            total += float(per_token[mask].sum())
            count += int(mask.sum())
    return total / max(count, 1)


def kl_gap_closed(kl_retrain_original: float, kl_retrain_erased: float) -> float | None:
    if kl_retrain_original <= 0:
        return None
    return (kl_retrain_original - kl_retrain_erased) / kl_retrain_original


def function_closeness(
    retrained: LogitsFn,
    erased: LogitsFn,
    original: LogitsFn,
    forget: Sequence[Example],
    retain: Sequence[Example],
    pad_id: int,
    batch_size: int = 8,
) -> dict:
    """KL(retrained ‖ erased), KL(retrained ‖ original) and the gap closed, on forget and retain inputs."""
    out = {}
    for side, examples in (("forget", forget), ("retain", retain)):
        if not examples:
            continue
        kl_erased = token_kl(retrained, erased, examples, pad_id, batch_size)
        kl_original = token_kl(retrained, original, examples, pad_id, batch_size)
        out[f"kl_retrain_erased/{side}"] = kl_erased
        out[f"kl_retrain_original/{side}"] = kl_original
        out[f"kl_gap_closed/{side}"] = kl_gap_closed(kl_original, kl_erased)
    return out
