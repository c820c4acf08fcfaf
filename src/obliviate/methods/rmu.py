"""RMU, representation misdirection: scramble a layer's activations on forget inputs.

Li et al. 2024, "The WMDP Benchmark" (arXiv 2403.03218), `rmu/unlearn.py`; open-unlearning `rmu.py`.
With h_ℓ the output of decoder layer ℓ, u a fixed random unit vector (entries drawn from U[0,1),
as in WMDP, seeded) and h_ref the frozen target's activations, the loss is

    L = forget_weight · mean_t ‖h_ℓ,θ(F)_t - c·u‖² / d
      + retain_weight · mean_t ‖h_ℓ,θ(R)_t - h_ℓ,ref(R)_t‖² / d

averaged over answer tokens (open-unlearning masks to labels; WMDP averages all positions,
padding included). The forward pass stops at layer ℓ: nothing after it affects the loss.
Only layers up to ℓ can move h_ℓ, so by default RMU trains WMDP's choice: `mlp.down_proj` of
layers ℓ-2, ℓ-1, ℓ (`--set unlearn_params.mode=...` overrides).
Defaults: ℓ = a quarter of the depth (WMDP: layer 7 of 32), c = 20 and α = 100 (WMDP script
defaults; open-unlearning uses c = 2, α = 1). c must match the scale of the layer's activations:
sweep it.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from obliviate.methods._base import Method, MethodConfig, Needs
from obliviate.params import ParamsConfig, decoder_layers
from obliviate.training_data import IGNORE_INDEX


class RMUConfig(MethodConfig):
    name: Literal["rmu"] = "rmu"
    layer: int | None = Field(None, description="decoder layer ℓ whose output is steered (None: depth // 4)")
    steering_coeff: float = Field(20.0, gt=0, description="c, the norm of the target activation c·u")
    retain_weight: float = Field(100.0, ge=0, description="α, weight of the retain activation MSE")
    seed: int = Field(0, description="seed of the random direction u")


class _Stop(Exception):
    """Raised by the hook once layer ℓ has run: the rest of the forward pass is not needed."""


def layer_index(cfg: RMUConfig, n_layers: int) -> int:
    index = n_layers // 4 if cfg.layer is None else cfg.layer
    if not -n_layers <= index < n_layers:
        raise ValueError(f"rmu layer {index} does not exist: the model has {n_layers} layers")
    return index % n_layers


def layer_activations(model: torch.nn.Module, index: int, batch: dict) -> torch.Tensor:
    """Output (B, T, d) of decoder layer `index`, computing no layer after it."""
    captured = {}

    def hook(module, args, output):
        captured["h"] = output[0] if isinstance(output, tuple) else output
        raise _Stop

    handle = decoder_layers(model)[index].register_forward_hook(hook)
    try:
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    except _Stop:
        pass
    finally:
        handle.remove()
    return captured["h"].float()


def masked_mse(h: torch.Tensor, target: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """mean over answer tokens of mean_d (h - target)²."""
    per_token = (h - target).pow(2).mean(-1)
    return per_token[labels != IGNORE_INDEX].mean()


def random_direction(dim: int, seed: int) -> torch.Tensor:
    u = torch.rand(dim, generator=torch.Generator().manual_seed(seed))
    return u / u.norm()


def reference_activations(model: torch.nn.Module, batch: dict, cfg: RMUConfig) -> torch.Tensor:
    """h_ℓ of the starting model on retain inputs, (B, T, d): computed once per example."""
    return layer_activations(model, layer_index(cfg, len(decoder_layers(model))), batch)


def rmu_loss(model: torch.nn.Module, batch: dict, reference, cfg: RMUConfig):
    """`reference(rows)`: h_ℓ,ref of each retain row, (B, T, d) (`_reference.ReferenceValues`)."""
    index = layer_index(cfg, len(decoder_layers(model)))
    forget, retain = batch["forget"], batch["retain"]
    h_forget = layer_activations(model, index, forget)
    steer = cfg.steering_coeff * random_direction(h_forget.shape[-1], cfg.seed).to(h_forget.device)
    forget_term = masked_mse(h_forget, steer, forget["labels"])
    retain_term = torch.zeros((), device=h_forget.device)
    if cfg.retain_weight > 0:
        retain_term = masked_mse(layer_activations(model, index, retain), reference(retain), retain["labels"])
    loss = cfg.forget_weight * forget_term + cfg.retain_weight * retain_term
    return loss, {"forget_mse": forget_term.detach().item(), "retain_mse": retain_term.detach().item()}


def rmu_params(cfg: RMUConfig, n_layers: int) -> ParamsConfig:
    """WMDP's trainable set: `mlp.down_proj` of layers ℓ-2 .. ℓ."""
    index = layer_index(cfg, n_layers)
    layers = tuple(range(max(0, index - 2), index + 1))
    return ParamsConfig(mode="layers", layers=layers, modules=("mlp.down_proj",))


METHOD = Method(
    RMUConfig,
    Needs(retain=True, reference=False, own_retain_term=True),
    rmu_loss,
    default_params=rmu_params,
    reference_values=reference_activations,
    reference_inputs=("retain",),
    summary="‖h_ℓ(F) − c·u‖² + α·‖h_ℓ(R) − h_ref(R)‖²",
    version=2,
)
