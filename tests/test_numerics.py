"""obliviate.numerics: each function against values computed by hand, and every call site that now
uses it against the expression it had before (bitwise: results and cache keys must not move)."""

from __future__ import annotations

import math
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from obliviate import numerics
from obliviate.erase.compare import model_logits, token_kl
from obliviate.erase.objective import token_nll
from obliviate.eval import fused_moments
from obliviate.eval.metrics.mia import token_moments
from obliviate.eval.metrics.utility import perplexity
from obliviate.eval.passes import token_statistics
from obliviate.methods import method_config
from obliviate.methods._logps import answer_logps, kl_from_reference
from obliviate.methods.undial import undial_loss
from obliviate.training_data import Example, collate
from tests.conftest import tiny_llama

LN2, LN3 = math.log(2), math.log(3)

# 2 rows, 4 tokens, vocabulary 3. The logits are log-probabilities, so log_softmax leaves them as
# they are: position 0 predicts with p = (1/4, 1/2, 1/4), position 1 with (1/2, 1/4, 1/4),
# position 2 uniformly; position 3 predicts nothing (no label after it).
P0, P1, P2 = (0.25, 0.5, 0.25), (0.5, 0.25, 0.25), (1 / 3, 1 / 3, 1 / 3)
LOGITS = torch.tensor([[P0, P1, P2, (0.9, 0.05, 0.05)]] * 2).log()  # (2, 4, 3)
# row 0: a -100 in the middle of the scored labels; row 1: at the start of them (a prompt token).
# Labels[:, 0] is never scored (nothing predicts it): 7 is out of the vocabulary on purpose.
LABELS = torch.tensor([[7, 1, -100, 0], [-100, -100, 2, 1]])
# the scored labels: row 0 p0(1) = 1/2, p2(0) = 1/3; row 1 p1(2) = 1/4, p2(1) = 1/3
TOKEN_LOGPS = [[-LN2, 0.0, -LN3], [0.0, -2 * LN2, -LN3]]
MASK = [[True, False, True], [False, True, True]]


def test_shift_labels_and_safe_labels():
    shifted, mask = numerics.shift_labels(LABELS)
    assert shifted.tolist() == [[1, -100, 0], [-100, 2, 1]]
    assert mask.tolist() == MASK
    assert numerics.safe_labels(shifted, mask).tolist() == [[1, 0, 0], [0, 2, 1]]


def test_shift_logits_drops_the_last_position():
    assert numerics.shift_logits(torch.arange(8).view(2, 4)).tolist() == [[0, 1, 2], [4, 5, 6]]


def test_log_probs_casts_before_the_softmax():
    logits = torch.tensor([[0.0, LN2, 0.0]])
    torch.testing.assert_close(numerics.log_probs(logits), torch.tensor([[0.25, 0.5, 0.25]]).log())
    assert numerics.log_probs(logits.bfloat16()).dtype == torch.float32
    assert numerics.log_probs(logits.double(), dtype=None).dtype == torch.float64
    assert numerics.log_probs(logits, dtype=torch.float64).dtype == torch.float64


def test_label_logps_reads_the_label_column():
    log_probs = torch.tensor([[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0]])
    assert numerics.label_logps(log_probs, torch.tensor([2, 0])).tolist() == [-3.0, -4.0]


def test_token_logps_by_hand():
    logps, mask = numerics.token_logps(LOGITS, LABELS)
    torch.testing.assert_close(logps, torch.tensor(TOKEN_LOGPS))
    assert mask.tolist() == MASK
    assert numerics.token_logps(LOGITS.double(), LABELS, dtype=None)[0].dtype == torch.float64


def test_summed_nll_by_hand():
    total, count = numerics.summed_nll(LOGITS, LABELS)
    assert total.item() == pytest.approx(math.log(72))  # -(ln 1/2 + ln 1/3 + ln 1/4 + ln 1/3)
    assert count.item() == 4


def test_sequence_logps_sums_packed_tokens_per_row():
    sums, counts = numerics.sequence_logps(torch.tensor([-1.0, -2.0, -0.5]), torch.tensor([0, 0, 2]), 3)
    assert sums.tolist() == [-3.0, 0.0, -0.5]
    assert counts.tolist() == [2, 0, 1]


def test_kl_by_hand():
    log_p, log_q = torch.tensor([P1, P0]).log(), torch.tensor([P0, P0]).log()
    # KL(P1 ‖ P0) = 1/2 ln 2 + 1/4 ln 1/2 + 0; KL(P0 ‖ P0) = 0
    torch.testing.assert_close(numerics.kl(log_p, log_q), torch.tensor([LN2 / 4, 0.0]))


def test_kl_from_uniform_by_hand_and_equal_to_kl():
    # KL(U ‖ P0) over 3 tokens = (1/3)·Σ_v (log(1/3) − log p_v) = −ln 3 − (ln ¼ + ln ½ + ln ¼)/3
    expected = -LN3 - (math.log(0.25) + math.log(0.5) + math.log(0.25)) / 3
    log_q = LOGITS.log_softmax(-1)
    got = numerics.kl_from_uniform(log_q)
    assert got[0, 0].item() == pytest.approx(expected, abs=1e-6)
    assert got[0, 2].item() == pytest.approx(0.0, abs=1e-6)  # uniform q: nothing to pay
    uniform = torch.full_like(log_q, -LN3)
    torch.testing.assert_close(got, numerics.kl(uniform, log_q))


def test_logp_moments_by_hand():
    mu, sigma = numerics.logp_moments(torch.tensor([P1, P2]).log())
    # P1: log p is -ln 2 (p 1/2) or -2 ln 2 (p 1/2): mean -1.5 ln 2, std 0.5 ln 2; uniform: -ln 3, 0
    torch.testing.assert_close(mu, torch.tensor([-1.5 * LN2, -LN3]))
    torch.testing.assert_close(sigma, torch.tensor([0.5 * LN2, 0.0]))


class FixedModel(torch.nn.Module):
    """Returns LOGITS whatever the input; soft-capped, so `label_logits` takes the full-logits path."""

    config = SimpleNamespace(final_logit_softcapping=30.0)

    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(logits=LOGITS[: len(input_ids)])


def test_label_logits_and_nll_by_hand():
    batch = {"input_ids": torch.zeros(2, 4, dtype=torch.long), "attention_mask": None, "labels": LABELS}
    logits, labels, rows = numerics.label_logits(FixedModel(), batch)
    assert torch.equal(logits, LOGITS[:, :-1][torch.tensor(MASK)])
    assert labels.tolist() == [1, 0, 2, 1]
    assert rows.tolist() == [0, 0, 1, 1]
    assert numerics.nll(FixedModel(), batch).item() == pytest.approx(math.log(72) / 4)


def test_importing_targets_imports_no_method():
    import subprocess
    import sys

    code = "import sys, obliviate.targets; print(any(m.startswith('obliviate.methods') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- the call sites against the expressions they had before (commit 7ff9df9) --------------------


def _batch():
    examples = [
        Example((1, 5, 6, 7, 8, 9), (-100, -100, 6, 7, -100, 9)),  # prompt, then a hole in the answer
        Example((1, 9, 10, 11), (-100, -100, 10, 11)),
        Example((1, 4, 12), (-100, -100, 12)),
    ]
    return examples, collate(examples, pad_id=0)


@pytest.fixture(params=[torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def models(request):
    return tuple(tiny_llama(seed).to(request.param).eval().requires_grad_(False) for seed in (0, 1))


def _logits(model, batch):
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def test_method_terms_equal_their_former_expressions(models):
    model, reference = models
    _, batch = _batch()
    labels = batch["labels"][:, 1:]
    mask = labels != -100
    # answer_logps (full-logits form: the packed form reads the same logits at the same positions)
    logits, packed_labels, rows = numerics.label_logits(model, batch)
    former = logits.float().log_softmax(-1).gather(-1, packed_labels.unsqueeze(-1)).squeeze(-1)
    sums, counts = answer_logps(model, batch)
    assert torch.equal(sums, former.new_zeros(3).index_add(0, rows, former))
    assert torch.equal(counts, torch.bincount(rows, minlength=3))
    # kl_from_reference
    logp = _logits(model, batch).float().log_softmax(-1)
    ref_logp = _logits(reference, batch).float().log_softmax(-1)
    former_kl = (ref_logp.exp() * (ref_logp - logp)).sum(-1)[batch["attention_mask"].bool()].mean()
    assert torch.equal(kl_from_reference(model, reference, batch), former_kl)
    # undial
    safe = labels.masked_fill(~mask, 0).unsqueeze(-1)
    logp = _logits(model, batch)[:, :-1].float().log_softmax(-1)
    adjusted = _logits(reference, batch)[:, :-1].float()
    adjusted.scatter_add_(-1, safe, torch.full_like(safe, -3.0, dtype=adjusted.dtype))
    former_loss = -(adjusted.softmax(-1) * logp).sum(-1)[mask].mean()
    former_p_true = logp.gather(-1, safe).exp()[mask].mean().item()
    with torch.no_grad():
        loss, info = undial_loss(model, {"forget": batch}, reference, method_config("undial", {"beta": 3.0}))
    assert torch.equal(loss, former_loss) and info["forget_p_true"] == former_p_true


def test_erase_terms_equal_their_former_expressions(models):
    model, reference = models
    examples, batch = _batch()
    labels = batch["labels"][:, 1:]
    mask = labels != -100
    logits = _logits(model, batch).double()
    logps = torch.gather(logits[:, :-1].log_softmax(-1), 2, labels.masked_fill(~mask, 0).unsqueeze(-1))
    nll, nll_mask = token_nll(logits, batch["labels"])
    assert torch.equal(nll, -logps.squeeze(-1) * mask) and torch.equal(nll_mask, mask)
    log_p = _logits(model, batch)[:, :-1].double().log_softmax(-1)
    log_q = _logits(reference, batch)[:, :-1].double().log_softmax(-1)
    per_token = (log_p.exp() * (log_p - log_q)).sum(-1)
    former = float(per_token[mask].sum()) / int(mask.sum())
    assert token_kl(model_logits(model), model_logits(reference), examples, pad_id=0) == former


class CharTokenizer:
    """One token per character, ids 3..62; pad 0."""

    pad_token_id = 0
    eos_token_id = 2

    def __call__(self, text, add_special_tokens=True):
        ids = [3 + ord(ch) % 60 for ch in text]
        return SimpleNamespace(input_ids=ids) if add_special_tokens else {"input_ids": ids}


def test_eval_passes_equal_their_former_expressions(models):
    model, _ = models
    text = "the quick brown fox"
    input_ids = torch.tensor([CharTokenizer()(text).input_ids])
    logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).logits
    # perplexity over one window: the former cross-entropy of the shifted logits in float32
    former_nll = F.cross_entropy(logits[0, :-1].float(), input_ids[0, 1:], reduction="sum")
    assert perplexity(model, CharTokenizer(), text, window=len(text)) == math.exp(float(former_nll) / 18)
    # token_statistics: log p of each token and the moments of log p under the model (the moments
    # by fused_moments: float64 sums where its kernel runs, so within rounding of the float64 form)
    logprobs = logits[:, :-1].float().log_softmax(-1)
    (stats,) = token_statistics(model, CharTokenizer(), [text])
    assert torch.equal(torch.from_numpy(stats.logps), logprobs.gather(-1, input_ids[:, 1:, None])[0, :, 0])
    mu, sigma = fused_moments.logp_moments(logprobs[0])
    assert torch.equal(torch.from_numpy(stats.mu), mu)
    assert torch.equal(torch.from_numpy(stats.sigma), sigma)
    mu_float64, sigma_float64 = token_moments(logprobs[0].numpy())
    tolerance = 1e-6 if fused_moments._extension() is not None else 1e-3  # else torch's fp32 form
    np.testing.assert_allclose(stats.mu, mu_float64, rtol=tolerance)
    np.testing.assert_allclose(stats.sigma, sigma_float64, rtol=tolerance)


# --- packed sequences (the engine's `pack_sequences`) ----------------------------------------------


@contextmanager
def training_packed(model, on: bool = True):
    """Within: the model attends as the engine switches it for a packed run (if `on`)."""
    from obliviate.eval.passes import packed_training_attention

    switched = on and packed_training_attention(model, True)
    try:
        yield
    finally:
        if switched:
            packed_training_attention(model, False)


def _uneven_batch():
    """Right-padded sequences of 11, 4 and 7 tokens (prompts unscored, a hole in the first answer)."""
    g = torch.Generator().manual_seed(3)
    examples = []
    for n, prompt in ((11, 3), (4, 2), (7, 1)):
        ids = torch.randint(3, 64, (n,), generator=g).tolist()
        labels = [-100] * prompt + ids[prompt:]
        if n == 11:
            labels[6] = -100
        examples.append(Example(tuple(ids), tuple(labels)))
    return examples, collate(examples, pad_id=0)


def _count_packed_passes(monkeypatch) -> list:
    """A list that grows by one with every packed forward (so a test knows packing ran)."""
    import obliviate.eval.passes as passes

    calls, original = [], passes.packed_hidden_states
    monkeypatch.setattr(passes, "packed_hidden_states", lambda *args: calls.append(1) or original(*args))
    return calls


def test_packed_label_logits_are_each_sequence_alone_under_bf16_autocast(monkeypatch):
    """Packed, each sequence's logits at its label positions are those of its own unpadded forward
    pass, bit for bit where the CPU's matmul rounds a row the same beside any others (the padded
    batch's are not: it runs its rows together); labels and rows are the padded batch's. Gradients
    flow to the weights."""
    import copy

    from tests.eval.test_passes import _matmuls_row_independent

    model, packed_passes = tiny_llama(0), _count_packed_passes(monkeypatch)
    examples, batch = _uneven_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, padded_labels, padded_rows = numerics.label_logits(model, batch)
        with training_packed(model):
            logits, labels, rows = numerics.label_logits(model, batch)
        alone = torch.cat([numerics.label_logits(model, collate([ex], pad_id=0))[0] for ex in examples])
    assert len(packed_passes) == 1
    assert torch.equal(labels, padded_labels) and torch.equal(rows, padded_rows)
    assert rows.tolist() == [0] * 7 + [1] * 2 + [2] * 6
    if _matmuls_row_independent(copy.deepcopy(model).to(torch.bfloat16)):
        assert torch.equal(logits, alone)
    else:
        torch.testing.assert_close(logits, alone, atol=5e-2, rtol=5e-2)
    F.cross_entropy(logits.float(), labels).backward()
    assert model.model.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0


def test_packing_moves_label_logits_by_rounding_only_and_only_within_its_context(monkeypatch):
    model, packed_passes = tiny_llama(1).requires_grad_(False), _count_packed_passes(monkeypatch)
    _, batch = _uneven_batch()
    padded = numerics.label_logits(model, batch)
    with training_packed(model, on=False):
        assert torch.equal(numerics.label_logits(model, batch)[0], padded[0])
    assert packed_passes == []
    with training_packed(model):
        packed = numerics.label_logits(model, batch)
    assert len(packed_passes) == 1
    torch.testing.assert_close(packed[0], padded[0], atol=1e-5, rtol=1e-5)
    assert torch.equal(packed[1], padded[1]) and torch.equal(packed[2], padded[2])


def test_batches_or_models_that_cannot_be_packed_run_padded(monkeypatch):
    """A left-padded batch, or a model without row-by-row attention (eager), runs as it does
    unpacked: packing must never attend a sequence to its neighbour's tokens."""
    model = tiny_llama(2).requires_grad_(False)
    _, batch = _uneven_batch()
    left = {k: v.flip(1) for k, v in batch.items()}
    unpacked = numerics.label_logits(model, left)[0]
    calls = _count_packed_passes(monkeypatch)
    with training_packed(model):
        assert torch.equal(numerics.label_logits(model, left)[0], unpacked)
    model.set_attn_implementation("eager")
    with training_packed(model):
        numerics.label_logits(model, batch)
    assert calls == []
