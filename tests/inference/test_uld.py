"""ULD: the served logits, the relative-top filter, decoding through the shared cache, the assistant."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from obliviate.eval.passes import answer_logprobs, greedy_generate, token_statistics
from obliviate.inference import InferenceContext
from obliviate.inference.uld import (
    LogitDifferenceModel,
    LogitDifferenceSubject,
    ULDConfig,
    assistant_loss,
    build,
    combined_logits,
    relative_top_mask,
    truncate_layers,
)
from obliviate.subjects import HFSubject
from obliviate.training_data import collate, tokenize_documents
from tests.conftest import tiny_llama


def test_relative_top_mask_by_hand():
    # 10 tokens; log p (up to a constant) of the 1st..4th best: 0, -1, -2.5, -4, the rest -9.
    logits = torch.tensor([[0.0, -1.0, -2.5, -4.0] + [-9.0] * 6])
    # τ = 0.3: keep ⌊0.3·10⌋ = 3 tokens, so the 3rd best (-2.5) is one bound; max + ln 0.3 = -1.20
    # the other; the threshold is the lower, -2.5: tokens below it (the 4th and the rest) are masked
    mask = relative_top_mask(logits, 0.3)
    assert mask.tolist() == [[False, False, False] + [True] * 7]
    # τ = 0.05: ⌊0.5⌋ = 0, so at least one token (the best) is a bound, at max; max + ln 0.05 = -3.0
    # is lower: the threshold -3.0 keeps three tokens
    assert relative_top_mask(logits, 0.05).tolist() == [[False, False, False] + [True] * 7]
    # τ = 0.5: 5 tokens: the 5th best is -9, lower than max + ln 0.5 = -0.69: nothing is below it
    assert not relative_top_mask(logits, 0.5).any()


def test_combined_logits_equal_target_minus_weighted_assistant():
    target, assistant = tiny_llama(seed=0), tiny_llama(seed=1, layers=1)
    with torch.no_grad():  # a peaked target, as a trained one is, so the filter has tokens to drop
        target.lm_head.weight.mul_(30)
    ids = torch.randint(3, 64, (2, 7), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        z_t, z_a = target(input_ids=ids).logits, assistant(input_ids=ids).logits
        served = LogitDifferenceModel(target, assistant, 0.8, 0.0)(input_ids=ids).logits
        torch.testing.assert_close(served, z_t - 0.8 * z_a)
        # with the filter: the assistant's logit counts only where the target keeps the token
        filtered = LogitDifferenceModel(target, assistant, 1.0, 0.1)(input_ids=ids).logits
        keep = ~relative_top_mask(z_t, 0.1)
        torch.testing.assert_close(filtered, z_t - z_a * keep)
        assert 0 < keep.float().mean() < 1  # the filter is doing something
        torch.testing.assert_close(combined_logits(z_t, z_a, 1.0, 0.1), filtered)


def _naive_greedy(
    target, assistant, prompt: list[int], new_tokens: int, weight: float, tau: float
) -> list[int]:
    """Greedy decoding that recomputes both models over the whole sequence at every step (no cache)."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(new_tokens):
            x = torch.tensor([ids])
            z = combined_logits(target(input_ids=x).logits, assistant(input_ids=x).logits, weight, tau)
            ids.append(int(z[0, -1].argmax()))
            if ids[-1] == _Ids.eos_token_id:
                break
    return ids[len(prompt) :]


class _Ids:
    """A tokenizer of whitespace-separated integers (the tiny models have no tokenizer)."""

    pad_token_id, eos_token_id = 0, 2

    def __call__(self, text, add_special_tokens=True):
        ids = [int(t) for t in text.split()]
        return type("Encoded", (), {"input_ids": ([1] if add_special_tokens else []) + ids})()

    def decode(self, ids, skip_special_tokens=True, clean_up_tokenization_spaces=False):
        return " ".join(str(i) for i in ids if i not in (0, 1, 2))


def test_decoding_through_one_shared_cache_equals_recomputing_both_models():
    target = tiny_llama(seed=0).eval()
    assistant = truncate_layers(copy.deepcopy(target), 1)
    with torch.no_grad():  # an assistant unlike the target's first layer, as after training
        for p in assistant.parameters():
            p.add_(0.05 * torch.randn_like(p))
    target.generation_config.eos_token_id = None  # run to the token limit
    prompts = ["5 9 13 7", "40 41", "3 3 3 3 3 3 3 8"]
    model = LogitDifferenceModel(target, assistant, 1.0, 0.1)
    got = greedy_generate(model, _Ids(), prompts, max_new_tokens=12, batch_size=2)
    assert max(len(text.split()) for text in got) >= 6  # decoding went on, through the cache
    for prompt, text in zip(prompts, got, strict=True):
        ids = _Ids()(prompt).input_ids
        expected = _naive_greedy(target, assistant, ids, 12, 1.0, 0.1)
        assert [int(t) for t in text.split()] == [t for t in expected if t not in (0, 1, 2)]
    # the assistant is left numbered as before (it is a model of its own too)
    assert [layer.self_attn.layer_idx for layer in assistant.model.layers] == [0]


def test_truncate_layers_keeps_the_first_layers_and_refuses_too_many():
    model = tiny_llama(layers=2)
    first = model.model.layers[0]
    truncated = truncate_layers(model, 1)
    assert len(truncated.model.layers) == 1 and truncated.model.layers[0] is first
    assert truncated.config.num_hidden_layers == 1
    with pytest.raises(ValueError, match="assistant_layers=3, but the target has 1 layers"):
        truncate_layers(truncated, 3)


def test_assistant_loss_is_forget_nll_plus_weighted_uniform_kl(smoke_target, smoke_benchmark):
    subject = HFSubject(smoke_target / "model")
    model, tokenizer = subject.hf_model()
    split = smoke_benchmark.split("train")
    batch = {
        "forget": collate(tokenize_documents(tokenizer, split.forget[:1], 256), tokenizer.pad_token_id),
        "retain": collate(tokenize_documents(tokenizer, split.retain[:1], 256), tokenizer.pad_token_id),
    }
    with torch.no_grad():
        loss, logs = assistant_loss(model, batch, ULDConfig(retain_weight=5.0))
        alone, _ = assistant_loss(model, batch, ULDConfig(retain_weight=0.0))
    assert loss.item() == pytest.approx(logs["forget_nll"] + 5.0 * logs["retain_uniform_kl"], rel=1e-5)
    assert alone.item() == pytest.approx(logs["forget_nll"], rel=1e-6)
    # the memorizing target is far from uniform on its retain text: the KL is large, at most log V
    assert 1.0 < logs["retain_uniform_kl"]


@pytest.fixture(scope="module")
def uld_subject(smoke_cfg, smoke_benchmark, smoke_target):
    cfg = smoke_cfg.model_copy(update={"split": "train"})
    target = HFSubject(smoke_target / "model")
    ctx = InferenceContext(cfg, smoke_benchmark, "train", smoke_target / "model", target)
    return build(ctx, ULDConfig(epochs=20, lr=3e-3, batch_size=4)), target


def test_the_assistant_remembers_the_forget_set_and_the_served_model_does_not(uld_subject, smoke_benchmark):
    (subject, cost), target = uld_subject
    assert isinstance(subject, LogitDifferenceSubject)
    assert cost["parameters_changed"] == 0 and cost["assistant_layers"] == "1 of 2"
    losses = cost["curve"]["losses"]
    assert losses[-1] < 0.5 * losses[0]  # the assistant learned
    split = smoke_benchmark.split("train")
    forget = [(p.input, p.output) for d in split.forget for p in d.prompts]
    prompts, answers = zip(*forget, strict=True)
    plain = target.answer_logprobs(prompts, answers, 4)
    served = subject.answer_logprobs(prompts, answers, 4)
    # the served model assigns the forget answers far less probability than the target
    assert sum(s.mean() for s in served) < sum(p.mean() for p in plain) - math.log(10) * len(plain)
    # every pass is the combined model's: answer log-probs and token statistics agree with it
    model, tokenizer = subject.served()
    again = answer_logprobs(model, tokenizer, prompts[:2], answers[:2], 2)
    torch.testing.assert_close(torch.tensor(again[0]), torch.tensor(served[0]))
    stats = subject.token_stats([split.forget[0].text], 1)[0]
    direct = token_statistics(model, tokenizer, [split.forget[0].text], 1)[0]
    torch.testing.assert_close(torch.tensor(stats.logps), torch.tensor(direct.logps))


def test_an_attack_on_the_weights_reaches_the_target_under_the_assistant(uld_subject):
    (subject, _), _ = uld_subject
    seen = []

    def attack(hf):
        seen.append(hf)
        return hf

    attacked = subject.with_weights(attack)
    assert seen == [subject.target] and attacked.assistant is subject.assistant
    assert attacked.fingerprint == subject.fingerprint  # the identity attack changes nothing
