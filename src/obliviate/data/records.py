"""Typed, in-memory records of an unlearning benchmark.

Every loader (LUME JSONL, a user's JSONL, the embedded synthetic generator) returns a
`Benchmark`; every later stage (targets, methods, evaluation) reads only these records.

    benchmark.splits["train"].forget[0].prompts[0]  ->  Prompt(id="...sc1", kind="sc", ...)
    benchmark.splits["train"].probes[0]  ->  Probe(id="...qa0:paraphrase0", of="...qa0", ...)

A document's training examples are its prompts (input, output), joined as `input + " " + output`
exactly as LUME builds a full document; a document without prompts (plain text a user wants
forgotten) trains on its whole text.

A probe asks a forget prompt's knowledge differently (a paraphrase, the person named by an attribute,
a two-hop question, a completion from mid-document, ...): robustness attacks in the spirit of
"Unlearning Mirage" (arXiv 2603.11266) and BLUR. Probes are evaluated, never trained on, and are
left out of `Benchmark.fingerprint()`, so adding them keeps every cached target's key.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from obliviate.keys import text_key

PromptKind = Literal["sc", "qa"]
TASKS = ("Task1", "Task2", "Task3")
SPLIT_NAMES = ("train", "validation", "test")


class DataError(ValueError):
    """Bad benchmark input. The message is one line naming file, line and field."""


@dataclass(frozen=True)
class Prompt:
    """One evaluation prompt: sentence completion (`sc`, regurgitation) or question (`qa`, knowledge)."""

    id: str
    kind: PromptKind
    input: str
    output: str


@dataclass(frozen=True)
class Probe:
    """A forget prompt asked differently; scored like a prompt of its `kind`.

    `of` is the id of the forget prompt it re-asks; `label` names how ("paraphrase", "alias",
    "two_hop", "mid_document", "in_context", "affirmative", or a user's own word). Ids are
    `<prompt id>:<label><n>` for generated probes.
    """

    id: str
    of: str
    label: str
    kind: PromptKind
    input: str
    output: str


@dataclass(frozen=True)
class Document:
    """A forget or retain document with its prompts. `text` is the full document."""

    id: str
    task: str
    text: str
    prompts: tuple[Prompt, ...] = ()


@dataclass(frozen=True)
class MiaDocument:
    """A membership-inference document: members were trained on, non-members never were."""

    id: str
    text: str


@dataclass(frozen=True)
class QAItem:
    """A question the TOFU and MUSE protocols score (never trained on as such: the training data
    is the split's documents). TOFU items carry a paraphrased answer and perturbed (wrong but
    plausible) answers, for its truth ratio; MUSE's KnowMem and VerbMem items only a question (or
    prompt) and its answer (or reference continuation)."""

    id: str
    question: str
    answer: str
    paraphrased_answer: str | None = None
    perturbed_answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Split:
    """One split (train / validation / test) of a benchmark.

    `eval_sets` holds the named question sets of the TOFU and MUSE protocols (`forget`, `retain`,
    `real_authors`, ... ; `verbmem`, `knowmem_forget`, ...); LUME scores the documents' prompts
    and has none."""

    forget: tuple[Document, ...]
    retain: tuple[Document, ...]
    member: tuple[MiaDocument, ...] = ()
    nonmember: tuple[MiaDocument, ...] = ()
    probes: tuple[Probe, ...] = ()  # of the forget prompts; not in `Benchmark.fingerprint()`
    eval_sets: Mapping[str, tuple[QAItem, ...]] = field(default_factory=dict)


PROTOCOL_NAMES = ("lume", "tofu", "muse")


@dataclass(frozen=True)
class Benchmark:
    """A named benchmark: its splits, keyed by `train`, `validation`, `test` (those the source has),
    and the protocol that scores it (`eval/protocols/`)."""

    name: str
    splits: dict[str, Split] = field(default_factory=dict)
    protocol: str = "lume"

    def split(self, name: str) -> Split:
        if name not in self.splits:
            raise DataError(f"benchmark {self.name!r} has no split {name!r}; it has {sorted(self.splits)}")
        return self.splits[name]

    def all_documents(self, kind: Literal["forget", "retain"]) -> tuple[Document, ...]:
        """Every forget (or retain) document over all splits, in split order."""
        return tuple(doc for name in self.splits for doc in getattr(self.splits[name], kind))

    def fingerprint(self) -> str:
        """A content hash of the trained-on and scored records (used in cache keys).

        Changes whenever a document, prompt or MIA record changes; probes and the TOFU / MUSE
        question sets are left out, because they change no target (cached trained models are keyed
        by this value): runs and results are keyed by `scoring_fingerprint()` as well."""

        def payload(split: Split) -> dict:
            return {k: v for k, v in asdict(split).items() if k not in ("probes", "eval_sets")}

        content: dict = {"name": self.name, "splits": {k: payload(v) for k, v in sorted(self.splits.items())}}
        if self.protocol != "lume":
            content["protocol"] = self.protocol
        return text_key(json.dumps(content, sort_keys=True, ensure_ascii=False))

    def scoring_fingerprint(self) -> str:
        """A content hash of what is scored but never trained on: probes and question sets."""
        text = json.dumps(
            {
                k: {"probes": asdict(v)["probes"], "eval_sets": asdict(v)["eval_sets"]}
                for k, v in sorted(self.splits.items())
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        return text_key(text)

    def probes_fingerprint(self) -> str:
        """A content hash of the probes alone, for caches of probe results."""
        text = json.dumps(
            {k: [asdict(p) for p in v.probes] for k, v in sorted(self.splits.items())},
            sort_keys=True,
            ensure_ascii=False,
        )
        return text_key(text)

    def texts(self) -> list[str]:
        """Every text in the benchmark (tokenizer training for the tiny model)."""
        out: list[str] = []
        for split in self.splits.values():
            for doc in (*split.forget, *split.retain):
                out.append(doc.text)
                out.extend(f"{p.input} {p.output}" for p in doc.prompts if p.kind == "qa")
            out.extend(d.text for d in (*split.member, *split.nonmember))
            for items in split.eval_sets.values():
                for item in items:
                    out.extend([item.question, item.answer, *item.perturbed_answers])
                    out.extend([item.paraphrased_answer] if item.paraphrased_answer else [])
        return out


def check_benchmark(benchmark: Benchmark, source: str) -> Benchmark:
    """Reject what no stage can use: an empty forget set, duplicate ids, a document in forget and
    retain, a probe of no forget prompt of its split, duplicate probe ids.

    `source` names where the records came from (a file or a directory) for the error message.
    """
    seen: dict[str, str] = {}
    for split_name, split in benchmark.splits.items():
        for kind in ("forget", "retain"):
            for doc in getattr(split, kind):
                where = f"{split_name}/{kind}"
                if doc.id in seen:
                    if seen[doc.id].split("/")[1] != kind:
                        raise DataError(f"{source}: document id {doc.id!r} is in both forget and retain")
                    raise DataError(
                        f"{source}: duplicate document id {doc.id!r} ({seen[doc.id]} and {where})"
                    )
                seen[doc.id] = where
    if not any(split.forget for split in benchmark.splits.values()):
        raise DataError(f"{source}: the forget set is empty")
    if benchmark.protocol not in PROTOCOL_NAMES:
        raise DataError(
            f"{source}: unknown protocol {benchmark.protocol!r}; known: {', '.join(PROTOCOL_NAMES)}"
        )
    for split_name, split in benchmark.splits.items():
        for set_name, items in split.eval_sets.items():
            ids = [item.id for item in items]
            if len(set(ids)) != len(ids):
                duplicate = next(i for i in ids if ids.count(i) > 1)
                raise DataError(
                    f"{source}: split {split_name!r}, set {set_name!r}: duplicate id {duplicate!r}"
                )
    probe_splits: dict[str, str] = {}
    for split_name, split in benchmark.splits.items():
        forget_prompts = {p.id for doc in split.forget for p in doc.prompts}
        for probe in split.probes:
            if probe.id in probe_splits:
                raise DataError(
                    f"{source}: duplicate probe id {probe.id!r} "
                    f"(splits {probe_splits[probe.id]!r} and {split_name!r})"
                )
            probe_splits[probe.id] = split_name
            if probe.of not in forget_prompts:
                raise DataError(
                    f"{source}: probe {probe.id!r}: field 'of': no forget prompt {probe.of!r} "
                    f"in split {split_name!r}"
                )
    return benchmark


def require_prompts(benchmark: Benchmark, split_name: str) -> Split:
    """The split, if evaluation can score it: some forget or retain document has sc/qa prompts
    (TOFU and MUSE: the split has its protocol's question sets).

    Documents without prompts can be trained on and unlearned, but the LUME scores are computed on
    prompts only; call this before any training, so that a run does not build a target and an oracle
    and only then find nothing to score."""
    split = benchmark.split(split_name)
    if benchmark.protocol != "lume":
        from obliviate.data import muse, tofu  # they build on these records

        required = {"tofu": tofu.REQUIRED_SETS, "muse": muse.EVAL_SETS}[benchmark.protocol]
        missing = [name for name in required if not split.eval_sets.get(name)]
        if benchmark.protocol == "muse" and not (split.member and split.nonmember):
            missing.append("privleak forget / holdout documents")
        if missing:
            raise DataError(
                f"benchmark {benchmark.name!r}, split {split_name!r}: the {benchmark.protocol} protocol "
                f"scores {', '.join(required)}; missing or empty: {', '.join(missing)}"
            )
        return split
    if not any(doc.prompts for doc in (*split.forget, *split.retain)):
        raise DataError(
            f"benchmark {benchmark.name!r}, split {split_name!r}: evaluation needs sc/qa prompts in the "
            "forget or retain documents, and these have none (give rows a 'prompts' field, or write "
            'question/answer rows {"id", "question", "answer"}); '
            "`obliviate target` and `obliviate unlearn` work without prompts"
        )
    return split


def forget_requests(benchmark: Benchmark, split_name: str, count: int, nested: bool) -> list[Benchmark]:
    """The split's forget documents as `count` unlearning requests, each a benchmark whose split
    forgets only that request (everything else, eval sets included, unchanged):

    - nested (MUSE's scalability): request i holds the first ceil(i * D / count) documents;
    - disjoint (sustainability, `--sequential`): D documents in `count` consecutive chunks.

    Requests are named `<benchmark>[scale i/count]` / `[chunk i/count]`, so their unlearning runs
    are keyed apart; the last nested request is the benchmark itself (the plain method's run)."""
    split = benchmark.split(split_name)
    docs = split.forget
    if not 1 <= count <= len(docs):
        raise DataError(
            f"benchmark {benchmark.name!r}, split {split_name!r}: {count} requests need 1 to {len(docs)} "
            f"(the split's forget documents), got {count}"
        )
    out = []
    for i in range(1, count + 1):
        if nested:
            chosen, label = docs[: math.ceil(i * len(docs) / count)], f"scale {i}/{count}"
        else:
            chosen, label = docs[(i - 1) * len(docs) // count : i * len(docs) // count], f"chunk {i}/{count}"
        if nested and i == count:  # the whole forget set: the plain run, reused
            out.append(benchmark)
            continue
        view = replace(split, forget=chosen)
        out.append(
            replace(
                benchmark, name=f"{benchmark.name}[{label}]", splits={**benchmark.splits, split_name: view}
            )
        )
    return out


def subset_benchmark(benchmark: Benchmark, docs_per_task: int) -> Benchmark:
    """The first `docs_per_task` forget and retain documents of each task in each split, and the
    probes of the kept forget prompts.

    MIA members must stay trained-on: a member is kept when its document is a kept forget document
    (LUME member ids are the document id, some with the `sc1` suffix); as many non-members are kept
    as members, so the attack stays balanced."""

    def first_per_task(docs: tuple[Document, ...]) -> tuple[Document, ...]:
        counts: dict[str, int] = {}
        kept = []
        for doc in docs:
            counts[doc.task] = counts.get(doc.task, 0) + 1
            if counts[doc.task] <= docs_per_task:
                kept.append(doc)
        return tuple(kept)

    splits = {}
    for name, split in benchmark.splits.items():
        forget = first_per_task(split.forget)
        kept_ids = {d.id for d in forget}
        member = tuple(m for m in split.member if m.id in kept_ids or m.id.removesuffix("sc1") in kept_ids)
        kept_prompts = {p.id for doc in forget for p in doc.prompts}
        probes = tuple(probe for probe in split.probes if probe.of in kept_prompts)
        splits[name] = Split(
            forget,
            first_per_task(split.retain),
            member,
            split.nonmember[: len(member)],
            probes,
            split.eval_sets,
        )
    return Benchmark(f"{benchmark.name}[{docs_per_task}/task]", splits, benchmark.protocol)
