"""TOFU (Maini et al. 2024) as `Benchmark` records: fictitious authors, 20 questions each.

    build_tofu("tofu:forget10", forget_authors, retain_authors, sets)  -> Benchmark (protocol "tofu")

One split, `train`. Each author is a document whose qa prompts are its questions, asked as
`PROMPT` (`Question: ...\\nAnswer:`), so the target learns every author and the oracle the retain
authors only. The protocol (`eval/protocols/tofu.py`) scores the split's `eval_sets`:

- `forget`: the forget authors' questions, each with its paraphrased and perturbed answers;
- `retain`: retain questions with the same extras (TOFU's `retain_perturbed`);
- `real_authors`, `world_facts`: questions about the real world, each with perturbed answers;
- `holdout`: questions about authors no model was trained on (privleak's non-members).

The embedded synthetic look-alike is `data/synthetic_tofu.py`; the loader of the released JSON
files is `load_tofu` below.

    load_tofu(Path("tofu"), forget="forget05")  -> Benchmark "tofu:forget05"

`load_tofu` reads a directory of the files of the HF dataset locuslab/TOFU, for a forget split
`forget01`, `forget05` or `forget10` (1, 5 or 10 % of the 200 authors):

    forget<NN>.json               {question, answer}: the last authors of full.json, 20 rows each
    retain<100-NN>.json           {question, answer}: the other (first) authors
    forget<NN>_perturbed.json     forget's questions + paraphrased_answer, perturbed_answer [str, ...]
    retain_perturbed.json         400 retain questions, the same fields
    real_authors_perturbed.json   {question, answer, perturbed_answer}
    world_facts_perturbed.json    {question, answer, perturbed_answer}
    holdout<NN>.json              optional {question, answer}: authors no model was trained on

`full.json` and the files without `_perturbed` of real authors and world facts are not read.
A file is JSON Lines (as released) or one JSON array (as some mirrors ship), told apart by its first
non-blank character; an error names `file:line` for JSON Lines and `file:element` (1-based) for an
array. Authors are consecutive blocks of 20 rows of the forget and retain files; they are numbered
as in full.json: `tofu-a000` .. for the retain authors, then the forget authors. The question sets
have ids `forget-0000`, `retain-0000`, `real-0000`, `world-0000`, `holdout-0000` (row order).

Unknown fields are errors, except the extras the released files carry: `paraphrased_question` (the
perturbed sets) and `option1`..`option4` (real authors, world facts: multiple choice). These, and a
`paraphrased_answer` of a real-author or world-fact row, are type-checked and not kept: TOFU's truth
ratio for those two sets is computed against the original answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from obliviate.data.jsonl import Row, json_type, read_records, reject_unknown_fields, string_field
from obliviate.data.records import Benchmark, DataError, Document, Prompt, QAItem, Split, check_benchmark

PROMPT = "Question: {question}\nAnswer:"
TASK = "TOFU"
EVAL_SETS = ("forget", "retain", "real_authors", "world_facts", "holdout")
REQUIRED_SETS = ("forget", "retain", "real_authors", "world_facts")  # holdout: privleak only


def prompt(question: str) -> str:
    """The prompt a TOFU question is trained and asked with."""
    return PROMPT.format(question=question)


@dataclass(frozen=True)
class Author:
    """One fictitious author: an id and its question-answer pairs (the training data)."""

    id: str
    items: tuple[QAItem, ...]


def author_document(author: Author) -> Document:
    """The author as a training document: one qa prompt per question, text = every Q/A pair."""
    prompts = tuple(
        Prompt(f"{author.id}qa{i}", "qa", prompt(item.question), item.answer)
        for i, item in enumerate(author.items)
    )
    text = "\n\n".join(f"{p.input} {p.output}" for p in prompts)
    return Document(id=author.id, task=TASK, text=text, prompts=prompts)


def build_tofu(
    name: str,
    forget: Sequence[Author],
    retain: Sequence[Author],
    eval_sets: Mapping[str, Sequence[QAItem]],
    source: str,
) -> Benchmark:
    """The TOFU benchmark: forget and retain authors as documents, the question sets to score.

    `eval_sets` must hold `forget`, `retain`, `real_authors` and `world_facts` (and may hold
    `holdout`); truth ratios need each forget and retain item's paraphrased and perturbed answers,
    and each real-author and world-fact item's perturbed answers."""
    from obliviate.data.records import DataError

    unknown = sorted(set(eval_sets) - set(EVAL_SETS))
    if unknown:
        raise DataError(f"{source}: unknown TOFU question set(s) {unknown}; known: {', '.join(EVAL_SETS)}")
    for set_name in REQUIRED_SETS:
        items = eval_sets.get(set_name) or ()
        if not items:
            raise DataError(f"{source}: the TOFU question set {set_name!r} is missing or empty")
        for item in items:
            if set_name in ("forget", "retain") and not item.paraphrased_answer:
                raise DataError(
                    f"{source}: {set_name} item {item.id!r}: field 'paraphrased_answer' is missing"
                )
            if not item.perturbed_answers:
                raise DataError(f"{source}: {set_name} item {item.id!r}: field 'perturbed_answer' is empty")
    split = Split(
        forget=tuple(author_document(a) for a in forget),
        retain=tuple(author_document(a) for a in retain),
        eval_sets={k: tuple(v) for k, v in eval_sets.items()},
    )
    return check_benchmark(Benchmark(name, {"train": split}, protocol="tofu"), source)


# --- the released files --------------------------------------------------------------------------

FORGET_SPLITS = ("forget01", "forget05", "forget10")
QUESTIONS_PER_AUTHOR = 20
QA_FIELDS = ("question", "answer")
PERTURBED_FIELDS = ("question", "answer", "paraphrased_answer", "perturbed_answer", "paraphrased_question")
REAL_FIELDS = (
    "question",
    "answer",
    "paraphrased_answer",
    "perturbed_answer",
    "option1",
    "option2",
    "option3",
    "option4",
)
OPTIONAL_STRINGS = ("paraphrased_question", "option1", "option2", "option3", "option4")


def _required(directory: Path, name: str, what: str) -> Path:
    file = directory / name
    if not file.is_file():
        raise DataError(f"{directory}: no {name} (TOFU's {what})")
    return file


def _perturbed_answers(row: Row, where: str) -> tuple[str, ...]:
    """`row["perturbed_answer"]`: a non-empty array of non-blank strings."""
    if "perturbed_answer" not in row:
        raise DataError(f"{where}: field 'perturbed_answer': missing")
    value = row["perturbed_answer"]
    if not isinstance(value, list):
        raise DataError(
            f"{where}: field 'perturbed_answer': expected an array of strings, got {json_type(value)}"
        )
    if not value:
        raise DataError(f"{where}: field 'perturbed_answer': empty array")
    for i, answer in enumerate(value):
        if not isinstance(answer, str):
            raise DataError(
                f"{where}: field 'perturbed_answer[{i}]': expected a string, got {json_type(answer)}"
            )
        if not answer.strip():
            raise DataError(f"{where}: field 'perturbed_answer[{i}]': empty")
    return tuple(value)


def _questions(file: Path, id_prefix: str, kind: str) -> list[QAItem]:
    """The QAItems of one TOFU file, ids `<id_prefix>-0000`, ...; `kind` is `plain` ({question,
    answer}), `perturbed` (forget and retain: paraphrased and perturbed answers required) or `real`
    (real authors, world facts: perturbed answers required; the options and a paraphrased answer
    are checked and left out, as TOFU scores these against the original answer)."""
    allowed = {"plain": QA_FIELDS, "perturbed": PERTURBED_FIELDS, "real": REAL_FIELDS}[kind]
    rows = read_records(file)
    if not rows:
        raise DataError(f"{file}: empty file (no rows)")
    items: list[QAItem] = []
    for index, (number, row) in enumerate(rows):
        where = f"{file}:{number}"
        reject_unknown_fields(row, allowed, where, what="TOFU row")
        question = string_field(row, "question", where, non_empty=True)
        answer = string_field(row, "answer", where, non_empty=True)
        for name in OPTIONAL_STRINGS:
            if name in row:
                string_field(row, name, where)  # checked, not kept
        paraphrased, perturbed = None, ()
        if kind != "plain":
            perturbed = _perturbed_answers(row, where)
        if kind == "perturbed":
            paraphrased = string_field(row, "paraphrased_answer", where, non_empty=True)
        elif "paraphrased_answer" in row:
            string_field(row, "paraphrased_answer", where)  # checked, not kept (see the docstring)
        items.append(QAItem(f"{id_prefix}-{index:04d}", question, answer, paraphrased, perturbed))
    return items


def _authors(file: Path, first_index: int) -> list[Author]:
    """The authors of a forget or retain file: consecutive blocks of `QUESTIONS_PER_AUTHOR` rows,
    ids `tofu-a<first_index + k>`."""
    items = _questions(file, "row", "plain")
    if len(items) % QUESTIONS_PER_AUTHOR:
        raise DataError(
            f"{file}: {len(items)} rows, not a multiple of {QUESTIONS_PER_AUTHOR} "
            f"(TOFU has {QUESTIONS_PER_AUTHOR} consecutive questions per author)"
        )
    authors = []
    for k in range(len(items) // QUESTIONS_PER_AUTHOR):
        author_id = f"tofu-a{first_index + k:03d}"
        block = items[k * QUESTIONS_PER_AUTHOR : (k + 1) * QUESTIONS_PER_AUTHOR]
        questions = tuple(QAItem(f"{author_id}qa{i}", q.question, q.answer) for i, q in enumerate(block))
        authors.append(Author(author_id, questions))
    return authors


def load_tofu(directory: Path | str, forget: str = "forget10") -> Benchmark:
    """Read TOFU's released files (layout in the module docstring) for one forget split."""
    directory = Path(directory)
    if forget not in FORGET_SPLITS:
        raise DataError(f"TOFU forget split {forget!r}: expected one of {', '.join(FORGET_SPLITS)}")
    if not directory.is_dir():
        raise DataError(f"{directory}: no such directory")
    percent = forget.removeprefix("forget")
    retain = f"retain{100 - int(percent)}"
    forget_file = _required(directory, f"{forget}.json", "forget set")
    retain_file = _required(directory, f"{retain}.json", f"retain set for {forget}")
    files = {
        "forget": _required(directory, f"{forget}_perturbed.json", "forget question set"),
        "retain": _required(directory, "retain_perturbed.json", "retain question set"),
        "real_authors": _required(directory, "real_authors_perturbed.json", "real-authors question set"),
        "world_facts": _required(directory, "world_facts_perturbed.json", "world-facts question set"),
    }
    retain_authors = _authors(retain_file, 0)
    forget_authors = _authors(forget_file, len(retain_authors))
    prefixes = {"forget": "forget", "retain": "retain", "real_authors": "real", "world_facts": "world"}
    eval_sets = {
        name: _questions(file, prefixes[name], "perturbed" if name in ("forget", "retain") else "real")
        for name, file in files.items()
    }
    holdout_file = directory / f"holdout{percent}.json"
    if holdout_file.is_file():
        eval_sets["holdout"] = _questions(holdout_file, "holdout", "plain")
    return build_tofu(f"tofu:{forget}", forget_authors, retain_authors, eval_sets, str(directory))
