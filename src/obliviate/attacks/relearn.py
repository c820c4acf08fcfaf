"""Relearning attacks: fine-tune the attacked weights on a little text, then ask the forget prompts again.

- `relearn` (held out): train on part of each task's forget documents, evaluate only the others'
  prompts: what comes back there was hidden, not re-taught (Deeb & Roger's held-out folds);
- `relearn-related`: train on the split's retain documents (same tasks, disjoint facts: BLUR's
  benign relearning), evaluate every forget prompt;
- `relearn-speed`: the forget scores of the documents trained on, after each of `speed_steps`
  (Hu et al.): a model that only hid the knowledge regains it in fewer steps than the oracle needs
  to learn it. Evaluating on the attack's own training text is the point here, so this attack is
  kept apart from the held-out ones.

`relearn` and `relearn-speed` train on the same documents (the held-out split's first part), so
one run serves both: a `RelearnRun` keeps the weights after every step either attack reads
(`cfg.steps` and `cfg.speed_steps`) in memory, and the two read them on different prompts. With
a constant learning rate and no warm-up the weights after step s do not depend on how long the run
goes on (the example order is a function of the epoch), so a step's fingerprint is the run's key
and s. A run trains on the first pass that needs its weights: a rerun whose passes are all cached
trains nothing. Training runs on the shared engine (`engine.train`, NLL of the documents' examples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from obliviate.attacks.config import RelearnConfig
from obliviate.data.records import Document
from obliviate.device import place
from obliviate.engine import ENGINE_VERSION, TrainConfig, resolve_precision, train
from obliviate.keys import content_key
from obliviate.models import load_model
from obliviate.numerics import nll
from obliviate.params import finalize, params_key, select_parameters
from obliviate.subjects.hf import DTYPES, HFSubject
from obliviate.training_data import collate, tokenize_documents


def held_out_documents(docs: Sequence[Document], fraction: float) -> tuple[list[Document], list[Document]]:
    """(trained on, evaluated on), never sharing a document: the first `fraction` of each task's
    documents (at least one, leaving at least one) are trained on. Where no task has two documents,
    the first `fraction` of all documents are (one task's knowledge relearned, another's asked)."""

    def cut(group: Sequence[Document]) -> int:
        return min(max(1, round(len(group) * fraction)), len(group) - 1)

    by_task: dict[str, list[Document]] = {}
    for doc in docs:
        by_task.setdefault(doc.task, []).append(doc)
    if all(len(group) < 2 for group in by_task.values()):
        k = cut(docs) if len(docs) >= 2 else 0
        return list(docs[:k]), list(docs[k:])
    train_docs, eval_docs = [], []
    for group in by_task.values():
        k = cut(group) if len(group) >= 2 else 0  # a lone document is evaluated, never trained on
        train_docs += group[:k]
        eval_docs += group[k:]
    return train_docs, eval_docs


def relearn_key(weights: HFSubject, docs: Sequence[Document], cfg: RelearnConfig, max_length: int) -> str:
    """What determines a run's weights after each step (not how many steps it runs)."""
    not_in_key = {"steps", "speed_steps", "recover"}
    if not cfg.pack_sequences:  # keys from before the option stay valid while it is off
        not_in_key.add("pack_sequences")
    return content_key(
        {
            "engine": ENGINE_VERSION,
            "precision": resolve_precision("auto"),  # finetune trains at the engine's default
            "weights": weights.fingerprint,
            "documents": [(d.id, d.text, [(p.input, p.output) for p in d.prompts]) for d in docs],
            "relearn": cfg.model_dump(exclude=not_in_key) | {"params": params_key(cfg.params)},
            "max_length": max_length,
        }
    )


def finetune(path, docs: Sequence[Document], cfg: RelearnConfig, steps: int, max_length: int, on_step=None):
    """(model, tokenizer, train result): the fp32 weights at `path` fine-tuned on `docs` for `steps`
    optimizer steps; `on_step(step, model)` after each step."""
    model, tokenizer = load_model(path)
    model = select_parameters(model, cfg.params)
    examples = tokenize_documents(tokenizer, docs, max_length)
    if not examples:
        raise ValueError("the relearn set is empty")
    train_cfg = TrainConfig(
        lr=cfg.lr,
        epochs=math.ceil(steps * cfg.batch_size / len(examples)),
        max_steps=steps,
        batch_size=cfg.batch_size,
        scheduler="constant",
        seed=cfg.seed,
        pack_sequences=cfg.pack_sequences,
        progress=False,
    )
    pad_id = tokenizer.pad_token_id
    result = train(
        model,
        examples,
        lambda items: collate(items, pad_id),
        lambda m, batch: (nll(m, batch), {}),
        train_cfg,
        desc="relearn",
        on_step=(lambda step: on_step(step, model)) if on_step else None,
        length_of=lambda ex: len(ex.input_ids),
    )
    return result.model, tokenizer, result


class RelearnRun:
    """One relearning run of `weights` on `docs`, with the weights after each of `steps` kept in
    memory (fp32); it trains, up to the last of them, when a step's weights are first loaded."""

    def __init__(
        self,
        weights: HFSubject,
        docs: Sequence[Document],
        cfg: RelearnConfig,
        max_length: int,
        steps: Sequence[int],
        label: str = "relearn",
    ):
        self.weights, self.docs, self.cfg, self.max_length = weights, list(docs), cfg, max_length
        self.steps, self.label = sorted({s for s in steps if s > 0}), label
        self.key = relearn_key(weights, docs, cfg, max_length)
        self.snapshots: dict[int, dict[str, torch.Tensor]] | None = None
        self.result = None  # the engine's train result (losses, seconds) once trained

    def _train(self) -> None:
        snapshots: dict[int, dict[str, torch.Tensor]] = {}
        wanted = set(self.steps)

        def keep(step: int, model) -> None:
            if step in wanted:
                snapshots[step] = {n: p.detach().to("cpu", copy=True) for n, p in model.state_dict().items()}

        if wanted:
            *_, self.result = finetune(
                self.weights.path, self.docs, self.cfg, max(wanted), self.max_length, on_step=keep
            )
            self.result.model = None  # its weights are the last snapshot; the row's passes need the memory
        self.snapshots = snapshots

    def model_at(self, step: int):
        """(fp32 model, tokenizer) after `step` steps."""
        if step not in (0, *self.steps):
            raise ValueError(f"step {step} is not kept by this run (kept: 0, {self.steps})")
        if self.snapshots is None:
            self._train()
        model, tokenizer = load_model(self.weights.path)
        if step > 0:
            model = select_parameters(model, self.cfg.params)
            model.load_state_dict(self.snapshots[step])
            model = finalize(model, self.cfg.params)
        return model.eval().requires_grad_(False), tokenizer

    def subject(self, step: int) -> HFSubject:
        return _StepSubject(self, step)


class _StepSubject(HFSubject):
    """A run's weights after `step` steps; its fingerprint is known before any training."""

    def __init__(self, run: RelearnRun, step: int):
        w = run.weights
        fingerprint = w.fingerprint if step == 0 else content_key({"relearn": run.key, "step": step})
        super().__init__(w.path, dtype=w.dtype, device=w.device, fingerprint=fingerprint)
        self.name = f"{w.name} [{run.label}, {step} steps]"
        self.run, self.step = run, step

    def hf_model(self):
        if self._loaded is None:
            model, tokenizer = self.run.model_at(self.step)
            self._loaded = (place(model.to(DTYPES[self.dtype]), self.device), tokenizer)
        return self._loaded
