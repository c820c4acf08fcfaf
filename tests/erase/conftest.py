"""A float64 tiny GPT-2 with a LoRA adapter, trained to a true minimum, for the second-order tests.

GPT-2, not the smoke preset's Llama: Llama's RMSNorm and eager softmax compute in float32 whatever
the model's dtype, which caps second-order checks at float32 accuracy (1e-7 HVP error, 1e-3
against finite differences). GPT-2's layers keep float64 end to end.

The minimum is found by full-batch L-BFGS on R(θ) = (1/n) Σ ℓ(z; θ) + (μ/2)‖θ‖², the objective the
influence function differentiates; an Adam-trained θ̂ would leave ∇R(θ̂) ≠ 0 and blur the comparison.
Without the L2 term (μ = WEIGHT_DECAY) random-token data has no finite minimum: the weights grow
and the Hessian's largest eigenvalue runs past 1e4.

Tests run on one thread: on two shared cores, two threads on these tiny tensors are 5-10x slower.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from obliviate.erase.objective import Objective
from obliviate.params import ParamsConfig, select_parameters
from tests.conftest import random_examples

VOCAB = 11
WEIGHT_DECAY = 1e-2


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_gpt2_lora(seed: int = 0, rank: int = 2, embd: int = 8) -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=VOCAB, n_embd=embd, n_layer=1, n_head=2, n_positions=16, attn_implementation="eager"
    )
    model = GPT2LMHeadModel(config).double()
    with warnings.catch_warnings():  # peft notes that GPT-2's Conv1D needs fan_in_fan_out
        warnings.simplefilter("ignore")
        lora = ParamsConfig(
            mode="lora", lora_rank=rank, lora_alpha=2.0 * rank, lora_targets=("c_attn", "c_fc")
        )
        model = select_parameters(model, lora)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # peft starts B at 0; a random B makes every product non-trivial
            torch.nn.init.normal_(p, std=0.3)
    return model.eval()


def minimize(objective: Objective, theta: torch.Tensor, examples, n: int, tol: float = 1e-10) -> torch.Tensor:
    """argmin (1/n) Σ_examples ℓ(z; θ) + (μ/2)‖θ‖² from `theta` by full-batch L-BFGS (float64)."""
    leaf = theta.detach().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [leaf], lr=1, max_iter=2000, tolerance_grad=tol, tolerance_change=0, line_search_fn="strong_wolfe"
    )

    def closure():
        closure.calls += 1
        optimizer.zero_grad()
        loss = sum(objective.losses(leaf, batch).sum() for batch in objective.batches(examples)) / n
        loss = loss + WEIGHT_DECAY / 2 * leaf.pow(2).sum()
        loss.backward()
        return loss

    closure.calls = 0
    optimizer.step(closure)
    return leaf.detach()


@pytest.fixture(scope="session")
def trained_lora():
    """(objective, θ̂, D): 64 random sequences, θ̂ a minimiser of R."""
    model = tiny_gpt2_lora()
    objective = Objective(model, pad_id=0, batch_size=64)
    data = random_examples(64, 6, vocab=VOCAB, seed=1)
    theta_hat = minimize(objective, objective.theta(), data, len(data))
    return objective, theta_hat, data
