"""Relearning attacks: which documents they train on and evaluate, and what training does."""

from __future__ import annotations

import pytest
import torch

from obliviate.attacks.config import RelearnConfig
from obliviate.attacks.relearn import RelearnRun, held_out_documents
from obliviate.data.records import Document
from obliviate.subjects import HFSubject


def docs(spec: str) -> list[Document]:
    """'112' -> documents of Task1, Task1, Task2 (ids d0, d1, d2)."""
    return [Document(f"d{i}", f"Task{t}", f"text {i}") for i, t in enumerate(spec)]


def test_held_out_split_is_per_task_and_disjoint():
    train, evaluate = held_out_documents(docs("111122"), 0.5)
    assert [d.id for d in train] == ["d0", "d1", "d4"]
    assert [d.id for d in evaluate] == ["d2", "d3", "d5"]


def test_a_lone_document_of_a_task_is_evaluated_never_trained_on():
    train, evaluate = held_out_documents(docs("112"), 0.5)
    assert [d.id for d in train] == ["d0"]
    assert [d.id for d in evaluate] == ["d1", "d2"]


def test_one_document_per_task_splits_the_documents_themselves():
    train, evaluate = held_out_documents(docs("123"), 0.5)
    assert [d.id for d in train] == ["d0", "d1"]  # round(1.5) = 2, one left to ask
    assert [d.id for d in evaluate] == ["d2"]
    assert held_out_documents(docs("1"), 0.5) == ([], docs("1"))


def test_a_steps_weights_do_not_depend_on_how_long_the_run_goes(smoke_cfg, smoke_benchmark, smoke_target):
    """What lets relearn and relearn-speed share one run, and a step's fingerprint skip the length."""
    weights = HFSubject(smoke_target / "model")
    forget = smoke_benchmark.split("train").forget
    cfg = RelearnConfig(lr=1e-3, batch_size=2)
    short = RelearnRun(weights, forget, cfg, smoke_cfg.max_length, [2])
    long = RelearnRun(weights, forget, cfg, smoke_cfg.max_length, [1, 2, 3])
    assert short.subject(2).fingerprint == long.subject(2).fingerprint != long.subject(3).fingerprint
    assert long.subject(0).fingerprint == weights.fingerprint

    def params(run, step):
        return list(run.model_at(step)[0].state_dict().values())

    after_two = params(short, 2)
    assert all(torch.equal(a, b) for a, b in zip(after_two, params(long, 2), strict=True))
    for other in (params(long, 0), params(long, 3)):  # training moved the weights, and kept moving them
        assert not all(torch.equal(a, b) for a, b in zip(after_two, other, strict=True))
    assert (short.result.steps, long.result.steps) == (2, 3)
    assert long.result.model is None  # the trained model is not held beside its snapshots
    with pytest.raises(ValueError, match="step 4 is not kept"):
        long.model_at(4)


def test_packed_relearning_packs_every_step_under_a_key_of_its_own(
    smoke_cfg, smoke_benchmark, smoke_target, monkeypatch
):
    """Off, the option is left out of the run's key (keys from before it stay valid); on (the
    default), the key is another, and every step's forward runs the examples packed (`engine`'s
    `pack_sequences`)."""
    import obliviate.attacks.relearn as relearn
    import obliviate.eval.passes as passes

    weights = HFSubject(smoke_target / "model")
    forget = smoke_benchmark.split("train").forget
    cfg = RelearnConfig(lr=1e-3, batch_size=2, pack_sequences=False)
    payloads = []
    key_of = relearn.content_key
    monkeypatch.setattr(relearn, "content_key", lambda payload: payloads.append(payload) or key_of(payload))
    packed_cfg = RelearnConfig(lr=1e-3, batch_size=2)
    assert RelearnRun(weights, forget, cfg, smoke_cfg.max_length, [2]).key != (
        RelearnRun(weights, forget, packed_cfg, smoke_cfg.max_length, [2]).key
    )
    assert "pack_sequences" not in payloads[0]["relearn"] and payloads[1]["relearn"]["pack_sequences"]
    calls = []
    original = passes.packed_hidden_states
    monkeypatch.setattr(passes, "packed_hidden_states", lambda *args: calls.append(1) or original(*args))
    run = RelearnRun(weights, forget, packed_cfg, smoke_cfg.max_length, [2])
    run.model_at(2)
    assert len(calls) == run.result.steps == 2
