"""Every registered method on the smoke target, and each loss against a value computed by hand."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from obliviate.engine import TrainConfig
from obliviate.erase.objective import token_nll
from obliviate.methods import METHODS, method_config
from obliviate.methods._logps import answer_logps, kl_from_reference
from obliviate.methods._reference import AdapterOff, ReferenceValues
from obliviate.methods.idkdpo import idkdpo_loss
from obliviate.methods.npo import npo_loss
from obliviate.methods.rmu import masked_mse, random_direction, rmu_params
from obliviate.methods.simnpo import simnpo_loss
from obliviate.methods.sugd import sugd_loss, sugd_plan
from obliviate.methods.undial import undial_loss
from obliviate.numerics import nll
from obliviate.params import ParamsConfig, select_parameters
from obliviate.targets import load_target
from obliviate.training_data import Example, collate
from obliviate.unlearn import collate_items, unlearn
from tests.conftest import mean_nll, tiny_llama


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_forgets_and_changes_the_model(name, smoke_cfg, smoke_benchmark, smoke_target, target_nlls):
    method = method_config(name, smoke_cfg.methods.get(name))
    run = unlearn(smoke_cfg, method, smoke_target, smoke_benchmark)
    model, tokenizer = load_target(run)
    split = smoke_benchmark.split(smoke_cfg.split)
    forget = mean_nll(model, tokenizer, split.forget, smoke_cfg.max_length)
    retain = mean_nll(model, tokenizer, split.retain, smoke_cfg.max_length)
    meta = json.loads((run / "unlearn.json").read_text())
    assert meta["parameters_changed"] > 0 and meta["peak_rss_mb"] > 0
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    if METHODS[name].reference_values is not None:  # per-example values (sized by hand below), no copy
        assert 0 < meta["reference_bytes"] < weights
    elif METHODS[name].needs.reference:
        assert meta["reference_bytes"] == weights
    # the target knows its forget answers (NLL ~0.02); every method must make them clearly less likely
    assert forget > target_nlls["forget"] + 0.3, (forget, target_nlls)
    if method.retain_weight > 0 and name != "ga":
        assert retain < forget, (retain, forget)  # the retain term protects retain data


def test_rmu_trains_only_down_proj_up_to_its_layer(smoke_cfg, smoke_benchmark, smoke_target):
    before, _ = load_target(smoke_target)
    method = method_config("rmu", {**smoke_cfg.methods.get("rmu", {}), "layer": 1})
    after, _ = load_target(unlearn(smoke_cfg, method, smoke_target, smoke_benchmark))
    changed = {k for k, v in before.state_dict().items() if not torch.equal(v, after.state_dict()[k])}
    assert changed == {"model.layers.0.mlp.down_proj.weight", "model.layers.1.mlp.down_proj.weight"}
    assert rmu_params(method, n_layers=30).layers == (0, 1)  # clipped at layer 0
    assert rmu_params(method_config("rmu"), n_layers=32).layers == (6, 7, 8)  # default ℓ = 32 // 4


def test_sugd_trains_its_last_layers_by_default(smoke_cfg, smoke_benchmark, smoke_target):
    before, _ = load_target(smoke_target)
    after, _ = load_target(
        unlearn(smoke_cfg, method_config("sugd", {"last_k": 1}), smoke_target, smoke_benchmark)
    )
    changed = {k for k, v in before.state_dict().items() if not torch.equal(v, after.state_dict()[k])}
    assert changed and all(k.startswith("model.layers.1.") for k in changed)


# ---- losses against values computed by hand ----------------------------------------------------


def _batch(rows, labelled_from=1):
    examples = [Example(tuple(r), (-100,) * labelled_from + tuple(r[labelled_from:])) for r in rows]
    return collate(examples, pad_id=0)


@pytest.fixture
def toy():
    model = tiny_llama(seed=0).eval()
    reference = tiny_llama(seed=0).eval()
    forget = _batch([[1, 5, 6, 7, 8], [1, 9, 10, 11]])
    return model, reference, {"forget": forget, "refusal": _batch([[1, 5, 20, 21], [1, 9, 22]])}


@pytest.mark.parametrize("name", ["npo", "idkdpo", "rmu"])
def test_reference_values_computed_once_equal_the_per_step_reference(name):
    """Computed before training, one unpadded example at a time, the reference's values give the
    loss the per-step frozen copy gave: bit for bit on an unpadded batch, to rounding on a padded one."""
    spec, cfg = METHODS[name], method_config(name)
    model, reference_model = tiny_llama(seed=1).eval(), tiny_llama(seed=0).eval()
    rows = {
        key: [Example(tuple(r), (-100,) + tuple(r[1:])) for r in rs]
        for key, rs in {
            "forget": [[1, 5, 6, 7, 8], [1, 9, 10, 11], [1, 3, 4]],
            "refusal": [[1, 5, 20, 21], [1, 9, 22], [1, 3, 23, 24, 25]],
            "retain": [[1, 30, 31], [1, 32, 33, 34, 35, 36], [1, 37, 38, 39]],
        }.items()
    }
    quantity = lambda m, b: spec.reference_values(m, b, cfg)  # noqa: E731
    examples = [ex for key in spec.reference_inputs for ex in rows[key]]
    values = ReferenceValues.compute(reference_model, examples + examples[:1], quantity, pad_id=0, bf16=False)
    # float32 values, each distinct example once: one per sequence, or RMU's h_ℓ at each position
    per_example = [len(ex.input_ids) * model.config.hidden_size if name == "rmu" else 1 for ex in examples]
    assert values.nbytes == 4 * sum(per_example)

    def per_step(batch):  # what the loop computed at every step before
        with torch.no_grad():
            return quantity(reference_model, batch)

    padded = {key: collate(rs, pad_id=0) for key, rs in rows.items()}
    once, every_step = spec.loss(model, padded, values, cfg)[0], spec.loss(model, padded, per_step, cfg)[0]
    assert once.item() == pytest.approx(every_step.item(), rel=1e-6, abs=1e-7)
    frozen = spec.loss(model, padded, lambda b: quantity(model, b).detach(), cfg)[0]
    assert abs(once.item() - frozen.item()) > 1e-3  # the reference matters: it is not the trained model
    for i in range(3):
        single = {key: collate([rs[i]], pad_id=0) for key, rs in rows.items()}
        once, every_step = (
            spec.loss(model, single, values, cfg)[0],
            spec.loss(model, single, per_step, cfg)[0],
        )
        assert torch.equal(once, every_step)
    with pytest.raises(KeyError, match="row 0 of the batch was not among"):
        values(collate([Example((1, 40, 41), (-100, 40, 41))], pad_id=0))


def test_a_lora_runs_reference_is_its_adapter_switched_off(smoke_cfg, smoke_benchmark, smoke_target):
    base = tiny_llama(seed=0).eval()
    frozen_copy = copy.deepcopy(base)
    lora = select_parameters(base, ParamsConfig(mode="lora", lora_rank=4))
    with torch.no_grad():  # an adapter that training has moved off zero
        for name, param in lora.named_parameters():
            if "lora_B" in name:
                param.normal_(generator=torch.Generator().manual_seed(0))
    batch = _batch([[1, 5, 6, 7, 8], [1, 9, 10, 11]])
    off = kl_from_reference(lora, AdapterOff(lora), batch)
    assert torch.equal(off, kl_from_reference(lora, frozen_copy, batch)) and off.item() > 1e-4
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    assert not torch.equal(lora(**inputs).logits, frozen_copy(**inputs).logits)  # the adapter is back on
    cfg = smoke_cfg.model_copy(update={"unlearn_params": ParamsConfig(mode="lora", lora_rank=4)})
    run = unlearn(cfg, method_config("kl", smoke_cfg.methods.get("kl")), smoke_target, smoke_benchmark)
    meta = json.loads((run / "unlearn.json").read_text())
    assert meta["reference_bytes"] == 0 and meta["parameters_changed"] > 0


def test_output_layer_at_label_positions_equals_the_full_logits(toy):
    model, _, batch = toy
    forget = _batch([[1, 5, 6, 7, 8], [1, 9, 10, 11, 12, 13]], labelled_from=3)  # padded, prompt of 3
    full_logits = model(input_ids=forget["input_ids"], attention_mask=forget["attention_mask"]).logits
    logp, n_tokens = answer_logps(model, forget)
    full_token_nll, full_mask = token_nll(full_logits, forget["labels"])
    full_logp, full_n = -full_token_nll.sum(-1), full_mask.sum(-1)
    assert n_tokens.tolist() == full_n.tolist() == [2, 3]
    assert torch.allclose(logp, full_logp, atol=1e-5)
    assert nll(model, forget).item() == pytest.approx(model(**forget).loss.item(), rel=1e-5)
    assert nll(model, forget).item() == pytest.approx(-(full_logp.sum() / 5).item(), rel=1e-5)


def test_npo_and_idkdpo_equal_2_over_beta_log_2_at_the_reference(toy):
    model, reference_model, batch = toy
    reference = lambda rows: answer_logps(reference_model, rows)[0].detach()  # noqa: E731
    # π_θ = π_ref: each term is log(1 + 1) = log 2
    loss, _ = npo_loss(model, batch, reference, method_config("npo", {"beta": 0.5}))
    assert loss.item() == pytest.approx(2 / 0.5 * math.log(2), rel=1e-5)
    loss, _ = idkdpo_loss(model, batch, reference, method_config("idkdpo", {"beta": 0.1}))
    assert loss.item() == pytest.approx(2 / 0.1 * math.log(2), rel=1e-5)


def test_simnpo_matches_its_formula_on_explicit_logps(toy):
    model, _, batch = toy
    cfg = method_config("simnpo", {"beta": 2.0, "gamma": 0.5})
    logits = model(input_ids=batch["forget"]["input_ids"]).logits.log_softmax(-1)
    ids = batch["forget"]["input_ids"]
    lengths = batch["forget"]["attention_mask"].sum(-1)
    by_hand = 0.0
    for row in range(2):
        n = int(lengths[row])
        logp = sum(logits[row, t - 1, ids[row, t]].item() for t in range(1, n))  # labels from position 1
        mean_logp = logp / (n - 1)
        by_hand += (2 / 2.0) * math.log(1 + math.exp(2.0 * mean_logp + 0.5)) / 2
    loss, _ = simnpo_loss(model, batch, None, cfg)
    assert loss.item() == pytest.approx(by_hand, rel=1e-5)


def test_undial_at_beta_0_is_the_entropy_of_the_reference(toy):
    model, reference, batch = toy
    loss, _ = undial_loss(model, batch, reference, method_config("undial", {"beta": 1e-12}))
    labels = batch["forget"]["labels"][:, 1:]
    logp = model(input_ids=batch["forget"]["input_ids"]).logits[:, :-1].log_softmax(-1)
    entropy = -(logp.exp() * logp).sum(-1)[labels != -100].mean()
    assert loss.item() == pytest.approx(entropy.item(), rel=1e-5)
    # β = 3: the soft target is softmax(z_ref − 3·onehot(y)), built here one position at a time
    adjusted, _ = undial_loss(model, batch, reference, method_config("undial", {"beta": 3.0}))
    ids, logits = batch["forget"]["input_ids"], model(input_ids=batch["forget"]["input_ids"]).logits
    terms = []
    for row, t in (labels != -100).nonzero().tolist():
        z = logits[row, t].detach().clone()
        z[ids[row, t + 1]] -= 3.0
        terms.append(-(z.softmax(-1) * logits[row, t].log_softmax(-1)).sum().item())
    assert adjusted.item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)


def test_kl_is_zero_at_the_reference_and_positive_elsewhere(toy):
    model, reference, batch = toy
    assert kl_from_reference(model, reference, batch["forget"]).item() == pytest.approx(0, abs=1e-6)
    other = tiny_llama(seed=1).eval()
    assert kl_from_reference(other, reference, batch["forget"]).item() > 0.01


def test_rmu_masked_mse_and_direction_by_hand():
    h = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]])
    target = torch.tensor([0.0, 1.0])
    labels = torch.tensor([[5, 6, -100]])  # the third position is not an answer token
    # token 1: (1 + 1)/2 = 1; token 2: (9 + 9)/2 = 9; mean 5
    assert masked_mse(h, target, labels).item() == pytest.approx(5.0)
    u = random_direction(16, seed=3)
    assert u.norm().item() == pytest.approx(1.0) and (u > 0).all()
    assert torch.equal(u, random_direction(16, seed=3))


def test_sugd_plan_chunks_forget_and_cycles_retain_in_order():
    forget = [Example((1, i), (1, i)) for i in range(5)]
    retain = [Example((2, i), (2, i)) for i in range(4)]
    cfg = method_config("sugd", {"chunk_size": 2, "retain_ratio": 3})
    phases = sugd_plan(forget, retain, None, cfg, TrainConfig(lr=1e-3, scheduler="constant"))
    assert [len(p.items) for p in phases] == [2, 2, 1]  # consecutive chunks, remainder last
    retain_ids = [ex.input_ids[1] for p in phases for block in p.items for ex in block["retain"]]
    assert retain_ids == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2]  # a persistent cycling pointer
    assert [block["forget"].input_ids[1] for block in phases[1].items] == [2, 3]
    assert all(not p.shuffle and p.train.batch_size == 1 and p.train.scheduler == "linear" for p in phases)


def test_sugd_loss_is_the_mean_of_signed_per_row_token_means(toy):
    model, _, batch = toy
    cfg = method_config("sugd", {"retain_weight": 0.5})
    blocks = [{"forget": Example((1, 5, 6), (-100, 5, 6)), "retain": (Example((1, 7), (-100, 7)),) * 2}]
    loss, _ = sugd_loss(model, collate_items(blocks, pad_id=0), None, cfg)

    def row_nll(ids):
        logp = model(input_ids=torch.tensor([ids])).logits[0].log_softmax(-1)
        return -sum(logp[t - 1, ids[t]].item() for t in range(1, len(ids))) / (len(ids) - 1)

    by_hand = (-row_nll([1, 5, 6]) + 0.5 * 2 * row_nll([1, 7])) / 3
    assert loss.item() == pytest.approx(by_hand, rel=1e-5)


def test_methods_table_and_bad_values(smoke_cfg):
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        smoke_cfg.model_validate({**smoke_cfg.model_dump(), "methods": {"nope": {}}})
    with pytest.raises(ValueError, match="betta"):
        smoke_cfg.model_validate({**smoke_cfg.model_dump(), "methods": {"npo": {"betta": 1}}})
    with pytest.raises(ValueError):
        method_config("rmu", {"steering_coeff": -1})
