"""Min-K%++'s moments through the one-pass kernel against hand values and the float64 reference."""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace

import pytest
import torch

from obliviate import numerics
from obliviate.eval import fused_moments
from obliviate.eval.metrics.mia import token_moments

LN2, LN3 = math.log(2), math.log(3)


@pytest.fixture
def kernel():
    if fused_moments._extension() is None:
        pytest.skip("no moments kernel here (no AVX-512 kernels in torch, or no C++ compiler)")
    return fused_moments._extension()


def test_moments_by_hand_with_zero_probabilities_and_a_tail(kernel):
    """p = (1/2, 1/4, 1/4): log p is -ln 2 w.p. 1/2, -2 ln 2 w.p. 1/2: mu -1.5 ln 2, sigma 0.5 ln 2;
    p uniform over 3: mu -ln 3, sigma 0. 37 entries (two 16-wide vectors and a tail of 5), the
    rest p = 0 (log p = -inf, adding 0); the probable tokens sit in the vectors and in the tail."""
    log_p = torch.full((2, 37), float("-inf"))
    log_p[0, [3, 20, 35]] = torch.tensor([0.5, 0.25, 0.25]).log()
    log_p[1, [0, 17, 36]] = -LN3
    mu, sigma = kernel.logp_moments(log_p)
    assert mu.tolist() == pytest.approx([-1.5 * LN2, -LN3], rel=1e-7)
    # the uniform row's sigma: 0 up to the rounding of -ln 3 (E[(log p)^2] - mu^2 would leave 3e-4)
    assert sigma.tolist() == pytest.approx([0.5 * LN2, 0.0], rel=1e-7, abs=1e-6)


def test_moments_closer_to_float64_than_torchs(kernel):
    """Near-uniform to peaked rows of a 49k vocabulary: the kernel's mu and sigma are within 3e-7
    of the float64 reference, relative, and no further than torch's six ops' (float64 sums, the
    centred variance; torch's fp32 E[(log p)^2] - mu^2 misses sigma by ~2e-5 near-uniform)."""
    generator = torch.Generator().manual_seed(0)
    for spread in (1.0, 3.0, 10.0, 30.0):
        log_p = (torch.randn(8, 49152, generator=generator) * spread).log_softmax(-1)
        reference = [torch.from_numpy(x) for x in token_moments(log_p.numpy())]  # float64
        for got, theirs, ref, name in zip(
            kernel.logp_moments(log_p), numerics.logp_moments(log_p), reference, ("mu", "sigma"), strict=True
        ):
            error = ((got.double() - ref).abs() / ref.abs()).max().item()
            torch_error = ((theirs.double() - ref).abs() / ref.abs()).max().item()
            assert error < 3e-7 and error <= torch_error, (name, spread, error, torch_error)


def test_a_rows_moments_do_not_depend_on_its_neighbours_or_threads(kernel):
    """What the likelihood pass needs: a document's values whatever rows share its chunk."""
    generator = torch.Generator().manual_seed(1)
    log_p = (torch.randn(9, 4099, generator=generator) * 5).log_softmax(-1)
    together = kernel.logp_moments(log_p)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one_thread = kernel.logp_moments(log_p)
    finally:
        torch.set_num_threads(threads)
    for r in range(9):
        alone = kernel.logp_moments(log_p[r : r + 1].contiguous())
        for a, b, c in zip(together, one_thread, alone, strict=True):
            assert a[r].view(torch.int32) == b[r].view(torch.int32) == c[0].view(torch.int32), r


def test_a_nan_log_prob_makes_its_row_nan_only(kernel):
    log_p = torch.full((3, 40), -LN2 - math.log(20))  # p = 1/40 each
    log_p[1, 33] = float("nan")
    mu, sigma = kernel.logp_moments(log_p)
    assert mu[1].isnan() and sigma[1].isnan()
    assert mu[[0, 2]].tolist() == pytest.approx([-LN2 - math.log(20)] * 2, rel=1e-6)


def test_the_kernel_runs_for_fp32_log_probs_and_torch_elsewhere(kernel, monkeypatch):
    calls = []
    real = kernel.logp_moments
    assert fused_moments._agrees()  # the check's own call, before counting
    counted = SimpleNamespace(logp_moments=lambda x: calls.append(tuple(x.shape)) or real(x))
    monkeypatch.setattr(fused_moments, "_extension", lambda: counted)
    log_p = (torch.randn(2, 3, 100) * 4).log_softmax(-1)
    mu, sigma = fused_moments.logp_moments(log_p)
    assert calls == [(6, 100)] and mu.shape == sigma.shape == (2, 3)
    assert torch.equal(mu, real(log_p.reshape(6, 100))[0].reshape(2, 3))
    for other in (log_p.double(), log_p.clone().requires_grad_()):
        got = fused_moments.logp_moments(other)
        expected = numerics.logp_moments(other)
        assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
    assert len(calls) == 1


def test_a_kernel_that_misses_the_reference_is_not_used(kernel, monkeypatch, caplog):
    wrong = SimpleNamespace(logp_moments=lambda x: (x[:, 0] * 0, x[:, 0] * 0))
    monkeypatch.setattr(fused_moments, "_extension", lambda: wrong)
    fused_moments._agrees.cache_clear()
    try:
        log_p = (torch.randn(4, 300) * 3).log_softmax(-1)
        with caplog.at_level(logging.WARNING):
            got = fused_moments.logp_moments(log_p)
        assert all(torch.equal(a, b) for a, b in zip(got, numerics.logp_moments(log_p), strict=True))
        assert "misses the float64 reference" in caplog.text
        assert fused_moments.implementation() == "torch"  # what the pass cache files them under
    finally:
        fused_moments._agrees.cache_clear()


def test_without_the_kernel_torchs_ops_run_and_say_so(monkeypatch):
    monkeypatch.setattr(fused_moments, "_extension", lambda: None)
    log_p = (torch.randn(3, 70) * 2).log_softmax(-1)
    got = fused_moments.logp_moments(log_p)
    assert all(torch.equal(a, b) for a, b in zip(got, numerics.logp_moments(log_p), strict=True))
    assert fused_moments.implementation() == "torch"


def test_logit_statistics_by_hand(kernel):
    """Logits 0 and ln 3 (the rest -inf): p = (1/4, 3/4), log p of the second ln(3/4), mu =
    ln(1/4)/4 + 3 ln(3/4)/4, sigma = sqrt(p (1 - p)) |ln(1/4) - ln(3/4)| = ln 3 sqrt(3)/4. Four equal
    bf16 logits: log p = mu = -ln 4, sigma 0. 37 entries: the probable ones in the vectors and the
    tail."""
    logits = torch.full((2, 37), float("-inf"))
    logits[0, [5, 34]] = torch.tensor([0.0, LN3])
    logits[1, [0, 16, 33, 36]] = 1.5
    logp, mu, sigma = kernel.logit_statistics(logits, torch.tensor([34, 36]))
    assert logp[0].item() == pytest.approx(math.log(0.75), rel=1e-6)
    assert mu[0].item() == pytest.approx(math.log(0.25) / 4 + 3 * math.log(0.75) / 4, rel=1e-6)
    assert sigma[0].item() == pytest.approx(LN3 * math.sqrt(3) / 4, rel=1e-6)
    logp, mu, sigma = kernel.logit_statistics(logits[1:].bfloat16(), torch.tensor([16]))
    assert logp.item() == pytest.approx(-2 * LN2, rel=1e-7) and mu.item() == pytest.approx(-2 * LN2, rel=1e-7)
    assert sigma.item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("vocabulary", [49152, 1001, 16, 7])
def test_logit_statistics_equal_torchs_log_softmax_then_the_moments_bit_for_bit(kernel, vocabulary):
    """What the likelihood pass computed before in three steps (`log_probs`, `label_logps`, the
    moments kernel), for bf16 and fp32 logits of near-uniform to peaked rows, -inf logits, a lone
    row, widths with and without a tail."""
    generator = torch.Generator().manual_seed(vocabulary)
    for spread in (1.0, 5.0, 30.0):
        for rows in (1, 9):
            logits = torch.randn(rows, vocabulary, generator=generator) * spread
            logits[0, ::5] = float("-inf")
            targets = torch.randint(0, vocabulary, (rows,), generator=generator)
            for typed in (logits.bfloat16(), logits):
                log_p = numerics.log_probs(typed)
                expected = (numerics.label_logps(log_p, targets), *kernel.logp_moments(log_p))
                got = kernel.logit_statistics(typed, targets)
                for name, a, b in zip(("logp", "mu", "sigma"), got, expected, strict=True):
                    assert torch.equal(a, b), (name, spread, rows, typed.dtype)


def test_logit_statistics_refuse_what_they_cannot_read(kernel):
    logits = torch.randn(2, 10)
    with pytest.raises(RuntimeError, match="target 10 outside the vocabulary of 10"):
        kernel.logit_statistics(logits, torch.tensor([0, 10]))
    with pytest.raises(RuntimeError, match="bf16 or fp32"):
        kernel.logit_statistics(logits.half(), torch.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="one int64 target per row"):
        kernel.logit_statistics(logits, torch.tensor([0]))
    # the module's function widens what the kernel does not read, as `log_probs` does
    got = fused_moments.logit_statistics(logits.half(), torch.tensor([0, 3]))
    expected = kernel.logit_statistics(logits.half().float(), torch.tensor([0, 3]))
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))


@torch.no_grad()
def test_fused_statistics_that_miss_torchs_are_not_used(kernel, monkeypatch, caplog):
    targets = torch.zeros(3, dtype=torch.long)
    assert fused_moments.fuses_statistics(targets)
    with torch.enable_grad():
        assert not fused_moments.fuses_statistics(targets)
    off = SimpleNamespace(
        logp_moments=kernel.logp_moments,
        logit_statistics=lambda x, t: [v + 1e-3 for v in kernel.logit_statistics(x, t)],
    )
    monkeypatch.setattr(fused_moments, "_extension", lambda: off)
    fused_moments._statistics_agree.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            assert not fused_moments.fuses_statistics(targets)
        assert "fused log-softmax and moments miss torch's" in caplog.text
    finally:
        fused_moments._statistics_agree.cache_clear()
