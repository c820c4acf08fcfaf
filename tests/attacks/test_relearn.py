"""Relearning attacks: which documents they train on and evaluate, and what training does."""

from __future__ import annotations

from obliviate.attacks.relearn import held_out_documents
from obliviate.data.records import Document


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
