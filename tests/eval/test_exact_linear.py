"""The batched bf16 linear kernel for one-token rows: its order of sums by hand, and against torch's
one-row kernel, bit for bit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from obliviate.eval import exact_linear
from obliviate.eval.exact_linear import pack, packed_weight, reproduces_torch, row_linear

BIG = 2.0**25  # 2^25 + 1 rounds back to 2^25 in fp32 (its spacing there is 4): order shows


@pytest.fixture(scope="module")
def kernel():
    if exact_linear._extension() is None:  # compiles on first use (~30 s)
        pytest.skip("no AVX512-BF16 here or no C++ compiler: one-token rows multiply one by one")
    return exact_linear._extension()


def test_the_kernel_sums_pairs_high_first_in_blocks_of_512(kernel):
    # One input row of ones, so each output is the sum of its weight row, in the kernel's order.
    k = 1024
    weight = torch.zeros(16, k)
    weight[0, [1, 2, 3]] = torch.tensor([-BIG, 1.0, BIG])  # pair (2, 3): k=3 first: -BIG+BIG, +1 = 1
    weight[1, [1, 2, 3]] = torch.tensor([-BIG, BIG, 1.0])  # k=3 first: -BIG+1 = -BIG, +BIG = 0
    weight[2, [0, 600, 602]] = torch.tensor([1.0, BIG, -BIG])  # blocks: 1 + (BIG - BIG) = 1
    weight[3, [0, 2, 600]] = torch.tensor([BIG, -BIG, 1.0])  # (BIG - BIG) + 1 = 1
    weight[4, [0, 600, 1023]] = torch.tensor([BIG, 1.0, -BIG])  # BIG + (1 - BIG) = BIG - BIG = 0
    weight[5, :] = 0.5  # exact: 512
    out = row_linear(torch.ones(1, k).bfloat16(), pack(weight.bfloat16()))
    assert out[0, :6].float().tolist() == [1.0, 0.0, 1.0, 1.0, 0.0, 512.0]
    assert not out[0, 6:].any()


def test_pack_lays_out_pairs_of_inputs_for_16_outputs():
    weight = torch.arange(32 * 6, dtype=torch.float32).reshape(32, 6).bfloat16()  # exact integers
    packed = pack(weight)
    assert packed.shape == (2, 3, 16) and packed.dtype == torch.int32
    pairs = packed.view(torch.bfloat16).reshape(2, 3, 16, 2).float()
    # tile 1, pair 2, output 5 of the tile: output 21's inputs 4 and 5
    assert pairs[1, 2, 5].tolist() == [21 * 6 + 4, 21 * 6 + 5]


# SmolLM2-135M's shapes (q/o, k/v, gate/up, down, the output layer) and a short one
@pytest.mark.parametrize("n, k", [(576, 576), (192, 576), (1536, 576), (576, 1536), (49152, 576), (64, 130)])
@pytest.mark.parametrize("threads", [1, 2])
def test_rows_equal_torchs_one_row_kernel_bit_for_bit(kernel, n, k, threads):
    if not reproduces_torch(torch.zeros(n, k, dtype=torch.bfloat16)):
        pytest.skip(f"torch's one-row kernel sums in another order on this CPU for {n} x {k}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(n + k)
        weight = torch.randn(n, k, generator=g).bfloat16()
        packed = pack(weight)
        for rows in (1, 5, 8, 9, 17):  # the kernel's groups of up to 8 rows, even and uneven
            # heavy-tailed, like a model's activations: sums that round differently in other orders
            scale = torch.randn(rows, k, generator=g).mul(2).exp()
            x = (torch.randn(rows, k, generator=g) * scale).bfloat16()
            alone = torch.cat([F.linear(x[i : i + 1], weight) for i in range(rows)])
            assert torch.equal(row_linear(x, packed).view(torch.int16), alone.view(torch.int16)), rows
    finally:
        torch.set_num_threads(previous)


def test_the_packed_weight_follows_changes_to_the_weight(kernel):
    layer = torch.nn.Linear(64, 32, bias=False).bfloat16()
    first = packed_weight(layer)
    assert packed_weight(layer) is first  # kept
    with torch.no_grad():
        layer.weight.mul_(2)  # in place: a new version
    assert torch.equal(packed_weight(layer), pack(layer.weight))
    layer.weight = torch.nn.Parameter(torch.randn(32, 64).bfloat16())  # replaced
    assert torch.equal(packed_weight(layer), pack(layer.weight))
