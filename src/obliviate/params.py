"""Which parameters a run trains: all of them, a LoRA adapter (peft), the last k decoder layers, or
named layers (optionally only some of their modules).

model = select_parameters(model, ParamsConfig(mode="lora", lora_rank=8))
model = select_parameters(model, ParamsConfig(mode="layers", layers=(5, 6, 7), modules=("mlp.down_proj",)))
model = finalize(model, ParamsConfig(mode="lora"))   # merges the adapter back (unless keep_adapter)

mode="target_adapter" trains the LoRA target's own adapter, loaded by the caller
(`targets.load_lora_target`), instead of a new one on the merged target.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from obliviate.config_base import StrictModel

# the linear layers of a Llama-style decoder layer
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "gate_proj")
# the modes whose trained parameters are a LoRA adapter, saved on its own and merged by `finalize`
ADAPTER_MODES = ("lora", "target_adapter")


class ParamsConfig(StrictModel):
    """The trainable parameter set of a fine-tuning or unlearning run."""

    mode: Literal["full", "lora", "target_adapter", "last_k", "layers"] = Field(
        "full",
        description="full fine-tuning, a new LoRA adapter, the LoRA target's own adapter (its lora_* "
        "fields then unused), the last k layers, or the named layers",
    )
    lora_rank: int = Field(8, ge=1, description="LoRA rank r")
    lora_alpha: float = Field(16.0, gt=0, description="LoRA scale numerator (scale = alpha / r)")
    lora_targets: tuple[str, ...] = Field(
        PROJECTIONS,
        description="module names that get LoRA adapters",
    )
    last_k: int = Field(2, ge=1, description="with mode=last_k: train the last k decoder layers")
    train_embeddings: bool = Field(False, description="with mode=last_k: also train embeddings and LM head")
    layers: tuple[int, ...] = Field(
        (), description="with mode=layers: decoder layer indices (negative: from the end)"
    )
    modules: tuple[str, ...] = Field(
        (), description="with mode=layers: only parameters whose name contains one of these (empty: all)"
    )


def params_key(cfg: ParamsConfig) -> dict:
    """The fields that identify a run's parameter set in cache keys.

    `layers` / `modules` only act in mode=layers; leaving them out of the other modes' keys keeps
    targets cached before they existed valid."""
    return cfg.model_dump(exclude=None if cfg.mode == "layers" else {"layers", "modules"})


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The stack of decoder layers of a HF causal LM (Llama, OLMo, Mistral, GPT-NeoX, GPT-2 layouts)."""
    model = getattr(model, "module", model)  # a DistributedDataParallel wrapper
    if hasattr(model, "get_base_model"):  # a peft model
        model = model.get_base_model()
    for path in ("model.layers", "model.decoder.layers", "gpt_neox.layers", "transformer.h"):
        module = model
        for part in path.split("."):
            module = getattr(module, part, None)
            if module is None:
                break
        if isinstance(module, torch.nn.ModuleList):
            return module
    raise ValueError(f"cannot find the decoder layers of {type(model).__name__}")


def check_params(model: torch.nn.Module, cfg: ParamsConfig) -> None:
    """Fail on a parameter set the model does not have (a layer index, `last_k`), before any work."""
    if cfg.mode not in ("layers", "last_k"):
        return
    n_layers = len(decoder_layers(model))
    if cfg.mode == "last_k" and cfg.last_k > n_layers:
        raise ValueError(f"last_k={cfg.last_k} but the model has {n_layers} layers")
    if cfg.mode == "layers":
        if not cfg.layers:
            raise ValueError("mode=layers needs a list of layer indices (unlearn_params.layers)")
        for index in cfg.layers:
            if not -n_layers <= index < n_layers:
                raise ValueError(f"layer {index} does not exist: the model has {n_layers} layers")


def select_parameters(model: torch.nn.Module, cfg: ParamsConfig) -> torch.nn.Module:
    """Return the model with exactly the configured parameters requiring grad."""
    check_params(model, cfg)
    if cfg.mode == "full":
        model.requires_grad_(True)
        return model
    if cfg.mode == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=0.0,
            target_modules=list(cfg.lora_targets),
            bias="none",
            task_type="CAUSAL_LM",
        )
        return get_peft_model(model, lora)
    if cfg.mode == "target_adapter":
        if not any("lora_" in name and p.requires_grad for name, p in model.named_parameters()):
            raise ValueError("mode=target_adapter needs the target loaded with its trainable LoRA adapter")
        return model
    model.requires_grad_(False)
    layers = decoder_layers(model)
    if cfg.mode == "layers":
        for index in cfg.layers:
            for name, param in layers[index].named_parameters():
                if not cfg.modules or any(m in name for m in cfg.modules):
                    param.requires_grad_(True)
        return model
    for layer in layers[-cfg.last_k :]:
        layer.requires_grad_(True)
    if cfg.train_embeddings:
        model.get_input_embeddings().requires_grad_(True)
        model.get_output_embeddings().requires_grad_(True)
    return model


def finalize(model: torch.nn.Module, cfg: ParamsConfig) -> torch.nn.Module:
    """A plain model for saving and evaluation: LoRA adapters merged into the weights."""
    if cfg.mode in ADAPTER_MODES:
        untie_adapted_embeddings(model)
        model = model.merge_and_unload()
    model.requires_grad_(False)
    return model


def untie_adapted_embeddings(model: torch.nn.Module) -> None:
    """Give a tied output layer its own weight when an adapter sits on it or on the input embeddings.

    Tied, both are one tensor: merging an `lm_head` adapter would add it to the input embeddings too
    (logits off by ~37 on the smoke model), and saving would keep only one of the two."""
    base = model.get_base_model()
    if not getattr(base.config, "tie_word_embeddings", False):
        return
    output, inputs = base.get_output_embeddings(), base.get_input_embeddings()
    if not (hasattr(output, "base_layer") or hasattr(inputs, "base_layer")):
        return
    output = getattr(output, "base_layer", output)
    output.weight = torch.nn.Parameter(output.weight.detach().clone(), requires_grad=False)
    base.config.tie_word_embeddings = False


def trainable_names(model: torch.nn.Module) -> list[str]:
    return [name for name, p in model.named_parameters() if p.requires_grad]


def count_trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
