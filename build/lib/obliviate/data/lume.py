"""Load LUME (SemEval-2025 Task 4) forget/retain/MIA data into `Benchmark` records.

    load_lume(Path("../shared/data/lume"))  # -> Benchmark "lume:lume", splits train and validation

Two layouts are accepted:

- the SemEval splits: `forget_<split>.jsonl` and `retain_<split>.jsonl` for each split present
  (train, validation, test; at least one complete pair), plus optional `mia/member_<split>.jsonl`
  and `mia/nonmember_<split>.jsonl` (rows `id`, `document`), both or neither;
- the full LUME release (amazon-science/lume-llm-unlearning, data/): `forget.jsonl` and
  `retain.jsonl` only, loaded as the single split `train` (its MIA files, if any, `mia/*_train.jsonl`).

A row is one prompt: `{"id", "input", "output", "task"}` (the full release adds `"split": "forget"`
or `"retain"`, checked against the file). Its kind comes from the id exactly as the official
evaluation script decides it: `id[:-1].endswith("sc")` is sentence completion (regurgitation),
`id[:-1].endswith("qa")` a question (knowledge). Stripping the three-character suffix (`sc1`,
`qa0`..`qa4`) gives the document id. Rows are grouped into documents in order of first appearance
(the full release interleaves documents); a document's prompts keep file order, its text is
`input + " " + output` of its `sc1` row, and all its rows share one task of Task1/Task2/Task3.

Every error is a `DataError` whose one-line message names the file, the 1-based line and the field.

Test: PYTHONPATH=src python -m pytest tests/data/test_lume.py -q
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from obliviate.data.jsonl import (
    check_mia_disjoint,
    read_mia,
    read_rows,
    reject_unknown_fields,
    string_field,
)
from obliviate.data.records import (
    SPLIT_NAMES,
    TASKS,
    Benchmark,
    DataError,
    Document,
    MiaDocument,
    Prompt,
    PromptKind,
    Split,
    check_benchmark,
)

ROW_FIELDS = ("id", "input", "output", "task", "split")  # `split` only in the full release
MIA_TEXT_FIELD = "document"
TEXT_SUFFIX = "sc1"  # the prompt whose input + " " + output is the full document


def prompt_kind(prompt_id: str) -> PromptKind | None:
    """The official script's rule: the two characters before the last one name the kind."""
    if prompt_id[:-1].endswith("sc"):
        return "sc"
    if prompt_id[:-1].endswith("qa"):
        return "qa"
    return None


@dataclass
class _Draft:
    """A document while its rows are read; rows of one document may be scattered over the file."""

    line: int  # of its first row, for messages
    task: str
    prompts: list[Prompt] = field(default_factory=list)
    text: str | None = None


def _read_documents(file: Path, kind: str) -> list[tuple[int, Document]]:
    """(line of first row, Document) for each document of one forget or retain file."""
    rows = read_rows(file)
    if not rows:
        raise DataError(f"{file}: empty file (no rows)")
    drafts: dict[str, _Draft] = {}  # insertion order = order of first appearance
    prompt_lines: dict[str, int] = {}
    for lineno, row in rows:
        where = f"{file}:{lineno}"
        reject_unknown_fields(row, ROW_FIELDS, where, what="LUME row")
        prompt_id = string_field(row, "id", where)
        prompt_type = prompt_kind(prompt_id)
        if prompt_type is None or len(prompt_id) <= len(TEXT_SUFFIX):
            raise DataError(
                f"{where}: field 'id': {prompt_id!r} is not a document id followed by a prompt suffix "
                "(sc1, qa0..qa4)"
            )
        if prompt_id in prompt_lines:
            raise DataError(
                f"{where}: field 'id': duplicate prompt id {prompt_id!r} "
                f"(first on line {prompt_lines[prompt_id]})"
            )
        prompt_lines[prompt_id] = lineno
        input_ = string_field(row, "input", where)
        output = string_field(row, "output", where)
        task = string_field(row, "task", where)
        if task not in TASKS:
            raise DataError(f"{where}: field 'task': unknown task {task!r} (expected {', '.join(TASKS)})")
        if "split" in row and (split := string_field(row, "split", where)) != kind:
            raise DataError(f"{where}: field 'split': {split!r} in a {kind} file")

        doc_id = prompt_id[: -len(TEXT_SUFFIX)]
        draft = drafts.get(doc_id)
        if draft is None:
            draft = drafts[doc_id] = _Draft(line=lineno, task=task)
        elif task != draft.task:
            raise DataError(
                f"{where}: field 'task': {task!r}, but document {doc_id!r} "
                f"is {draft.task!r} (line {draft.line})"
            )
        draft.prompts.append(Prompt(id=prompt_id, kind=prompt_type, input=input_, output=output))
        if prompt_id.endswith(TEXT_SUFFIX):
            draft.text = f"{input_} {output}"

    docs: list[tuple[int, Document]] = []
    for doc_id, draft in drafts.items():
        if draft.text is None:
            suffixes = ", ".join(p.id[-len(TEXT_SUFFIX) :] for p in draft.prompts)
            raise DataError(
                f"{file}:{draft.line}: field 'id': document {doc_id!r} has no {TEXT_SUFFIX} row "
                f"(only {suffixes}), so it has no full text"
            )
        docs.append(
            (draft.line, Document(id=doc_id, task=draft.task, text=draft.text, prompts=tuple(draft.prompts)))
        )
    return docs


def _split_files(path: Path) -> dict[str, tuple[Path, Path]]:
    """split name -> (forget file, retain file), for the layout the directory uses."""
    by_split = {name: (path / f"forget_{name}.jsonl", path / f"retain_{name}.jsonl") for name in SPLIT_NAMES}
    present = {name: files for name, files in by_split.items() if any(f.exists() for f in files)}
    release = (path / "forget.jsonl", path / "retain.jsonl")
    if present and any(f.exists() for f in release):
        raise DataError(
            f"{path}: holds both forget.jsonl/retain.jsonl and forget_<split>.jsonl files; keep one layout"
        )
    if present:
        return present
    if any(f.exists() for f in release):
        return {"train": release}
    raise DataError(
        f"{path}: no LUME files (expected forget_<split>.jsonl and retain_<split>.jsonl for a split of "
        f"{', '.join(SPLIT_NAMES)}, or forget.jsonl and retain.jsonl)"
    )


def _read_split_mia(path: Path, split_name: str) -> tuple[tuple[MiaDocument, ...], tuple[MiaDocument, ...]]:
    member_file = path / "mia" / f"member_{split_name}.jsonl"
    nonmember_file = path / "mia" / f"nonmember_{split_name}.jsonl"
    if not (member_file.exists() or nonmember_file.exists()):
        return (), ()
    # One side alone is a mistake, not "no MIA": read_rows reports the missing file.
    member = read_mia(member_file, MIA_TEXT_FIELD)
    nonmember = read_mia(nonmember_file, MIA_TEXT_FIELD)
    check_mia_disjoint(member_file, member, nonmember_file, nonmember)
    return tuple(doc for _, doc in member), tuple(doc for _, doc in nonmember)


def load_lume(path: Path) -> Benchmark:
    """Read a LUME directory (either layout, see the module docstring) into a checked Benchmark."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: no such directory")
    files = _split_files(path)
    for name in SPLIT_NAMES:
        for side in ("member", "nonmember"):
            stray = path / "mia" / f"{side}_{name}.jsonl"
            if name not in files and stray.exists():
                raise DataError(f"{stray}: split {name!r} has no forget/retain files in {path}")

    # Where each document was first seen, over every file: check_benchmark would also reject a
    # document in two places, but its message cannot name the files and lines.
    owners: dict[str, tuple[str, Path, int]] = {}
    splits: dict[str, Split] = {}
    for split_name, (forget_file, retain_file) in files.items():
        read: dict[str, tuple[Document, ...]] = {}
        for kind, file in (("forget", forget_file), ("retain", retain_file)):
            docs = _read_documents(file, kind)
            for line, doc in docs:
                if doc.id in owners:
                    other_kind, other_file, other_line = owners[doc.id]
                    why = (
                        "a document cannot be in both forget and retain"
                        if other_kind != kind
                        else "duplicate"
                    )
                    raise DataError(
                        f"{file}:{line}: field 'id': document {doc.id!r} is also in "
                        f"{other_file}:{other_line} ({why})"
                    )
                owners[doc.id] = (kind, file, line)
            read[kind] = tuple(doc for _, doc in docs)
        member, nonmember = _read_split_mia(path, split_name)
        splits[split_name] = Split(
            forget=read["forget"], retain=read["retain"], member=member, nonmember=nonmember
        )

    benchmark = Benchmark(name=f"lume:{path.resolve().name}", splits=splits)
    return check_benchmark(benchmark, str(path))
