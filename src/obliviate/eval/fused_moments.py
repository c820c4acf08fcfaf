"""Min-K%++'s moments of log p (`numerics.logp_moments`) in one pass over each row of log-probs.

torch computes them as six passes over a (positions, vocabulary) block (exp, two products, a
square, two sums): on this project's 2-core CPU they took 0.66 s of a likelihood pass over LUME's
68 validation MIA documents (15.9 s against 15.2 s with them left out, medians of 4, 2026-12-05),
most of it MKL's exp. `kernels/moments.cpp` reads each row once, takes p from a polynomial exp and
sums in float64: 0.19 s for the same positions (0.087 against 0.34 ms for 8 positions of a 49k
vocabulary), and it takes the variance in the centred form, as the float64 reference
(`eval.metrics.mia.token_moments`) does.

Its values are not torch's bits; on random rows of a 49k vocabulary they are closer to the
reference: mu within 7e-8 relative (torch's: 1.5e-7), sigma within 7e-8 (torch's E[(log p)^2] -
mu^2 in fp32: 2e-5 on near-uniform rows, where it cancels). A row's values do not depend on the
rows beside it nor on the thread count, so the likelihood pass still gives each document what its
own forward pass gives. The kernel runs on CPUs where torch runs AVX-512 kernels, for fp32
log-probs without gradients, once it has matched the reference on random rows; elsewhere (another
device or dtype, no compiler, a failed check) torch's six ops run, whose values differ from the
kernel's in the last bits: `implementation()` names which one this CPU uses, for cache keys.

`logit_statistics` goes from the logits: torch's log-softmax (its own vector code, inside the
kernel) feeding the same sums, and the target's log-prob, without writing the log-probs out. Its
values are those of `log_probs` then `logp_moments` and `label_logps`, bit for bit (checked at load
time); for a 256-position block of a 49k vocabulary it takes 7.1 ms against 8.5 ms for the three
in chunks of 8 positions (medians of 15, 2 threads).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import torch

from obliviate import numerics
from obliviate.eval.exact_attention import FLAGS, build
from obliviate.eval.metrics.mia import token_moments

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("kernels") / "moments.cpp"


@functools.cache
def _extension():
    """The compiled kernel module, or None (no AVX-512 kernels in torch, or no compiler)."""
    return build("obliviate_moments", SOURCE, FLAGS, "torch's ops compute Min-K%++'s moments")


def implementation() -> str:
    """Which computation a CPU's moments take: "float64 sums" where the kernel is built and has
    matched the reference, else "torch" (for cache keys: a machine without a compiler must not
    file torch's values under the kernel's name). Builds the kernel on first use."""
    return "float64 sums" if _extension() is not None and _agrees() else "torch"


def _check_logits(vocabulary: int, generator: torch.Generator) -> torch.Tensor:
    """16 random rows of logits for the checks: four rows each of spreads 1, 3, 10 and 30
    (near-uniform to peaked), every third logit of the first row -inf (zero probabilities)."""
    logits = (
        torch.randn(4, 4, vocabulary, generator=generator)
        * torch.tensor([1.0, 3.0, 10.0, 30.0])[:, None, None]
    )
    logits[0, 0, ::3] = float("-inf")
    return logits.reshape(16, vocabulary)


@functools.cache
def _agrees() -> bool:
    """The kernel's moments match the float64 reference on random rows: log-probs of logits of
    spreads 1 to 30 (near-uniform to peaked), an odd vocabulary size, a row with zero
    probabilities. Tolerances ~30x the errors measured (module docstring)."""
    log_p = _check_logits(1001, torch.Generator().manual_seed(0)).log_softmax(-1)
    mu, sigma = _extension().logp_moments(log_p)
    mu_ref, sigma_ref = (torch.from_numpy(x) for x in token_moments(log_p.numpy()))
    same = torch.allclose(mu.double(), mu_ref, rtol=2e-6, atol=1e-6) and torch.allclose(
        sigma.double(), sigma_ref, rtol=2e-6, atol=1e-6
    )
    if not same:
        log.warning("the moments kernel misses the float64 reference; torch's ops compute them")
    return same


@functools.cache
def _statistics_agree() -> bool:
    """`logit_statistics` gives what torch's log-softmax then the moments kernel give, bit for bit,
    on random bf16 and fp32 logits: spreads 1 to 30, a vocabulary that is a multiple of the vectors
    and one that is not, -inf logits."""
    generator = torch.Generator().manual_seed(0)
    for vocabulary in (1001, 4096):
        logits = _check_logits(vocabulary, generator)
        targets = torch.randint(0, vocabulary, (16,), generator=generator)
        for typed in (logits.bfloat16(), logits):
            log_p = numerics.log_probs(typed)
            expected = (numerics.label_logps(log_p, targets), *_extension().logp_moments(log_p))
            got = _extension().logit_statistics(typed, targets)
            if not all(torch.equal(a, b) for a, b in zip(got, expected, strict=True)):
                log.warning("the fused log-softmax and moments miss torch's; they run apart")
                return False
    return True


def fuses_statistics(targets: torch.Tensor) -> bool:
    """Whether `logit_statistics` runs for these targets' positions: on the CPU, without gradients,
    where the moments kernel runs and the fused one has matched torch."""
    return (
        targets.device.type == "cpu"
        and not torch.is_grad_enabled()
        and implementation() == "float64 sums"
        and _statistics_agree()
    )


def logit_statistics(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(log p of each target, mu, sigma), each (R,), from logits (R, V) and targets (R,): the values
    of `label_logps(log_probs(logits), targets)` and `logp_moments(log_probs(logits))` in one pass
    (module docstring). Only where `fuses_statistics(targets)`."""
    if logits.dtype not in (torch.bfloat16, torch.float32):
        logits = logits.float()  # what `log_probs` does first; exact
    return tuple(_extension().logit_statistics(logits.contiguous(), targets.contiguous()))


def logp_moments(log_p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, sigma) of log p(z) under z ~ p at each position, (...,) from log-probs (..., V):
    `numerics.logp_moments`, through the kernel where it applies (module docstring)."""
    applies = (
        log_p.device.type == "cpu"
        and log_p.dtype == torch.float32
        and log_p.dim() >= 1
        and not (torch.is_grad_enabled() and log_p.requires_grad)
    )
    if applies and implementation() == "float64 sums":
        rows = log_p.reshape(-1, log_p.shape[-1]).contiguous()
        mu, sigma = _extension().logp_moments(rows)
        return mu.reshape(log_p.shape[:-1]), sigma.reshape(log_p.shape[:-1])
    return numerics.logp_moments(log_p)
