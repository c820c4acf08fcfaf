"""Llama's RMSNorm, rotary embedding and MLP gate in one pass each: equal to transformers' bit for
bit, the mean's order of sums by hand, and the switch that puts them into a model for inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers.activations import SiLUActivation
from transformers.models.llama import modeling_llama
from transformers.models.llama.modeling_llama import LlamaMLP, LlamaRMSNorm

from obliviate.eval import exact_elementwise
from obliviate.eval.exact_attention import wide_bf16
from obliviate.eval.exact_elementwise import fused_elementwise


@pytest.fixture(scope="module")
def kernel():
    if exact_elementwise._extension() is None:  # compiles on first use (~30 s)
        pytest.skip("no AVX-512 kernels in torch here or no C++ compiler: transformers' ops run")
    return exact_elementwise._extension()


def norm_of(width: int, weight: torch.Tensor | None = None, eps: float = 1e-5) -> LlamaRMSNorm:
    norm = LlamaRMSNorm(width, eps).bfloat16()
    if weight is not None:
        with torch.no_grad():
            norm.weight.copy_(weight)
    return norm


def bits(x: torch.Tensor) -> torch.Tensor:
    return x.view(torch.int16)


def test_mean_of_squares_sums_eight_lanes_then_lanes_in_order(kernel):
    # Width 16: two vectors of 8 lanes added lane by lane, then lanes 0..7 added to 0 in order.
    # 4096^2 = 2^24, where fp32's spacing is 2: a lone 1 added to it rounds away (ties to even).
    rows = torch.zeros(3, 16)
    rows[0, 8], rows[0, 1:8] = 4096.0, 1.0  # lane 0 holds 2^24 and is added first: the 1s are lost
    rows[1, 7], rows[1, 0:7] = 4096.0, 1.0  # lanes 0-6 first (7), then 2^24: 2^24 + 7 -> 2^24 + 8
    rows[2, 0], rows[2, 8], rows[2, 1] = 4096.0, 1.0, 1.0  # lane 0: 2^24 + 1 -> 2^24; then lane 1's 1, lost
    rows = rows.bfloat16()
    sums = [2.0**24, 2.0**24 + 8, 2.0**24]  # by hand, in that order
    in_index_order = np.float32(0)
    for x in rows[0].float().numpy():
        in_index_order = np.float32(in_index_order + x * x)
    assert in_index_order == 2.0**24 + 8  # row 0 summed in index order would differ
    out = kernel.rms_norm(rows, torch.ones(16).bfloat16(), 0.0)
    scales = [np.float32(1) / np.sqrt(np.float32(s / 16)) for s in sums]
    expected = torch.stack([(rows[i].float() * float(r)).bfloat16() for i, r in enumerate(scales)])
    assert torch.equal(bits(out), bits(expected))
    with torch.inference_mode():
        assert torch.equal(bits(out), bits(norm_of(16, eps=0.0)(rows)))  # and transformers agrees


@pytest.mark.parametrize("width", [576, 128, 100, 2048])
def test_rms_norm_equals_transformers(kernel, width):
    generator = torch.Generator().manual_seed(width)
    scale = 2.0 ** torch.randint(-8, 8, (300, width), generator=generator)
    rows = (torch.randn(300, width, generator=generator) * scale).bfloat16()
    rows[3] = 0  # variance 0: rsqrt(eps)
    norm = norm_of(width, (torch.randn(width, generator=generator) + 1).bfloat16(), eps=1e-6)
    with torch.inference_mode():
        assert torch.equal(bits(kernel.rms_norm(rows, norm.weight, 1e-6)), bits(norm(rows)))


@pytest.mark.parametrize("batch_of_cos", [1, 3])
def test_rotary_equals_transformers_in_attentions_layout(kernel, batch_of_cos):
    generator = torch.Generator().manual_seed(batch_of_cos)
    q = (torch.randn(3, 7, 9, 64, generator=generator) * 4).bfloat16().transpose(1, 2)  # (B, H, T, D)
    k = (torch.randn(3, 7, 3, 64, generator=generator) * 4).bfloat16().transpose(1, 2)
    angles = torch.randn(batch_of_cos, 7, 64, generator=generator) * 30
    cos, sin = angles.cos().bfloat16(), angles.sin().bfloat16()
    with torch.inference_mode():
        expected = exact_elementwise._TRANSFORMERS_ROTARY(q, k, cos, sin)
        got = exact_elementwise._rotary(q, k, cos, sin)
    for g, e, x in zip(got, expected, (q, k), strict=True):
        assert torch.equal(bits(g), bits(e))
        assert g.stride() == x.stride()  # the input's layout, as torch's ops keep it
    assert exact_elementwise._rotary_agrees(64, torch.get_num_threads())


def test_silu_table_is_torchs_silu_on_every_bf16_value_on_both_of_its_paths():
    every = torch.from_numpy(np.arange(1 << 16, dtype=np.uint16).view(np.int16)).view(torch.bfloat16)
    table = exact_elementwise._silu_table()
    assert table.shape == (65537,) and table[-1] == 0
    # torch's one-element path (a vector loop's tail) gives the same values, up to NaN payloads
    sample = every[torch.randperm(1 << 16, generator=torch.Generator().manual_seed(0))[:2000]]
    alone = torch.stack([F.silu(x.reshape(1))[0] for x in sample])
    looked_up = table[sample.view(torch.int16).long() & 0xFFFF]
    assert torch.equal(alone.isnan(), looked_up.isnan())
    assert torch.equal(bits(alone)[~alone.isnan()], bits(looked_up)[~alone.isnan()])
    assert float(table[0x3F80]) == pytest.approx(1 / (1 + np.exp(-1)), rel=2**-8)  # silu(1) by hand


def test_silu_gate_on_every_bf16_gate_value(kernel):
    every = torch.from_numpy(np.arange(1 << 16, dtype=np.uint16).view(np.int16)).view(torch.bfloat16)
    out = kernel.silu_gate(every, torch.ones_like(every), exact_elementwise._silu_table())
    expected = F.silu(every)
    assert torch.equal(out.isnan(), expected.isnan())
    assert torch.equal(bits(out)[~out.isnan()], bits(expected)[~out.isnan()])
    assert float(out[0xC000]) == pytest.approx(-2 / (1 + np.exp(2)), rel=2**-8)  # silu(-2) by hand


@pytest.mark.parametrize("width", [1536, 256, 100, 7])
def test_silu_gate_equals_transformers_mlp_product(kernel, width):
    generator = torch.Generator().manual_seed(width)
    gate, up = (wide_bf16(41, width, generator=generator, spread=8) for _ in range(2))
    gate[0, :3] = torch.tensor([float("inf"), float("-inf"), 0.0])
    with torch.inference_mode():
        expected = SiLUActivation()(gate) * up
        got = kernel.silu_gate(gate, up, exact_elementwise._silu_table())
    assert torch.equal(got.isnan(), expected.isnan())
    assert torch.equal(bits(got)[~got.isnan()], bits(expected)[~got.isnan()])
    assert exact_elementwise._gate_agrees(width, torch.get_num_threads())


def test_fused_switch_is_exact_falls_back_for_gradients_and_restores(kernel):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )  # fmt: skip
    model = LlamaForCausalLM(config).bfloat16().eval()
    ids = torch.randint(0, 64, (2, 21))
    switched = [m for m in model.modules() if type(m) in (LlamaRMSNorm, LlamaMLP)]
    calls = {"rms_norm": 0, "rotary": 0, "silu_gate": 0}
    real = exact_elementwise._extension()

    class Counting:
        def __getattr__(self, name):
            calls[name] += 1
            return getattr(real, name)

    with torch.inference_mode():
        plain = model(ids).logits
    original_extension = exact_elementwise._extension
    exact_elementwise._extension = lambda: Counting()
    try:
        with fused_elementwise(model) as on:
            assert on and all("forward" in m.__dict__ for m in switched)
            assert modeling_llama.apply_rotary_pos_emb is exact_elementwise._rotary
            with torch.inference_mode():
                fused = model(ids).logits
            counted = dict(calls)
            loss = model(ids, labels=ids).loss  # gradients: transformers' ops, which autograd knows
            loss.backward()
            assert dict(calls) == counted
    finally:
        exact_elementwise._extension = original_extension
    assert (
        counted["rms_norm"] >= 2 * config.num_hidden_layers + 1
        and counted["rotary"] >= 2 * config.num_hidden_layers
    )
    assert counted["silu_gate"] >= config.num_hidden_layers
    assert torch.equal(bits(fused), bits(plain))
    assert not any("forward" in m.__dict__ for m in switched)
    assert modeling_llama.apply_rotary_pos_emb is exact_elementwise._TRANSFORMERS_ROTARY
    assert model.model.norm.weight.grad is not None
