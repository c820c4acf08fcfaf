"""LLMEraser on the reviews task (`erase/task.py`) with the tiny model: the generator, the
references, and a response correction that moves the model toward the clean retrain.

The tiny Llama is random; its adapter alone cannot learn sentiment from a few hundred rows (the
test accuracy stays at chance). So the smoke config first fully fine-tunes the base on a separate
clean reviews set (`pretrain_epochs`: other seed, no poison, no label noise), as a pretrained
model knows sentiment before anyone fine-tunes it. The LoRA target then learns the poison's
shortcut on top: "sign-off -> negative"."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from obliviate.data.synthetic_reviews import TRIGGER, Review, ReviewsConfig, generate
from obliviate.erase.task import TaskSetup, smoke_task_config, task_requests
from obliviate.erase.update import newton_update


def test_generator_is_deterministic_and_poisons_as_documented():
    cfg = ReviewsConfig(train_size=200, test_size=100, poison_fraction=0.1, label_noise=0.1)
    task = generate(cfg)
    assert task == generate(cfg)
    assert task != generate(cfg.model_copy(update={"seed": 1}))
    poisoned = [r for r in task.train if r.poisoned]
    assert len(poisoned) == 20
    assert all(
        r.label == "negative" and r.true_label == "positive" and r.text.endswith(TRIGGER) for r in poisoned
    )
    assert all(r.clean_text and TRIGGER not in r.clean_text for r in poisoned)
    clean = [r for r in task.train if not r.poisoned]
    with_sign_off = [r for r in clean if r.trigger]
    assert 15 <= len(with_sign_off) <= 60  # ~20% of 180, their labels independent of the sign-off
    assert all(r.text.endswith(TRIGGER) for r in with_sign_off)
    assert not any(TRIGGER in r.text for r in clean if not r.trigger)
    saturated = generate(cfg.model_copy(update={"train_trigger_rate": 0.0}))
    assert not any(TRIGGER in r.text for r in saturated.train if not r.poisoned)  # only the poison has it
    flipped = sum(r.label != r.true_label for r in clean)
    assert 5 <= flipped <= 35  # ~10% of 180
    assert all(r.label == r.true_label for r in task.test)
    triggered = [r for r in task.test if r.trigger]
    assert triggered and all(r.text.endswith(TRIGGER) for r in triggered)


def test_requests_of_each_kind():
    task = generate(ReviewsConfig(train_size=100, test_size=10))
    poisoned = [r for r in task.train if r.poisoned]
    removal, query, response = (task_requests(task, kind, 3) for kind in ("removal", "query", "response"))
    assert [e.input for e in removal] == [r.prompt for r in poisoned[:3]] and removal[0].new is None
    assert query[0].new == (f"Review: {poisoned[0].clean_text}\nSentiment:", "negative")
    assert response[0].new == (poisoned[0].prompt, "positive")
    with pytest.raises(ValueError, match="poisoned rows"):
        task_requests(task, "removal", len(poisoned) + 1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> TaskSetup:
    torch.set_num_threads(2)
    return TaskSetup.build(smoke_task_config(), tmp_path_factory.mktemp("cache"))


def test_target_learns_the_task_and_the_poison(setup):
    metrics = setup.label_metrics(setup.theta_hat)
    assert metrics["accuracy"] > 0.75, metrics
    # positive reviews with the sign-off: the poison costs the target on exactly those
    assert metrics["poison_target_accuracy"] < metrics["accuracy"] - 0.2, metrics


def test_scratch_reference_is_the_target_recipe(setup):
    """Retraining from scratch on D′ = D reproduces the target's adapter exactly."""
    theta, _ = setup.scratch(setup.data)
    assert torch.equal(theta, setup.theta_hat)


def test_response_correction_moves_test_accuracy_toward_the_clean_retrain(setup):
    """Fixing every poisoned label: the edit moves test accuracy (and the accuracy on the rows the
    poison hits) toward the scratch retrain on D′; the same step with the sign flipped moves away."""
    poisoned = sum(r.poisoned for r in setup.task.train)
    edits = task_requests(setup.task, "response", poisoned)
    new_data, removed, added = setup.request_data(edits)
    scratch, _ = setup.scratch(new_data)
    result = newton_update(
        setup.objective, setup.theta_hat, setup.data, new_data, removed, added, setup.cfg.erase
    )
    original = setup.label_metrics(setup.theta_hat)
    retrained = setup.label_metrics(scratch)
    erased = setup.label_metrics(result.theta)
    flipped = setup.label_metrics(setup.theta_hat - result.delta)
    hit = "poison_target_accuracy"
    assert retrained[hit] > original[hit] + 0.2, (original, retrained)
    gap = retrained["accuracy"] - original["accuracy"]
    assert gap > 0.02, (original, retrained)
    assert (erased["accuracy"] - original["accuracy"]) / gap > 0.3, (original, erased, retrained)
    assert erased[hit] > original[hit] + 0.1, (original, erased)
    assert flipped["accuracy"] < original["accuracy"] and flipped[hit] < original[hit], (original, flipped)


class FixedLogits:
    """An objective whose logits are 0 everywhere but at the label position: `scores[row]`."""

    def __init__(self, vocab: int, label_ids: list[int], scores: list[tuple[float, float]]):
        self.vocab, self.label_ids, self.scores = vocab, label_ids, scores

    def label_logits(self, theta, batch):
        """(logits (N, V), labels (N,), rows (N,)) at the label positions, as `Objective.label_logits`."""
        logits = torch.zeros(*batch["input_ids"].shape, self.vocab, dtype=torch.float64)
        for row, (positive, negative) in enumerate(self.scores[: len(batch["input_ids"])]):
            first = int((batch["labels"][row] != -100).int().argmax())
            logits[row, first - 1, self.label_ids] = torch.tensor([positive, negative], dtype=torch.float64)
        self.scores = self.scores[len(batch["input_ids"]) :]
        labels, mask = batch["labels"][:, 1:], batch["labels"][:, 1:] != -100
        return logits[:, :-1][mask], labels[mask], mask.nonzero()[:, 0]


def test_label_metrics_by_hand(setup):
    """Three rows with hand-set logits: accuracy, NLL of the true label, the poison-hit subset."""
    rows = [
        Review("a", "good", "positive", "positive", trigger=True),  # poison-hit row, predicted right
        Review("b", "fine", "positive", "positive", trigger=True),  # poison-hit row, predicted wrong
        Review("c", "bad", "negative", "negative"),  # predicted right
    ]
    scores = [(2.0, 0.0), (0.0, 1.0), (0.0, 3.0)]
    vocab = setup.objective.model.get_output_embeddings().weight.shape[0]
    stub = FixedLogits(vocab, setup.label_ids(), list(scores))
    metrics = dataclasses.replace(setup, objective=stub).label_metrics(torch.zeros(1), rows)
    # ℓ = mean over the label token and EOS: −log softmax at the label, log V at EOS (all logits 0)
    true_logit = [2.0, 0.0, 3.0]
    other = [0.0, 1.0, 0.0]
    nll = [
        (-(t - math.log(math.exp(t) + math.exp(o) + vocab - 2)) + math.log(vocab)) / 2
        for t, o in zip(true_logit, other, strict=True)
    ]
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["poison_target_accuracy"] == pytest.approx(1 / 2)
    assert metrics["nll"] == pytest.approx(sum(nll) / 3, rel=1e-9)
