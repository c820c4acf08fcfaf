"""AdamW with its two moment estimates stored in bf16 (`TrainConfig.optimizer_states=bf16`).

torch's AdamW keeps each moment in the parameter's dtype: for fp32 master weights that is 8 bytes a
parameter, 1.08 GB of SmolLM2-135M's run. In bf16 they take half. Rounded to nearest they would
stop moving: with beta2 = 0.999 a step changes the second moment by ~0.1 %, below half a bf16 unit
(0.2-0.4 %), so every change would round away. They are rounded stochastically instead (up with
the probability of the distance to the lower neighbour): unbiased, so the moments track their fp32
values on average. The random bits hash a counter per element, from an offset a generator seeded
with the run's seed draws for each parameter and step: a run repeats exactly. The arithmetic is
AdamW's (decoupled weight decay, bias correction) in fp32, a chunk of each parameter at a time, so
the fp32 temporaries stay small.
"""

from __future__ import annotations

import itertools
import math

import torch

CHUNK = 1 << 18  # elements of a parameter updated together: 1 MB fp32 temporaries, in cache


def hash_bits(counters: torch.Tensor) -> torch.Tensor:
    """32 pseudo-random bits per counter: the 'lowbias32' integer hash (C. Wellons) of int32
    counters (arithmetic modulo 2^32, so a counter past 2^31 is a negative int32), as int32 bit
    patterns; overwrites `counters`. A counter-based generator: no state to draw from, several
    times faster than torch's CPU generator, which would take most of a step."""
    x = counters
    x.bitwise_xor_((x >> 16).bitwise_and_(0xFFFF))  # the masks make torch's arithmetic shifts logical
    x.mul_(0x7FEB352D)
    x.bitwise_xor_((x >> 15).bitwise_and_(0x1FFFF))
    x.mul_(0x846CA68B - (1 << 32))  # the multiplier as an int32
    return x.bitwise_xor_((x >> 16).bitwise_and_(0xFFFF))


def round_bf16_stochastic(x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """`x` (fp32, overwritten) in bf16, each value rounded to one of its two bf16 neighbours, up
    with probability (x - lower) / (upper - lower) for uniform `noise` in [0, 2^16): the 16 bits
    bf16 drops, plus the noise, carry into the kept ones or not. Exact where x is a bf16 value."""
    kept = x.view(torch.int32).add_(noise).bitwise_and_(-(1 << 16))  # 0xFFFF0000
    return kept.view(torch.float32).to(torch.bfloat16)  # exact: the low 16 bits are zero


class AdamWBF16States(torch.optim.Optimizer):
    """`torch.optim.AdamW` (same defaults) with exp_avg and exp_avg_sq in bf16."""

    def __init__(
        self,
        params,
        lr: float,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        seed: int = 0,
    ):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})
        self.generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, dtype=torch.bfloat16)
                    state["exp_avg_sq"] = torch.zeros_like(p, dtype=torch.bfloat16)
                state["step"] += 1
                step_size = lr / (1 - beta1 ** state["step"])
                root_correction = math.sqrt(1 - beta2 ** state["step"])
                # this step's counters for this parameter start at a seeded random offset
                offset = int(torch.randint(0, 1 << 31, (), generator=self.generator))
                flat = [t.view(-1) for t in (p, p.grad, state["exp_avg"], state["exp_avg_sq"])]
                chunks = zip(*(t.split(CHUNK) for t in flat), strict=True)
                for start, (param, grad, exp_avg, exp_avg_sq) in zip(itertools.count(0, CHUNK), chunks):
                    param.mul_(1 - lr * decay)
                    m = exp_avg.float().lerp_(grad, 1 - beta1)
                    v = exp_avg_sq.float().mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                    param.addcdiv_(m, v.sqrt().div_(root_correction).add_(eps), value=-step_size)
                    counters = torch.arange(start, start + len(param), dtype=torch.int32, device=p.device)
                    bits = hash_bits(counters.add_(offset))  # 16 bits for each moment
                    exp_avg.copy_(round_bf16_stochastic(m, bits & 0xFFFF))
                    exp_avg_sq.copy_(round_bf16_stochastic(v, (bits >> 16).bitwise_and_(0xFFFF)))
        return loss

    def state_dict(self):
        return {**super().state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        # accelerate moves a state dict to the parameters' device; the generator's state stays a CPU tensor
        self.generator.set_state(state_dict.pop("generator").cpu())
        super().load_state_dict(state_dict)
        for state in self.state.values():  # torch casts loaded states to the parameter's dtype
            for key in ("exp_avg", "exp_avg_sq"):
                state[key] = state[key].to(torch.bfloat16)
