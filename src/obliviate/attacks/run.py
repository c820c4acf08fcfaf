"""The attack registry and the shared pieces of every attack (see the package docstring)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from obliviate.attacks.config import AttackConfig
from obliviate.data.records import Split
from obliviate.eval.cache import PassCache
from obliviate.eval.config import EvalConfig
from obliviate.eval.protocols.lume import score_prompts, side_means
from obliviate.subjects import CachedSubject, Subject


@dataclass
class AttackContext:
    """What every attack of one run shares: the split, the settings, the pass cache, and the
    relearning runs of the row being attacked (`relearn_run`; dropped after each row)."""

    split: Split
    eval: EvalConfig
    attacks: AttackConfig
    cache: PassCache
    max_length: int
    relearn_runs: dict = field(default_factory=dict)

    def relearn_run(self, weights, docs, steps: Sequence[int], label: str):
        """The relearning run of `weights` (the plain `HFSubject` under any wrapper) on `docs`,
        kept at `steps` (`attacks/relearn.py`): attacks that train on the same documents share it."""
        from obliviate.attacks.relearn import RelearnRun, relearn_key

        cfg = self.attacks.relearn
        key = relearn_key(weights, docs, cfg, self.max_length)
        if key not in self.relearn_runs:
            self.relearn_runs[key] = RelearnRun(weights, docs, cfg, self.max_length, steps, label)
        return self.relearn_runs[key]

    def forget_half(self):
        """(trained on, evaluated on): the forget documents of `relearn` and `relearn-speed`."""
        from obliviate.attacks.relearn import held_out_documents

        train_docs, eval_docs = held_out_documents(self.split.forget, self.attacks.relearn.forget_fraction)
        if not train_docs or not eval_docs:
            raise ValueError(
                "relearn needs two forget documents in some task (one to train on, one to evaluate)"
            )
        return train_docs, eval_docs

    def forget_run(self, weights):
        """The run on the forget documents' training part, kept at every step `relearn` and
        `relearn-speed` read, so the two share it."""
        cfg = self.attacks.relearn
        return self.relearn_run(weights, self.forget_half()[0], (cfg.steps, *cfg.speed_steps), "relearn")

    def forget_prompts(self, doc_ids: set[str] | None = None) -> list[tuple[str, object]]:
        """(task, prompt) of every forget prompt, or of the named documents' only."""
        return [
            (doc.task, p)
            for doc in self.split.forget
            if doc_ids is None or doc.id in doc_ids
            for p in doc.prompts
        ]

    def score(self, subject: Subject, prompts: Sequence[tuple[str, object]]) -> list[dict]:
        """Greedy forget items of an attacked subject (its passes cached like every other)."""
        if not isinstance(subject, CachedSubject):
            subject = CachedSubject(subject, self.cache)
        try:
            return score_prompts(subject, prompts, self.eval)
        finally:
            subject.release()


def scores(items: Sequence[dict]) -> dict:
    """{"regurgitation": mean over sc items, "knowledge": mean over qa items} (None: no such item)."""
    means = side_means({"forget": list(items)})
    return {"regurgitation": means["regurgitation/forget"], "knowledge": means["knowledge/forget"]}


def outcome(items: list[dict], row_items: Sequence[dict], compared_ids: set[str], **extra) -> dict:
    """An attack's result: its scores, the row's unattacked scores on the prompts it re-asks
    (`compared_ids`) and the items."""
    unattacked = [it for it in row_items if it["id"] in compared_ids]
    return {
        **scores(items),
        "unattacked": scores(unattacked),
        "compared_ids": sorted(compared_ids),
        **extra,
        "items": items,
    }


@dataclass(frozen=True)
class Attack:
    name: str
    run: Callable[[AttackContext, Subject, list[dict]], dict]
    held_out: bool = True  # False: evaluates on the text it trains on (kept out of the worst case)
    description: str = ""


def _quantization(name: str) -> Attack:
    from obliviate.attacks.quantize import QUANT_ATTACKS

    spec = QUANT_ATTACKS[name]

    def run(ctx: AttackContext, subject: Subject, row_items: list[dict]) -> dict:
        from obliviate.attacks.quantize import quantize_model

        attacked = subject.with_weights(
            lambda hf: hf.transformed(lambda model: quantize_model(model, spec), spec.key(), name)
        )
        items = ctx.score(attacked, ctx.forget_prompts())
        return outcome(items, row_items, {it["id"] for it in items}, quantization=spec.describe())

    return Attack(name, run, description=spec.describe())


def _trained(runs: list) -> dict:
    """The training record of the relearning run an attack read: empty when every pass the attack
    needed was cached, so nothing trained (the seconds count in the attack that trained it)."""
    done = [r.result for r in runs[:1] if r.result is not None]
    return {
        "training": [{"steps": t.steps, "losses": t.losses, "seconds": round(t.seconds, 2)} for t in done]
    }


def _forget_run_items(
    ctx: AttackContext, subject: Subject, step: int, doc_ids: set[str], runs: list
) -> list[dict]:
    """Greedy items of the forget documents `doc_ids` after `step` steps of the forget run (which
    `runs` records once loaded). `relearn` and `relearn-speed` both read the run's last step
    (`cfg.steps`) on complementary documents; there every forget prompt is asked in one generation,
    which both find in the pass cache, and each keeps its own documents' items."""

    def weights(hf):
        runs.append(ctx.forget_run(hf))
        return runs[-1].subject(step)

    asked = None if step == ctx.attacks.relearn.steps else doc_ids
    items = ctx.score(subject.with_weights(weights), ctx.forget_prompts(asked))
    wanted = {p.id for _, p in ctx.forget_prompts(doc_ids)}
    return [it for it in items if it["id"] in wanted]


def _relearn(ctx: AttackContext, subject: Subject, row_items: list[dict]) -> dict:
    train_docs, eval_docs = ctx.forget_half()
    runs = []
    items = _forget_run_items(ctx, subject, ctx.attacks.relearn.steps, {d.id for d in eval_docs}, runs)
    return outcome(
        items,
        row_items,
        {it["id"] for it in items},
        trained_on=[d.id for d in train_docs],
        evaluated_on=[d.id for d in eval_docs],
        **_trained(runs),
    )


def _relearn_related(ctx: AttackContext, subject: Subject, row_items: list[dict]) -> dict:
    cfg = ctx.attacks.relearn
    if not ctx.split.retain:
        raise ValueError("relearn-related trains on the split's retain documents, and it has none")
    runs = []

    def relearned(hf):
        runs.append(ctx.relearn_run(hf, ctx.split.retain, (cfg.steps,), "relearn-related"))
        return runs[-1].subject(cfg.steps)

    items = ctx.score(subject.with_weights(relearned), ctx.forget_prompts())
    return outcome(
        items,
        row_items,
        {it["id"] for it in items},
        trained_on=[d.id for d in ctx.split.retain],
        **_trained(runs),
    )


def _relearn_speed(ctx: AttackContext, subject: Subject, row_items: list[dict]) -> dict:
    cfg = ctx.attacks.relearn
    train_docs, _ = ctx.forget_half()
    train_ids = {d.id for d in train_docs}
    ids = {p.id for _, p in ctx.forget_prompts(train_ids)}
    unattacked = [it for it in row_items if it["id"] in ids]  # as the row's main evaluation scored them
    runs = []
    curve, items = [], []
    for step in cfg.speed_steps:
        if step == 0:
            step_items = unattacked
        else:
            step_items = _forget_run_items(ctx, subject, step, train_ids, runs)
        curve.append({"step": step, **scores(step_items)})
        items += [{**it, "step": step} for it in step_items]
    last = curve[-1]
    return {
        "regurgitation": last["regurgitation"],
        "knowledge": last["knowledge"],
        "unattacked": scores(unattacked),
        "compared_ids": sorted(ids),
        "trained_on": [d.id for d in train_docs],
        "curve": curve,
        **_trained(runs),
        "items": items,
    }


def _probes(ctx: AttackContext, subject: Subject, row_items: list[dict]) -> dict:
    from obliviate.attacks.probes import probe_set

    cfg = ctx.attacks.probes
    probes = probe_set(ctx.split, cfg.labels, cfg.in_context, cfg.seed)
    if not probes:
        raise ValueError("no probe prompts for this split (no probes in the benchmark and no forget QA)")
    task_of = {p.id: doc.task for doc in ctx.split.forget for p in doc.prompts}
    items = ctx.score(subject, [(task_of[p.of], p) for p in probes])
    by_label = {}
    for label in dict.fromkeys(p.label for p in probes):
        labelled = [it for it in items if it["label"] == label]
        by_label[label] = {**scores(labelled), "prompts": len(labelled)}
    return outcome(items, row_items, {p.of for p in probes}, by_label=by_label)


def _sample(ctx: AttackContext, subject: Subject, row_items: list[dict]) -> dict:
    from obliviate.eval.metrics.leak import leak_at_k_knowledge, leak_at_k_regurgitation

    cfg = ctx.attacks.sample
    prompts = ctx.forget_prompts()
    cached = subject if isinstance(subject, CachedSubject) else CachedSubject(subject, ctx.cache)
    try:
        samples = cached.sample(
            [p.input for _, p in prompts],
            cfg.k,
            ctx.eval.max_new_tokens,
            cfg.temperature,
            cfg.top_p,
            cfg.seed,
        )
    finally:
        cached.release()
    items = []
    for (task, prompt), drawn in zip(prompts, samples, strict=True):
        leak = leak_at_k_regurgitation if prompt.kind == "sc" else leak_at_k_knowledge
        items.append(
            {
                "id": prompt.id,
                "task": task,
                "kind": prompt.kind,
                "input": prompt.input,
                "reference": prompt.output,
                "samples": drawn,
                "score": leak(prompt.output, drawn),
            }
        )
    return outcome(items, row_items, {it["id"] for it in items}, sampling=cfg.model_dump())


def _registry() -> dict[str, Attack]:
    from obliviate.attacks.quantize import QUANT_ATTACKS

    attacks = {name: _quantization(name) for name in QUANT_ATTACKS}
    attacks["relearn"] = Attack(
        "relearn", _relearn, description="fine-tune on half the forget documents, ask the others"
    )
    attacks["relearn-related"] = Attack(
        "relearn-related", _relearn_related, description="fine-tune on the retain documents (same tasks)"
    )
    attacks["relearn-speed"] = Attack(
        "relearn-speed",
        _relearn_speed,
        held_out=False,
        description="relearn's run, asked the forget documents it trains on after each of speed_steps",
    )
    attacks["probes"] = Attack("probes", _probes, description="the forget knowledge asked differently")
    attacks["sample"] = Attack("sample", _sample, description="best of k sampled generations (leak@k)")
    return attacks


ATTACKS: dict[str, Attack] = _registry()


def parse_attacks(text: str) -> list[str]:
    """`a,b,c` -> names, each checked against the registry."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack {unknown[0]!r}; choose from {', '.join(ATTACKS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"attacks repeat: {names}")
    return names


def worker_bytes(model_dir: Path, cfg: AttackConfig) -> int:
    """About the most memory one row's attacks take: a relearning run's weights (as saved, fp32),
    gradients and two AdamW states, the weights it keeps after each step read, and 1 GiB for
    activations and passes (default preset: 4.8 GB; a worker's RSS measured up to 6.8 GB on
    2026-12-04, what it shares with its parent included, while each relearning run still held its
    trained model: 0.5 GB each)."""
    weights = sum(f.stat().st_size for f in Path(model_dir).glob("*.safetensors"))
    kept = len({cfg.relearn.steps, *cfg.relearn.speed_steps} - {0})
    return weights * (4 + kept) + 2**30


def run_attacks(ctx: AttackContext, subject: Subject, row_items: list[dict], names: Sequence[str]) -> dict:
    """Every named attack's outcome on one row, with its time."""
    out = {}
    try:
        for name in names:
            start = time.perf_counter()
            result = ATTACKS[name].run(ctx, subject, row_items)
            out[name] = {
                "held_out": ATTACKS[name].held_out,
                **result,
                "seconds": round(time.perf_counter() - start, 2),
            }
    finally:
        ctx.relearn_runs.clear()  # the row's relearned weights (a few hundred MB each)
    return out
