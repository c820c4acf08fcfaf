"""Quantization attacks: hand-computed rtn grids, llama.cpp blocks, bitsandbytes codes; whole models."""

from __future__ import annotations

import json
import math

import pytest
import torch
from pydantic import ValidationError

from obliviate.attacks.quantize import (
    GGUF_FORMATS,
    QUANT_ATTACKS,
    QuantSpec,
    bnb_quantize,
    gguf_quantize,
    quant_step,
    quantize_model,
    quantize_tensor,
    quantized_names,
    rtn_quantize,
)
from tests.conftest import tiny_llama

# bitsandbytes' NF4 table (QLoRA), sorted; FP4's table is [0, 0.0625, 2, 3, 4, 6, 8, 12] / 12 with signs.
NF4 = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0,
]  # fmt: skip

RTN4_GROUP2 = QuantSpec(scheme="rtn", bits=4, group_size=2)


def padded_row(values: list[float], length: int) -> list[float]:
    return values + [0.0] * (length - len(values))


# --- rtn ---------------------------------------------------------------------------------------------

# int4: qmax = 7. Groups of 2: (7, 1.5) scale 1; (-14, 5) scale 2; (0, 0) all zero; (0.5, -3.5) scale 0.5.
W = torch.tensor([[7.0, 1.5, -14.0, 5.0], [0.0, 0.0, 0.5, -3.5]])


def test_rtn4_groups_of_two_by_hand():
    # 7/1 = 7 = qmax (the max maps to qmax exactly); 1.5/1 ties to even 2; -14/2 = -7; 5/2 = 2.5 ties to
    # even 2 -> 4; the zero group stays zero; 0.5/0.5 = 1, -3.5/0.5 = -7.
    expected = torch.tensor([[7.0, 2.0, -14.0, 4.0], [0.0, 0.0, 0.5, -3.5]])
    assert torch.equal(rtn_quantize(W, bits=4, group_size=2), expected)
    steps = torch.tensor([[1.0, 1.0, 2.0, 2.0], [0.0, 0.0, 0.5, 0.5]])
    assert torch.equal(quant_step(W, RTN4_GROUP2), steps)


def test_rtn4_per_channel_by_hand():
    # Row 0 shares max|w| = 14 -> scale 2, so -14 now coarsens the 7 and 1.5 that group 2 kept apart:
    # 7/2 = 3.5 ties to even 4 -> 8; 1.5/2 = 0.75 -> 1 -> 2; 5/2 -> 2 -> 4. Row 1: scale 0.5.
    expected = torch.tensor([[8.0, 2.0, -14.0, 4.0], [0.0, 0.0, 0.5, -3.5]])
    assert torch.equal(rtn_quantize(W, bits=4, group_size=None), expected)
    spec = QuantSpec(scheme="rtn", bits=4, group_size=None)
    assert torch.equal(quant_step(W, spec), torch.tensor([[2.0] * 4, [0.5] * 4]))


def test_rtn_max_of_an_unround_group_lands_on_qmax():
    w = torch.tensor([[0.3, -0.1]])
    wq = rtn_quantize(w, bits=4, group_size=None)
    step = quant_step(w, QuantSpec(scheme="rtn", bits=4, group_size=None))
    assert torch.equal(torch.round(wq / step), torch.tensor([[7.0, -2.0]]))  # -0.1/(0.3/7) = -2.33
    assert abs(wq[0, 0].item() - 0.3) < 1e-7


def test_rtn_short_last_group_has_its_own_scale():
    # Groups of 2 over 5 columns: (0.4, 7) scale 1 -> (0, 7); (-2, 14) scale 2; (3.5) alone: scale 0.5.
    w = torch.tensor([[0.4, 7.0, -2.0, 14.0, 3.5]])
    assert torch.equal(rtn_quantize(w, bits=4, group_size=2), torch.tensor([[0.0, 7.0, -2.0, 14.0, 3.5]]))
    assert torch.equal(quant_step(w, RTN4_GROUP2), torch.tensor([[1.0, 1.0, 2.0, 2.0, 0.5]]))


def test_rtn8_error_is_at_most_half_a_step():
    torch.manual_seed(0)
    w = torch.randn(16, 96)
    wq = rtn_quantize(w, bits=8, group_size=32)
    step = quant_step(w, QuantSpec(scheme="rtn", bits=8, group_size=32))
    assert not torch.equal(wq, w)
    assert ((wq - w).abs() <= step / 2 * (1 + 1e-5)).all()
    assert torch.equal(rtn_quantize(wq, bits=8, group_size=32), wq)  # a fixed point


def test_rtn_keeps_dtype_and_rejects_bad_arguments():
    w = torch.randn(3, 8, dtype=torch.bfloat16)
    out = rtn_quantize(w, bits=4, group_size=4)
    assert out.dtype == torch.bfloat16 and out.shape == w.shape
    with pytest.raises(ValueError, match="bits must be between 2 and 8"):
        rtn_quantize(w, bits=1, group_size=4)
    with pytest.raises(ValueError, match="group_size must be positive"):
        rtn_quantize(w, bits=4, group_size=0)


# --- gguf --------------------------------------------------------------------------------------------


def test_gguf_q8_0_by_hand():
    # Row 0: d = 63.5/127 = 0.5; 0.25/0.5 = 0.5 rounds away from zero to 1; 1.3/0.5 = 2.6 -> 3.
    # Row 1: d = 1/127 is stored as fp16: 2**-7 * (1 + 8/1024), so the max 1.0 comes back as 127·d.
    w = torch.tensor([padded_row([63.5, 0.25, -0.25, 1.3, -63.5], 32), padded_row([1.0, 0.25], 32)])
    d16 = 2**-7 * (1 + 8 / 1024)
    expected = torch.tensor(
        [padded_row([63.5, 0.5, -0.5, 1.5, -63.5], 32), padded_row([127 * d16, 32 * d16], 32)]
    )
    wq = gguf_quantize(w, "Q8_0")
    assert torch.equal(wq, expected)
    assert wq[1, 0].item() != 1.0
    steps = quant_step(w, QuantSpec(scheme="gguf", format="Q8_0"))
    assert torch.equal(steps, torch.tensor([[0.5] * 32, [d16] * 32]))


def test_gguf_q4_0_by_hand():
    # d = x_m / -8 with x_m the element of largest |x| (signed); q = min(15, trunc(x/d + 8.5)); value (q-8)·d.
    # Block A, x_m = -4: d = 0.5. -4 -> q 0 -> -4; 3.9 -> 16.3 -> 15 -> 3.5 (clipped: the grid is -8..7);
    #   0.25 -> 9.0 -> 0.5; -0.25 -> 8.0 -> 0 (ties go up in q); -1.1 -> 6.3 -> 6 -> -1.
    # Block B, x_m = +4: d = -0.5, so the mirror image: 4 -> 4; -3.9 -> -3.5; 0.25 -> 0; -0.25 -> -0.5.
    # Block C all zero; block D, x_m = -1: d = 0.125; 0.3 -> 2.4 + 8.5 -> 10 -> 0.25.
    a = padded_row([-4.0, 3.9, 0.25, -0.25, -1.1], 32)
    b = padded_row([4.0, -3.9, 0.25, -0.25], 32)
    c, d = [0.0] * 32, padded_row([-1.0, 0.3], 32)
    w = torch.tensor([a + b, c + d])
    expected = torch.tensor(
        [
            padded_row([-4.0, 3.5, 0.5, 0.0, -1.0], 32) + padded_row([4.0, -3.5, 0.0, -0.5], 32),
            [0.0] * 32 + padded_row([-1.0, 0.25], 32),
        ]
    )
    assert torch.equal(gguf_quantize(w, "Q4_0"), expected)
    steps = quant_step(w, QuantSpec(scheme="gguf", format="Q4_0"))
    assert torch.equal(steps, torch.tensor([[0.5] * 64, [0.0] * 32 + [0.125] * 32]))


@pytest.mark.parametrize("fmt", GGUF_FORMATS)
def test_gguf_error_is_within_one_step(fmt):
    # within half a step, except that Q4_0/Q5_0 clip the sign opposite to the block's largest |x| by up
    # to one step; the 1% is the fp16 rounding of d after q was computed with the float32 d.
    torch.manual_seed(0)
    w = torch.randn(4, 64)
    error = (gguf_quantize(w, fmt) - w).abs()
    step = quant_step(w, QuantSpec(scheme="gguf", format=fmt))
    assert (step > 0).all() and (error <= 1.01 * step).all()


def test_gguf_rejects_k_quants_and_partial_blocks():
    with pytest.raises(ValueError, match="Q4_K has no quantizer"):
        gguf_quantize(torch.zeros(1, 256), "Q4_K")
    with pytest.raises(ValueError, match=r"block size 32, got shape \(1, 48\)"):
        gguf_quantize(torch.zeros(1, 48), "Q8_0")


# --- bitsandbytes ------------------------------------------------------------------------------------


def test_nf4_code_points_come_back_unchanged():
    codes = torch.tensor(NF4)
    w = torch.cat([codes.repeat(4) * 2.0, codes.repeat(4) * 0.5]).reshape(2, 64)  # block absmax 2, then 0.5
    assert torch.equal(bnb_quantize(w, "nf4"), w)


def test_nf4_rounds_to_the_nearest_code():
    # absmax 1; 0.5 is below the midpoint 0.5017 of 0.4407 and 0.5626, 0.51 above it;
    # -0.05 is below the midpoint -0.0455 of -0.0911 and 0, -0.04 above it.
    w = torch.tensor([padded_row([1.0, 0.5, 0.51, -0.05, -0.04], 64)])
    expected = torch.tensor([padded_row([1.0, NF4[12], NF4[13], NF4[6], 0.0], 64)])
    assert torch.equal(bnb_quantize(w, "nf4"), expected)
    # steps: the code spacing around the code each element took, (c[i+1] - c[i-1]) / 2; the end code 1.0
    # takes its one gap; zeros take the gaps to 0.0796 and -0.0911.
    step = quant_step(w, QuantSpec(scheme="bnb", format="nf4"))[0, :5]
    expected_steps = [1.0 - NF4[14], (NF4[13] - NF4[11]) / 2, (NF4[14] - NF4[12]) / 2, (NF4[7] - NF4[5]) / 2]
    expected_steps.append((NF4[8] - NF4[6]) / 2)
    assert torch.allclose(step, torch.tensor(expected_steps), atol=1e-7, rtol=0)


def test_4bit_blocks_run_over_the_flattened_tensor():
    # A (2, 32) tensor is one block of 64: row 0's 4.0 scales row 1, whose 1.0 becomes 4 · NF4(0.25).
    w = torch.zeros(2, 32)
    w[0, 0], w[1, 0] = 4.0, 1.0
    assert bnb_quantize(w, "nf4")[1, 0].item() == pytest.approx(4 * NF4[10], abs=1e-6)


def test_fp4_rounds_to_the_nearest_code():
    # FP4 codes 0, 1/192, 1/6, 1/4, 1/3, 1/2, 2/3, 1; midpoints 1/384, 5/12, 5/6 decide these.
    w = torch.tensor([padded_row([1.0, 0.4, 0.45, 0.003, 0.002, -0.7, -0.9], 64)])
    expected = torch.tensor([padded_row([1.0, 1 / 3, 0.5, 1 / 192, 0.0, -2 / 3, -1.0], 64)])
    assert torch.allclose(bnb_quantize(w, "fp4"), expected, atol=1e-7, rtol=0)


@pytest.mark.parametrize("fmt", ["nf4", "fp4"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_4bit_codes_are_bitsandbytes_own(fmt, dtype):
    """Our count of midpoints below each value gives the bytes and scales of bitsandbytes' quantize_4bit."""
    import bitsandbytes.functional as bnbf

    from obliviate.attacks.quantize import _bnb_4bit

    code = bnbf.get_4bit_type(fmt, device="cpu")
    ordered = code.sort().values
    midpoints = (ordered[:-1] + ordered[1:]) / 2
    torch.manual_seed(0)
    w = torch.randn(3 * 64 + 37) * 0.02  # a last, shorter block and an odd count (padded by one)
    w[64:128] = 0.0  # an all-zero block
    w[128:143] = midpoints  # values on the cell boundaries (absmax 1 set next): ties go to the lower cell
    w[143] = 1.0
    w = w.to(dtype)
    packed, state = _bnb_4bit(w, fmt)
    expected_packed, expected_state = bnbf.quantize_4bit(
        w, blocksize=64, compress_statistics=False, quant_type=fmt
    )
    assert torch.equal(packed, expected_packed)
    assert torch.equal(state.absmax, expected_state.absmax)
    assert state.dtype == expected_state.dtype and tuple(state.shape) == tuple(expected_state.shape)
    assert torch.equal(bnb_quantize(w, fmt), bnbf.dequantize_4bit(expected_packed, expected_state))


def test_int8_rows_by_hand_and_against_bitsandbytes():
    import bitsandbytes.functional as bnbf

    # absmax 1: q = round(127·x): 127; -63.5 ties to even -64; 31.75 -> 32; 0.495 -> 0. All-zero row: zeros.
    w = torch.tensor([[1.0, -0.5, 0.25, 0.0039], [0.0, 0.0, 0.0, 0.0]])
    expected = torch.tensor([[127.0, -64.0, 32.0, 0.0], [0.0] * 4]) * (1.0 / 127)
    assert torch.equal(bnb_quantize(w, "int8"), expected)
    assert torch.equal(
        quant_step(w, QuantSpec(scheme="bnb", format="int8")), torch.tensor([[1 / 127] * 4, [0.0] * 4])
    )

    torch.manual_seed(0)
    w = torch.randn(8, 16)
    cb, scb, _ = bnbf.int8_vectorwise_quant(w.half())  # what Int8Params stores (it casts to fp16 first)
    assert torch.equal(bnb_quantize(w, "int8"), bnbf.int8_vectorwise_dequant(cb, scb))


# --- models ------------------------------------------------------------------------------------------

LINEAR_SUFFIXES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def test_quantize_model_changes_linears_only_and_is_a_fixed_point():
    model = tiny_llama()  # hidden 32, 2 layers, vocab 64, untied lm_head
    spec = QUANT_ATTACKS["quant4"]
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    names = quantized_names(model, spec)
    assert len(names) == 14 and all(n.removesuffix(".weight").endswith(LINEAR_SUFFIXES) for n in names)

    stats = quantize_model(model, spec)
    after = dict(model.named_parameters())
    error_sq = sum((after[n] - before[n]).norm().item() ** 2 for n in names)
    norm_sq = sum(before[n].norm().item() ** 2 for n in names)
    assert stats["tensors"] == 14
    assert stats["parameters"] == 2 * (4 * 32 * 32 + 3 * 32 * 64)
    assert stats["relative_error"] == pytest.approx(math.sqrt(error_sq / norm_sq), rel=1e-5)
    assert 0 < stats["relative_error"] < 0.2
    for name, value in after.items():
        assert torch.equal(value, before[name]) != (name in names), name  # embeddings, norms, lm_head kept

    again = {name: p.detach().clone() for name, p in model.named_parameters()}
    assert quantize_model(model, spec)["relative_error"] == 0.0
    assert all(torch.equal(p, again[name]) for name, p in model.named_parameters())


def test_quantize_model_embeddings_norms_and_tied_weights():
    model = tiny_llama()
    spec = QuantSpec(scheme="rtn", bits=4, group_size=8, include_embeddings=True, include_norms=True)
    names = quantized_names(model, spec)
    assert {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"} <= set(names)
    assert len(names) == 14 + 2 + 5  # 2 norms per layer and the final norm
    norm = model.model.norm.weight.detach().clone()
    with torch.no_grad():
        norm += torch.linspace(0, 1, norm.numel())  # Llama norms start at exactly 1.0, already on the grid
        model.model.norm.weight.copy_(norm)
    quantize_model(model, spec)
    assert torch.equal(model.model.norm.weight, rtn_quantize(norm, bits=4, group_size=None))  # one group

    tied = tiny_llama()
    tied.lm_head.weight = tied.model.embed_tokens.weight  # tiny_llama is untied; tie it by hand
    assert "lm_head.weight" not in quantized_names(tied, spec)
    assert quantize_model(tied, spec)["tensors"] == 14 + 1 + 5
    assert tied.lm_head.weight is tied.model.embed_tokens.weight


@pytest.mark.parametrize("attack", ["q4_0", "fp4", "int8"])
def test_quantize_model_with_gguf_and_bitsandbytes(attack):
    model = tiny_llama()
    stats = quantize_model(model, QUANT_ATTACKS[attack])
    assert stats["tensors"] == 14 and 0 < stats["relative_error"] < 0.3
    assert torch.isfinite(model.model.layers[0].self_attn.q_proj.weight).all()


def test_quantize_model_names_the_tensor_it_cannot_quantize():
    model = torch.nn.Sequential(torch.nn.Linear(48, 4))
    with pytest.raises(ValueError, match=r"^0\.weight: gguf Q8_0 needs"):
        quantize_model(model, QUANT_ATTACKS["q8_0"])


# --- specs -------------------------------------------------------------------------------------------


def test_named_attacks_validate_and_round_trip():
    assert set(QUANT_ATTACKS) == {"quant8", "quant4", "q8_0", "q4_0", "nf4", "fp4", "int8"}
    for spec in QUANT_ATTACKS.values():
        assert QuantSpec.model_validate(spec.model_dump()) == spec
        json.dumps(spec.key())
    assert QUANT_ATTACKS["quant4"].describe() == "RTN int4, symmetric, groups of 128"
    assert QUANT_ATTACKS["q4_0"].group_size is None
    assert QUANT_ATTACKS["fp4"].key() == {
        "scheme": "bnb",
        "format": "fp4",
        "include_embeddings": False,
        "include_norms": False,
    }
    assert QuantSpec(scheme="rtn", bits=8, group_size=None, include_norms=True).describe() == (
        "RTN int8, symmetric, per output channel, +norms"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scheme": "rtn"}, "rtn needs bits"),
        ({"scheme": "rtn", "bits": 9}, "between 2 and 8"),
        ({"scheme": "rtn", "bits": 4, "format": "Q4_0"}, "rtn takes no format"),
        ({"scheme": "bnb", "format": "nf3"}, "bnb format must be one of"),
        ({"scheme": "bnb", "format": "nf4", "include_norms": True}, "never quantizes norms"),
        ({"scheme": "gguf", "format": "Q4_K"}, "Q4_K has no quantizer"),
        ({"scheme": "gguf", "format": "Q9_9"}, "unknown gguf format"),
        ({"scheme": "gguf", "format": "Q8_0", "group_size": 64}, "takes no group_size"),
        ({"scheme": "gguf", "format": "Q8_0", "bits": 8}, "takes no bits"),
        ({"scheme": "rtn", "bits": 4, "groups": 64}, "Extra inputs are not permitted"),
    ],
)
def test_bad_specs_fail_clearly(fields, message):
    with pytest.raises(ValidationError, match=message):
        QuantSpec(**fields)


def test_quantize_tensor_dispatches_on_the_scheme():
    w = torch.tensor([padded_row([63.5, 1.3], 32)])
    assert torch.equal(quantize_tensor(w, QUANT_ATTACKS["q8_0"]), gguf_quantize(w, "Q8_0"))
    assert torch.equal(quantize_tensor(W, RTN4_GROUP2), rtn_quantize(W, 4, 2))
