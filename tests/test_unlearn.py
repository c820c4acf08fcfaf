"""GA and GD end to end on the smoke target: the forget loss goes up, the output is a HF model."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from obliviate.data.records import DataError
from obliviate.engine import TrainingDiverged
from obliviate.methods import method_config
from obliviate.params import ParamsConfig, select_parameters, trainable_names
from obliviate.targets import load_target
from obliviate.unlearn import unlearn
from tests.conftest import mean_nll


@pytest.mark.parametrize("name", ["ga", "gd"])
def test_method_raises_forget_loss(name, smoke_cfg, smoke_benchmark, smoke_target, target_nlls):
    run = unlearn(smoke_cfg, method_config(name), smoke_target, smoke_benchmark)
    model = AutoModelForCausalLM.from_pretrained(run / "model")  # standard Hugging Face format
    _, tokenizer = load_target(smoke_target)
    split = smoke_benchmark.split(smoke_cfg.split)
    forget = mean_nll(model, tokenizer, split.forget, smoke_cfg.max_length)
    retain = mean_nll(model, tokenizer, split.retain, smoke_cfg.max_length)
    assert forget > target_nlls["forget"] + 1.0, (forget, target_nlls)
    meta = json.loads((run / "unlearn.json").read_text())
    assert meta["parameters_changed"] > 0
    if name == "gd":
        assert retain < forget  # the retain term holds retain data better than forget


def test_gd_keeps_retain_better_than_ga(smoke_cfg, smoke_benchmark, smoke_target):
    _, tokenizer = load_target(smoke_target)
    split = smoke_benchmark.split(smoke_cfg.split)
    retain = {}
    for name in ("ga", "gd"):
        model, _ = load_target(unlearn(smoke_cfg, method_config(name), smoke_target, smoke_benchmark))
        retain[name] = mean_nll(model, tokenizer, split.retain, smoke_cfg.max_length)
    assert retain["gd"] < retain["ga"]


def test_second_run_is_reused(smoke_cfg, smoke_benchmark, smoke_target):
    first = unlearn(smoke_cfg, method_config("ga"), smoke_target, smoke_benchmark)
    stamp = (first / "unlearn.json").stat().st_mtime_ns
    assert unlearn(smoke_cfg, method_config("ga"), smoke_target, smoke_benchmark) == first
    assert (first / "unlearn.json").stat().st_mtime_ns == stamp


def test_method_configs_reject_bad_values():
    with pytest.raises(ValueError, match="unknown method 'foo'"):
        method_config("foo")
    with pytest.raises(ValueError):
        method_config("ga", {"retain_weight": 1.0})  # GA has no retain term
    with pytest.raises(ValueError):
        method_config("gd", {"retain_wieght": 1.0})  # typo fails


@pytest.mark.parametrize("mode", ["lora", "last_k"])
def test_parameter_modes_change_only_their_parameters(mode, smoke_cfg, smoke_benchmark, smoke_target):
    model, _ = load_target(smoke_target)
    params = ParamsConfig(mode=mode, last_k=1, lora_rank=4)
    names = trainable_names(select_parameters(model, params))
    if mode == "lora":
        assert names and all("lora_" in n for n in names)
    else:
        assert names and all(".layers.1." in n for n in names)  # the smoke model has 2 layers
    cfg = smoke_cfg.model_copy(update={"unlearn_params": params})
    before, _ = load_target(smoke_target)
    run = unlearn(cfg, method_config("ga"), smoke_target, smoke_benchmark)
    after, _ = load_target(run)
    before_state, after_state = before.state_dict(), after.state_dict()
    changed = {k for k in before_state if not torch.equal(before_state[k], after_state[k])}
    assert changed
    # the run counts changed entries against the target's saved weights, one tensor at a time
    parameters = dict(after.named_parameters())  # a tied output layer is one parameter, counted once
    entries = sum(int((before_state[k] != after_state[k]).sum()) for k in changed if k in parameters)
    assert json.loads((run / "unlearn.json").read_text())["parameters_changed"] == entries
    if mode == "last_k":
        assert all(".layers.1." in k for k in changed)
    else:  # merged LoRA changes exactly the adapted projections
        assert all(k.endswith("_proj.weight") for k in changed)


def test_merging_an_output_layer_adapter_keeps_the_tied_input_embeddings(smoke_target, tmp_path):
    from obliviate.engine import save_model
    from obliviate.params import finalize

    model, tokenizer = load_target(smoke_target)
    assert model.config.tie_word_embeddings
    embeddings = model.get_input_embeddings().weight.detach().clone()
    params = ParamsConfig(mode="lora", lora_rank=4, lora_targets=("q_proj", "lm_head"))
    adapted = select_parameters(model, params)
    for name, p in adapted.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)  # B starts at zero: give the adapter an effect
    ids = torch.tensor([[1, 5, 9, 14, 20]])
    with torch.no_grad():
        expected = adapted(ids).logits
    merged = finalize(adapted, params)
    assert torch.equal(merged.get_input_embeddings().weight, embeddings)
    save_model(merged, tokenizer, tmp_path / "model", "merged")
    reloaded, _ = load_target(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, expected, atol=1e-4, rtol=1e-4)


def test_errors_before_training_leave_no_folder(smoke_cfg, smoke_benchmark, smoke_target, tmp_path):
    unknown_split = smoke_cfg.model_copy(update={"out_dir": tmp_path, "split": "nope"})
    with pytest.raises(DataError, match="has no split 'nope'"):
        unlearn(unknown_split, method_config("ga"), smoke_target, smoke_benchmark)
    too_many_layers = smoke_cfg.model_copy(
        update={"out_dir": tmp_path, "unlearn_params": ParamsConfig(mode="last_k", last_k=3)}
    )
    with pytest.raises(ValueError, match="^last_k=3 but the model has 2 layers$"):
        unlearn(too_many_layers, method_config("ga"), smoke_target, smoke_benchmark)
    assert list(tmp_path.iterdir()) == []


def test_a_diverged_run_is_not_saved_and_leaves_no_folder(smoke_cfg, smoke_benchmark, smoke_target, tmp_path):
    # A finite loss and gradient, but a step of 1e39 overflows float32 weights to Inf/NaN.
    huge_step = smoke_cfg.unlearn_train.model_copy(update={"lr": 1e39, "max_steps": 1})
    cfg = smoke_cfg.model_copy(update={"out_dir": tmp_path, "unlearn_train": huge_step})
    with pytest.raises(TrainingDiverged, match=r"^ga: weight model\.\S+ is not finite after training"):
        unlearn(cfg, method_config("ga"), smoke_target, smoke_benchmark)
    assert list((tmp_path / "unlearn").glob("ga-*")) == []  # neither the run nor its .partial folder


def test_a_method_version_from_2_on_changes_its_key(smoke_cfg, smoke_benchmark, smoke_target, monkeypatch):
    from dataclasses import replace

    from obliviate import unlearn as unlearn_module

    gd = method_config("gd")
    before = unlearn_module.unlearn_key(smoke_cfg, gd, smoke_target, smoke_benchmark)
    monkeypatch.setitem(unlearn_module.METHODS, "gd", replace(unlearn_module.METHODS["gd"], version=2))
    assert unlearn_module.unlearn_key(smoke_cfg, gd, smoke_target, smoke_benchmark) != before


def test_target_adapter_mode_trains_the_lora_targets_own_adapter(smoke_cfg, smoke_benchmark, smoke_target):
    import math

    from safetensors.torch import load_file

    from obliviate.presets import resolve_config
    from obliviate.targets import build_target

    # the recipe of the `obliviate erase` CLI tests' short LoRA target
    lora_overrides = [
        *("target_params.mode=lora", "target_train.epochs=10"),
        *("target_train.lr=1e-3", "target_train.precision=fp32"),
    ]
    cfg = resolve_config(
        "smoke",
        ["target_train.progress=false", "unlearn_train.progress=false", *lora_overrides],
        cache_dir=smoke_cfg.cache_dir,
        out_dir=smoke_cfg.out_dir,
    )
    target = build_target(cfg, smoke_benchmark, "target")
    short = cfg.unlearn_train.model_copy(update={"max_steps": 2, "precision": "fp32"})
    own = cfg.model_copy(
        update={"unlearn_params": ParamsConfig(mode="target_adapter"), "unlearn_train": short}
    )
    npo = method_config("npo", {"retain_weight": 0.0})
    run = unlearn(own, npo, target, smoke_benchmark)
    # the reference is the target itself (its adapter on), so NPO's first loss is 2/β · log 2
    first = json.loads((run / "unlearn.json").read_text())["step_logs"][0]
    assert first["forget_term"] == pytest.approx(2 / npo.beta * math.log(2), rel=1e-4)
    before = load_file(target / "adapter" / "adapter_model.safetensors")
    after = load_file(run / "adapter" / "adapter_model.safetensors")
    assert before.keys() == after.keys()
    moved = [(after[k] - before[k]).norm() / before[k].norm() for k in before if "lora_A" in k]
    assert 0 < max(moved) < 0.5  # trained from the target's values, not from a new random init
    with pytest.raises(ValueError, match="not a LoRA target"):
        unlearn(
            smoke_cfg.model_copy(update={"unlearn_params": own.unlearn_params}),
            npo,
            smoke_target,
            smoke_benchmark,
        )
