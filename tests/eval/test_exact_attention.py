"""The batched bf16 decode kernel against torch's own CPU kernel, one row at a time, bit for bit."""

from __future__ import annotations

import logging
import types

import pytest
import torch

from obliviate.eval import exact_attention
from obliviate.eval.exact_attention import MAX_KEYS, decode_attention, reproduces_torch, row_alone


@pytest.fixture(scope="module")
def kernel():
    if exact_attention._extension() is None:  # compiles on first use (~35 s)
        pytest.skip("torch runs no AVX-512 kernels here or no C++ compiler: rows attend one by one")
    return exact_attention._extension()


def needs_exact(heads: int, kv_heads: int, dim: int, scaling: float) -> None:
    """Skip where the kernel declines this layout because this CPU's torch kernel sums in other
    orders (its check found a length that differs; decoding then attends row by row)."""
    if not reproduces_torch(heads, kv_heads, dim, scaling):
        pytest.skip(
            f"torch's kernel sums in other orders on this CPU for heads {heads}/{kv_heads}, dim {dim}"
        )


def _left_padded_rows(lengths, heads, kv_heads, dim, seed):
    """query (B, H, 1, D) and keys / values (B, H_kv, W, D), each row's keys at the end after
    random values, as in the engine's left-padded cache (a view of a wider buffer)."""
    g = torch.Generator().manual_seed(seed)
    width = max(lengths) + 5
    query = torch.randn(len(lengths), heads, 1, dim, generator=g).bfloat16()
    buffer = (2 * torch.randn(2, len(lengths), kv_heads, width + 7, dim, generator=g)).bfloat16()
    return query, buffer[0, :, :, :width], buffer[1, :, :, :width]


@pytest.mark.parametrize("heads, kv_heads, dim", [(9, 3, 64), (4, 4, 32), (6, 2, 16), (1, 1, 64)])
def test_decode_attention_equals_torch_kernel_row_by_row(kernel, heads, kv_heads, dim):
    needs_exact(heads, kv_heads, dim, dim**-0.5)
    lengths = [0, 1, 2, 3, 5, 16, 17, 31, 32, 33, 64, 97, 130, 255, 256, 300, 511, MAX_KEYS]
    query, key, value = _left_padded_rows(lengths, heads, kv_heads, dim, seed=heads * dim)
    out = decode_attention(query, key, value, lengths, dim**-0.5)
    assert out is not None and out.shape == (len(lengths), 1, heads, dim)
    for i, n in enumerate(lengths):
        if n == 0:  # a finished row: skipped
            assert not out[i].any()
            continue
        assert torch.equal(out[i, 0], row_alone(query, key, value, i, n, dim**-0.5)[0, :, 0]), n


@pytest.mark.parametrize("threads", [1, 2])
def test_one_head_follows_torch_threading(kernel, threads):
    # With one head torch's kernel runs its loop inline and its p.v product splits the keys over
    # two threads when it has them; on one thread it does not. Both must be reproduced.
    # Random rows rarely tell the two orders apart, so the last row is made to: equal scores
    # (p = 1 for all ten keys) and values 2^30, -2^30 and 1 at keys 4, 5 and 8, whose sum keeps
    # the 1 only without the split ((x4 + x6) + (x5 + x7) cancels first).
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        needs_exact(1, 1, 64, 0.125)
        lengths = [1, 2, 7, 33, 130, 257, 10]
        query, key, value = _left_padded_rows(lengths, 1, 1, 64, seed=threads)
        width = key.shape[2]
        query[-1], key[-1], value[-1] = 0, 0, 0
        for position, x in ((4, 2.0**30), (5, -(2.0**30)), (8, 1.0)):
            value[-1, 0, width - 10 + position, 0] = x
        out = decode_attention(query, key, value, lengths, 0.125)
        assert out is not None
        for i, n in enumerate(lengths):
            assert torch.equal(out[i, 0], row_alone(query, key, value, i, n, 0.125)[0, :, 0]), (threads, n)
        kept = float(out[-1, 0, 0, 0]) * 10  # (sum of the values) / (sum of p = 10)
        assert kept == pytest.approx(1.0 if threads == 1 else 0.0, abs=0.01)
    finally:
        torch.set_num_threads(previous)


def test_a_wrong_order_would_be_caught(kernel):
    # The reduction order matters: the plain batched SDPA of the same rows (masked, fp32 sums in
    # another order) differs from the row-by-row kernel on some rows, as the kernel must not.
    needs_exact(9, 3, 64, 0.125)
    lengths = list(range(1, 200, 3))
    query, key, value = _left_padded_rows(lengths, 9, 3, 64, seed=1)
    width = key.shape[2]
    mask = torch.arange(width)[None] >= width - torch.tensor(lengths)[:, None]  # (B, W)
    batched = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=mask[:, None, None], scale=0.125, enable_gqa=True
    ).transpose(1, 2)
    exact = decode_attention(query, key, value, lengths, 0.125)
    rows = [row_alone(query, key, value, i, n, 0.125) for i, n in enumerate(lengths)]
    alone = torch.cat(rows).transpose(1, 2)
    assert torch.equal(exact, alone)
    assert not torch.equal(batched, alone)


def test_decode_attention_declines_what_it_does_not_reproduce(kernel):
    query, key, value = _left_padded_rows([3, 7], 4, 2, 32, seed=0)
    assert decode_attention(query.float(), key.float(), value.float(), [3, 7], 0.25) is None  # fp32
    assert decode_attention(query, key, value, [3, 7], None) is None  # no explicit scale


def test_rows_beyond_one_kv_block_take_torch_kernel(kernel):
    # Beyond MAX_KEYS torch's kernel rescales across key blocks, which the batched kernel does not
    # reproduce: such rows go through torch's kernel, the others through the batched one.
    needs_exact(4, 2, 32, 0.25)
    lengths = [MAX_KEYS + 1, 5, 700, 0]
    query, key, value = _left_padded_rows(lengths, 4, 2, 32, seed=0)
    out = decode_attention(query, key, value, lengths, 0.25)
    for i, n in enumerate(lengths[:3]):
        assert torch.equal(out[i, 0], row_alone(query, key, value, i, n, 0.25)[0, :, 0]), n
    assert not out[3].any()


def test_a_kernel_that_disagrees_is_not_used(monkeypatch, caplog):
    def zeros(query, key, value, lengths, scale, split):
        return query.new_zeros((query.shape[0], 1, query.shape[1], query.shape[3]))

    wrong = types.SimpleNamespace(decode_attention=zeros)
    monkeypatch.setattr(exact_attention, "_extension", lambda: wrong)
    exact_attention._agrees.cache_clear()
    try:
        query, key, value = _left_padded_rows([3, 7], 4, 2, 32, seed=0)
        with caplog.at_level(logging.WARNING, logger=exact_attention.__name__):
            assert decode_attention(query, key, value, [3, 7], 0.25) is None
        assert "differs from torch's kernel" in caplog.text
    finally:
        exact_attention._agrees.cache_clear()
