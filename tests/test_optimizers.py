"""AdamW with bf16 moment estimates: the stochastic rounding, the step against torch's AdamW, resume."""

from __future__ import annotations

import pytest
import torch

from obliviate import optimizers
from obliviate.engine import TrainConfig, train_key
from obliviate.optimizers import AdamWBF16States, hash_bits, round_bf16_stochastic
from tests.test_engine import fit


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_stochastic_rounding_picks_a_neighbour_with_its_odds(sign):
    # 1 + 2^-9 lies a quarter of the way from bf16's 1 to its next value 1 + 2^-7
    # the noise the optimizer uses: both 16-bit halves of the hashed counters
    bits = hash_bits(torch.arange(12345, 12345 + 40_000, dtype=torch.int32))
    for noise in (bits & 0xFFFF, (bits >> 16) & 0xFFFF):
        x = torch.full((40_000,), sign * (1 + 2**-9))
        rounded = round_bf16_stochastic(x, noise).float()
        assert set(rounded.abs().unique().tolist()) == {1.0, 1 + 2**-7}
        up = (rounded.abs() > 1).float().mean().item()
        assert abs(up - 0.25) < 0.01  # 40k draws: standard error 0.002
    exact = torch.tensor([1.5, -0.375, 0.0, 2.0**-100])  # bf16 values stay what they are
    assert torch.equal(round_bf16_stochastic(exact.clone(), bits[:4] & 0xFFFF).float(), exact)


def test_the_hash_is_lowbias32():
    # C. Wellons' reference values of lowbias32 (x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15;
    # x *= 0x846ca68b; x ^= x >> 16), computed by hand with Python integers
    def reference(x: int) -> int:
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        return x ^ (x >> 16)

    counters = [0, 1, 2, 12345, 2**31 - 1, 2**31, 2**32 - 1]  # the last two are negative int32s
    as_int32 = torch.tensor([c - 2**32 if c >= 2**31 else c for c in counters], dtype=torch.int32)
    got = [b & 0xFFFFFFFF for b in hash_bits(as_int32).tolist()]
    assert got == [reference(c) for c in counters]
    assert len(set(got)) == len(counters)


def test_the_first_step_is_adamws_and_the_states_are_bf16():
    torch.manual_seed(0)
    start = torch.randn(3000)
    grad = torch.randn(3000)
    ours, theirs = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    opt = AdamWBF16States([ours], lr=1e-2, weight_decay=0.1)
    reference = torch.optim.AdamW([theirs], lr=1e-2, weight_decay=0.1)
    ours.grad, theirs.grad = grad.clone(), grad.clone()
    opt.step()
    reference.step()
    # from zero moments the step reads no rounded state: (1 - lr wd) p - lr g / (|g| + eps)
    expected = start * (1 - 1e-2 * 0.1) - 1e-2 * grad / (grad.abs() + 1e-8)
    torch.testing.assert_close(ours.detach(), expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours.detach(), theirs.detach(), rtol=1e-6, atol=1e-7)
    assert {t.dtype for t in opt.state[ours].values() if isinstance(t, torch.Tensor)} == {torch.bfloat16}


def _least_squares(optimizer_of, steps=300):
    torch.manual_seed(0)
    a, b = torch.randn(64, 40), torch.randn(64)
    p = torch.nn.Parameter(torch.zeros(40))
    opt = optimizer_of([p])
    for _ in range(steps):
        opt.zero_grad()
        ((a @ p - b) ** 2).mean().backward()
        opt.step()
    return p.detach(), ((a @ p - b) ** 2).mean().item()


def test_training_with_bf16_states_follows_torch_adamw(monkeypatch):
    monkeypatch.setattr(optimizers, "CHUNK", 16)  # the 40 values in three chunks
    ours, our_loss = _least_squares(lambda ps: AdamWBF16States(ps, lr=1e-2, weight_decay=0.01))
    theirs, their_loss = _least_squares(lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.01))
    start_loss = _least_squares(lambda ps: torch.optim.AdamW(ps, lr=1e-2), steps=0)[1]
    assert our_loss < 0.5 * start_loss
    assert our_loss == pytest.approx(their_loss, rel=0.02)
    assert (ours - theirs).abs().max() < 0.02 * theirs.abs().max()


def test_a_loaded_state_continues_exactly_and_stays_bf16():
    torch.manual_seed(0)
    grads = [torch.randn(100) for _ in range(6)]
    first = torch.nn.Parameter(torch.randn(100))
    opt = AdamWBF16States([first], lr=1e-2, seed=3)
    for g in grads[:3]:
        first.grad = g.clone()
        opt.step()
    second = torch.nn.Parameter(first.detach().clone())
    resumed = AdamWBF16States([second], lr=1e-2, seed=99)  # the seed is the saved generator's
    resumed.load_state_dict(opt.state_dict())
    for g in grads[3:]:
        first.grad, second.grad = g.clone(), g.clone()
        opt.step()
        resumed.step()
    assert torch.equal(first, second)
    assert resumed.state[second]["exp_avg"].dtype == torch.bfloat16


def test_bf16_states_train_keep_fp32_keys_and_enter_the_key():
    cfg = TrainConfig(lr=3e-2, epochs=10, batch_size=4, progress=False, precision="fp32")
    bf16 = cfg.model_copy(update={"optimizer_states": "bf16"})
    assert "optimizer_states" not in train_key(cfg)  # the keys of every run before the option
    assert train_key(bf16)["optimizer_states"] == "bf16"
    result = fit(bf16, n=8)
    assert result.losses[0] > 3.9
    assert sum(result.losses[-2:]) / 2 < 0.5 * result.losses[0]
    assert torch.equal(
        next(fit(bf16, n=8).model.parameters()), next(result.model.parameters())
    )  # seeded rounding: a run repeats
