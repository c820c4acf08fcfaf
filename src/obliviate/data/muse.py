"""MUSE (Shi et al. 2024) as `Benchmark` records: a corpus to forget, one to keep, one never seen.

    build_muse("muse:news", forget_texts, retain_texts, privleak, eval_sets)  -> Benchmark (protocol "muse")

One split, `train`. Forget and retain articles are prompt-less documents (the target trains on
their whole text, as MUSE's targets were trained on the raw corpus); MIA members are privleak's
forget documents and non-members its holdout documents (never trained on). The protocol
(`eval/protocols/muse.py`) scores the split's `eval_sets`:

- `verbmem`: a prompt from a forget article (`question`) and its true continuation (`answer`);
- `knowmem_forget`, `knowmem_retain`: questions on forget / retain articles;
- `knowmem_forget_icl`, `knowmem_retain_icl`: the in-context examples asked before each.

The embedded synthetic look-alike is `data/synthetic_muse.py`; the loader of the released layout
is `load_muse` below.

    load_muse(Path("muse_bench/data/news"))  -> Benchmark "muse:news"

`load_muse` reads a directory laid out as muse_bench's `data/news` or `data/books` (or the HF
datasets muse-bench/MUSE-News and MUSE-Books, each subset's splits written as `<subset>/<split>.json`):

    raw/forget.*, raw/retain1.*, raw/retain2.*
        the corpora: forget trains target and unlearning (ids muse-f0000, ...), retain1 + retain2
        the retain set (muse-r1-0000, ..., muse-r2-0000, ...). Each is one of
        .json   a JSON array of strings or of {"text": ...} objects (or JSON Lines of them)
        .jsonl  one string or {"text": ...} object per line (or a JSON array)
        .txt    plain text, one document per block of lines separated by blank lines (our choice:
                muse_bench trains on a .txt as one stream cut into 2048-token windows; a block is
                a paragraph of its news files, and all of the text is trained on either way)
    verbmem/forget.json           [{"prompt", "gt"}]: QAItem(question=prompt, answer=gt)
    knowmem/forget_qa.json, knowmem/forget_qa_icl.json
    knowmem/retain_qa.json, knowmem/retain_qa_icl.json   (or retain2_qa.json, retain2_qa_icl.json)
                                  [{"question", "answer"}]
    privleak/forget.json, privleak/holdout.json
                                  strings or {"text"}: MIA members (privleak-f0000, ...) and
                                  non-members (privleak-h0000, ...)

Not read: raw/holdout.* (the non-members are privleak's), privleak/retain*.json, scal/, sust/.
A .json file may be an array or JSON Lines (the HF `to_json` default), told apart by its first
non-blank character; an error names `file:element` (1-based) of an array, `file:line` of JSON
Lines, and the field. Question sets have ids `verbmem-0000`, `knowmem-forget-0000`,
`knowmem-forget-icl-0000`, `knowmem-retain-0000`, `knowmem-retain-icl-0000`.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from obliviate.data.jsonl import read_records, reject_unknown_fields, string_field
from obliviate.data.records import Benchmark, DataError, Document, MiaDocument, QAItem, Split, check_benchmark

TASK = "MUSE"
EVAL_SETS = ("verbmem", "knowmem_forget", "knowmem_forget_icl", "knowmem_retain", "knowmem_retain_icl")


def build_muse(
    name: str,
    forget: Sequence[tuple[str, str]],
    retain: Sequence[tuple[str, str]],
    privleak: Mapping[str, Sequence[tuple[str, str]]],
    eval_sets: Mapping[str, Sequence[QAItem]],
    source: str,
) -> Benchmark:
    """The MUSE benchmark from (id, text) articles: `forget` and `retain` train the target,
    `privleak["forget"]` / `privleak["holdout"]` are the MIA members / non-members, and
    `eval_sets` must hold every set of `EVAL_SETS`."""
    unknown = sorted(set(eval_sets) - set(EVAL_SETS))
    if unknown:
        raise DataError(f"{source}: unknown MUSE question set(s) {unknown}; known: {', '.join(EVAL_SETS)}")
    for set_name in EVAL_SETS:
        if not eval_sets.get(set_name):
            raise DataError(f"{source}: the MUSE question set {set_name!r} is missing or empty")
    for side in ("forget", "holdout"):
        if not privleak.get(side):
            raise DataError(f"{source}: the privleak set {side!r} is missing or empty")
    split = Split(
        forget=tuple(Document(id=i, task=TASK, text=t) for i, t in forget),
        retain=tuple(Document(id=i, task=TASK, text=t) for i, t in retain),
        member=tuple(MiaDocument(i, t) for i, t in privleak["forget"]),
        nonmember=tuple(MiaDocument(i, t) for i, t in privleak["holdout"]),
        eval_sets={k: tuple(v) for k, v in eval_sets.items()},
    )
    return check_benchmark(Benchmark(name, {"train": split}, protocol="muse"), source)


# --- the released layout -------------------------------------------------------------------------

RAW_SUFFIXES = (".json", ".jsonl", ".txt")
TEXT_FIELDS = ("text",)
VERBMEM_FIELDS = ("prompt", "gt")
KNOWMEM_FIELDS = ("question", "answer")
LAYOUT = (
    "a MUSE directory (muse_bench's data/news or data/books) holds raw/forget, raw/retain1 and "
    "raw/retain2 (.json, .jsonl or .txt), verbmem/forget.json, knowmem/forget_qa.json, "
    "knowmem/forget_qa_icl.json, knowmem/retain_qa.json, knowmem/retain_qa_icl.json, "
    "privleak/forget.json and privleak/holdout.json"
)
_BLANK_LINES = re.compile(r"\n[ \t]*\n")


def _one_of(directory: Path, names: Sequence[str], what: str) -> Path:
    """The one existing file of `names` (paths relative to `directory`); none or two are errors."""
    present = [directory / name for name in names if (directory / name).is_file()]
    if len(present) > 1:
        raise DataError(f"{directory}: holds both {names[0]} and {names[1]}; keep one")
    if not present:
        raise DataError(f"{directory}: no {' or '.join(names)} (MUSE's {what})")
    return present[0]


def _raw_file(directory: Path, name: str, what: str) -> Path:
    """raw/<name>.json, .jsonl or .txt, whichever one exists."""
    present = [
        f"raw/{name}{suffix}" for suffix in RAW_SUFFIXES if (directory / "raw" / f"{name}{suffix}").is_file()
    ]
    if len(present) > 1:
        raise DataError(f"{directory}: holds both {present[0]} and {present[1]}; keep one")
    if not present:
        raise DataError(f"{directory}: no raw/{name}.json, .jsonl or .txt ({what})")
    return directory / present[0]


def _txt_documents(file: Path) -> list[str]:
    """The documents of a .txt file: blocks separated by blank lines (lines of spaces count)."""
    try:
        data = file.read_bytes().removeprefix(codecs.BOM_UTF8)
    except OSError as err:
        raise DataError(f"{file}: cannot read: {err.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(f"{file}:{line}: not valid UTF-8: byte 0x{data[err.start]:02x}") from None
    text = text.replace("\r\n", "\n")
    return [block.strip() for block in _BLANK_LINES.split(text) if block.strip()]


def _texts(file: Path) -> list[str]:
    """The texts of a raw or privleak file: .txt blocks, or records that are strings or {"text"}."""
    if file.suffix == ".txt":
        texts = _txt_documents(file)
    else:
        texts = []
        for number, record in read_records(file, strings=True):
            if isinstance(record, str):
                texts.append(record)
                continue
            where = f"{file}:{number}"
            reject_unknown_fields(record, TEXT_FIELDS, where, what="MUSE text record")
            texts.append(string_field(record, "text", where, non_empty=True))
    if not texts:
        raise DataError(f"{file}: empty file (no documents)")
    return texts


def _items(file: Path, id_prefix: str, fields: tuple[str, str]) -> list[QAItem]:
    """QAItems, ids `<id_prefix>-0000`, ..., from records {fields[0], fields[1]} (question, answer)."""
    records = read_records(file)
    if not records:
        raise DataError(f"{file}: empty file (no records)")
    items = []
    for index, (number, record) in enumerate(records):
        where = f"{file}:{number}"
        reject_unknown_fields(record, fields, where, what="MUSE record")
        question = string_field(record, fields[0], where, non_empty=True)
        answer = string_field(record, fields[1], where, non_empty=True)
        items.append(QAItem(f"{id_prefix}-{index:04d}", question, answer))
    return items


def _numbered(prefix: str, texts: Sequence[str]) -> list[tuple[str, str]]:
    return [(f"{prefix}{i:04d}", text) for i, text in enumerate(texts)]


def load_muse(directory: Path | str) -> Benchmark:
    """Read a MUSE directory in muse_bench's layout (see the module docstring)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such directory")
    raw = {
        "forget": _raw_file(directory, "forget", LAYOUT),
        "retain1": _raw_file(directory, "retain1", "MUSE's first retain corpus"),
        "retain2": _raw_file(directory, "retain2", "MUSE's second retain corpus"),
    }
    knowmem = {
        "knowmem_forget": _one_of(directory, ["knowmem/forget_qa.json"], "KnowMem forget questions"),
        "knowmem_forget_icl": _one_of(
            directory, ["knowmem/forget_qa_icl.json"], "KnowMem in-context examples for forget"
        ),
        "knowmem_retain": _one_of(
            directory, ["knowmem/retain_qa.json", "knowmem/retain2_qa.json"], "KnowMem retain questions"
        ),
        "knowmem_retain_icl": _one_of(
            directory,
            ["knowmem/retain_qa_icl.json", "knowmem/retain2_qa_icl.json"],
            "KnowMem in-context examples for retain",
        ),
    }
    verbmem_file = _one_of(directory, ["verbmem/forget.json"], "VerbMem prompts")
    privleak_files = {
        side: _one_of(directory, [f"privleak/{side}.json"], f"privleak {side} documents")
        for side in ("forget", "holdout")
    }
    # every file is located before any is read: a missing one fails fast
    texts = {name: _texts(file) for name, file in raw.items()}
    eval_sets = {"verbmem": _items(verbmem_file, "verbmem", VERBMEM_FIELDS)}
    for name, file in knowmem.items():
        eval_sets[name] = _items(file, name.replace("_", "-"), KNOWMEM_FIELDS)
    privleak = {
        "forget": _numbered("privleak-f", _texts(privleak_files["forget"])),
        "holdout": _numbered("privleak-h", _texts(privleak_files["holdout"])),
    }
    return build_muse(
        f"muse:{directory.resolve().name}",
        _numbered("muse-f", texts["forget"]),
        _numbered("muse-r1-", texts["retain1"]) + _numbered("muse-r2-", texts["retain2"]),
        privleak,
        eval_sets,
        str(directory),
    )
