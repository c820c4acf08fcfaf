"""The batched bf16 decode kernel against torch's own CPU kernel, one row at a time, bit for bit."""

from __future__ import annotations

import itertools
import json
import logging
import types

import pytest
import torch

from obliviate.eval import exact_attention
from obliviate.eval.exact_attention import (
    MAX_KEYS,
    decode_attention,
    flash_row,
    prefill_attention,
    reproduces_torch,
    row_alone,
)


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


# The packed prefill kernel: documents back to back, each attending causally to itself, against
# torch's kernel run on each document alone.

# Below 16 and above 512: torch's kernel; 33 / 34 / 35, 258 / 259, 449: last query blocks of 1-3
# rows; 193-383: two K blocks (odd: and the last key alone); 384-512: K blocks of 192.
PREFILL_LENGTHS = [1, 9, 16, 17, 31, 33, 34, 35, 36, 100, 192, 193, 194, 227, 258, 259, 300, 383, 384]
PREFILL_LENGTHS += [385, 449, 511, 512, 600]


def _packed_documents(lengths, heads, kv_heads, dim, seed):
    """query (1, H, T, D), keys / values (1, H_kv, T, D) as transformers lays them out (views of
    (1, T, heads, D) projections), wide-ranging values."""
    g = torch.Generator().manual_seed(seed)
    total = sum(lengths)

    def wide(width):
        scale = 2.0 ** torch.randint(-3, 3, (1, total, width, dim), generator=g)
        return (torch.randn(1, total, width, dim, generator=g) * scale).bfloat16().transpose(1, 2)

    return wide(heads), wide(kv_heads), wide(kv_heads)


def _alone(query, key, value, lengths, scaling):
    starts = [0]
    for n in lengths:
        starts.append(starts[-1] + n)
    spans = [slice(a, b) for a, b in itertools.pairwise(starts)]
    rows = [flash_row(query[:, :, s], key[:, :, s], value[:, :, s], scaling) for s in spans]
    return torch.cat(rows, dim=2).transpose(1, 2)


@pytest.mark.parametrize("heads, kv_heads, dim", [(9, 3, 64), (4, 4, 128)])
def test_prefill_equals_torch_kernel_document_by_document(kernel, heads, kv_heads, dim):
    query, key, value = _packed_documents(PREFILL_LENGTHS, heads, kv_heads, dim, seed=dim)
    out = prefill_attention(query, key, value, PREFILL_LENGTHS, dim**-0.5)
    assert out is not None and out.shape == (1, sum(PREFILL_LENGTHS), heads, dim)
    alone = _alone(query, key, value, PREFILL_LENGTHS, dim**-0.5)
    assert torch.equal(out.view(torch.int16), alone.view(torch.int16))


def _probe(n, row, values):
    """One head, one document of n tokens whose keys all score 0 (p = 1 for every visible key),
    v[key, 0] = x for each (key, x) in `values`; returns (kernel's, torch's) output at `row`,
    dimension 0."""
    query = torch.zeros(1, 1, n, 64)
    key = torch.zeros(1, 1, n, 64)
    value = torch.zeros(1, 1, n, 64)
    for position, x in values:
        value[0, 0, position, 0] = x
    args = (query.bfloat16(), key.bfloat16(), value.bfloat16())
    out = prefill_attention(*args, [n], 0.125)
    return float(out[0, row, 0, 0]), float(_alone(*args, [n], 0.125)[0, row, 0, 0])


@pytest.mark.parametrize(
    "n, row, values, kept",
    [
        # (1 + 2^30) - 2^30 loses the 1 in one chain; in two K blocks (the boundary at 150) it stays
        (300, 299, [(149, 1.0), (150, 2.0**30), (151, -(2.0**30))], True),
        (300, 299, [(148, 1.0), (149, 2.0**30), (150, -(2.0**30))], False),
        # 227 keys: blocks of 113 and 113 and the odd last key alone, added after them
        (227, 226, [(44, 2.0**30), (147, -(2.0**30)), (226, 1.0)], True),
        # 512 keys: blocks of 192, 192 and 128
        (512, 511, [(383, 1.0), (384, 2.0**30), (385, -(2.0**30))], True),
        (512, 511, [(191, 1.0), (192, 2.0**30), (193, -(2.0**30))], True),
        # a query block of two rows (258 = 4 x 64 + 2) takes torch's own gemm: one chain, no blocks
        (258, 257, [(128, 1.0), (129, 2.0**30), (130, -(2.0**30))], False),
    ],
)
def test_prefill_reproduces_torch_summation_order(kernel, n, row, values, kept):
    # Random inputs rarely tell summation orders apart after the bf16 rounding of the output, so
    # these make them: with p = 1 the row's output is (sum of its values) / (row + 1).
    mine, torchs = _probe(n, row, values)
    assert mine == torchs
    assert (abs(mine * (row + 1) - 1.0) < 0.01) if kept else mine == 0.0


def test_prefill_declines_gradients_and_other_types(kernel):
    query, key, value = _packed_documents([20, 30], 4, 2, 64, seed=0)
    assert prefill_attention(query.float(), key.float(), value.float(), [20, 30], 0.125) is None
    assert prefill_attention(query, key, value, [20, 30], None) is None
    trained = query.clone().requires_grad_()
    assert prefill_attention(trained, key, value, [20, 30], 0.125) is None  # no backward pass
    with torch.no_grad():
        assert prefill_attention(trained, key, value, [20, 30], 0.125) is not None


def test_a_prefill_kernel_that_disagrees_is_not_used(monkeypatch, caplog):
    def zeros(query, key, value, lengths, scale):
        return query.new_zeros((1, query.shape[2], query.shape[1], query.shape[3]))

    extension = types.SimpleNamespace(prefill_attention=zeros)
    monkeypatch.setattr(exact_attention, "_extension", lambda: extension)
    exact_attention._prefill_agrees.cache_clear()
    try:
        lengths = [20, 5, 40]
        query, key, value = _packed_documents(lengths, 4, 2, 64, seed=0)
        with caplog.at_level(logging.WARNING, logger=exact_attention.__name__):
            out = prefill_attention(query, key, value, lengths, 0.125)
        assert torch.equal(out, _alone(query, key, value, lengths, 0.125))  # each through torch
        assert "differs from torch's kernel" in caplog.text
    finally:
        exact_attention._prefill_agrees.cache_clear()


def test_a_passed_check_is_remembered_across_processes(tmp_path, monkeypatch):
    binary = tmp_path / "kernel.so"
    binary.write_bytes(b"build 1")
    kernel = types.ModuleType("kernel")
    kernel.__file__ = str(binary)
    calls = []

    @exact_attention.remembered(lambda: kernel)
    def check(n: int) -> bool:
        calls.append(n)
        return n > 0

    def new_process():
        check.cache_clear()
        exact_attention._agreements.clear()

    assert check(3) and check(3) and calls == [3]  # once per process
    new_process()
    assert check(3) and calls == [3]  # a pass is kept: a later process does not check again
    assert len(json.loads((tmp_path / "agreements.json").read_text())) == 1
    assert not check(-1) and calls == [3, -1]
    new_process()
    assert not check(-1) and calls == [3, -1, -1]  # a failure is checked in every process
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # steers torch's kernels: checked again
    new_process()
    assert check(3) and calls == [3, -1, -1, 3]
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    binary.write_bytes(b"build 2, rebuilt")  # another build of the kernel: checked again
    new_process()
    assert check(3) and calls == [3, -1, -1, 3, 3]
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)  # another thread count: checked again
    try:
        new_process()
        assert check(3) and calls == [3, -1, -1, 3, 3, 3]
    finally:
        torch.set_num_threads(threads)
    (tmp_path / "agreements.json").write_text("[1, 2")  # unreadable: every check runs, then it is rewritten
    new_process()
    assert check(3) and calls[-1] == 3 and len(calls) == 7
    assert len(json.loads((tmp_path / "agreements.json").read_text())) == 1
    stand_in = types.SimpleNamespace()  # tests' stand-in kernels: checked in every process, nothing kept

    @exact_attention.remembered(lambda: stand_in)
    def stand_in_check() -> bool:
        calls.append("stand-in")
        return True

    for _ in range(2):
        stand_in_check.cache_clear()
        assert stand_in_check()
    assert calls[-2:] == ["stand-in", "stand-in"]
