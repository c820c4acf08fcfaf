"""Benchmarks: loaders that turn forget/retain/MIA data into typed `Benchmark` records.

    from obliviate.data import load_benchmark
    bench = load_benchmark("../shared/data/lume")   # LUME, split files or the full release
    bench = load_benchmark("my_data")               # a practitioner's forget.jsonl / retain.jsonl
    bench = load_benchmark("tofu", format="tofu", tofu_forget="forget05")   # TOFU's released files
    bench = load_benchmark("muse_bench/data/news", format="muse")           # MUSE's layout

`load_benchmark` picks the loader from a directory's files (or is told: `format="tofu"`, or a
manifest `obliviate.json`), and adds the probes of `<dir>/probes.jsonl` when there is one (see
`probes.py`); `load_lume`, `load_jsonl`, `load_tofu`, `load_muse` and `load_probes` can be called
directly. Every loader returns a `Benchmark` (see `records.py`) and raises `DataError`,
with a one-line message naming file, line and field, on bad input.

Test: PYTHONPATH=src python -m pytest tests/data -q
"""

from __future__ import annotations

import json
from pathlib import Path

from obliviate.data.jsonl import _DuplicateField, _object_without_duplicates, json_type, load_jsonl
from obliviate.data.lume import load_lume
from obliviate.data.muse import load_muse
from obliviate.data.probes import PROBES_FILE, load_probes
from obliviate.data.records import (
    SPLIT_NAMES,
    TASKS,
    Benchmark,
    DataError,
    Document,
    MiaDocument,
    Probe,
    Prompt,
    PromptKind,
    Split,
    check_benchmark,
    require_prompts,
)
from obliviate.data.tofu import FORGET_SPLITS, load_tofu

__all__ = [
    "SPLIT_NAMES",
    "TASKS",
    "Benchmark",
    "DataError",
    "Document",
    "MiaDocument",
    "Probe",
    "Prompt",
    "PromptKind",
    "Split",
    "check_benchmark",
    "load_benchmark",
    "load_jsonl",
    "load_lume",
    "load_muse",
    "load_probes",
    "load_tofu",
    "require_prompts",
]


def _first_row_is_lume(file: Path) -> bool:
    """Whether the first non-blank row of `file` has LUME's `input` and `output` fields.

    Reads one line, not the file. An unreadable or invalid first row answers False, so the
    practitioner loader, which owns the forget.jsonl name, reports the problem.
    """
    try:
        with file.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    row = json.loads(line)
                    return isinstance(row, dict) and "input" in row and "output" in row
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return False


FORMATS = ("auto", "lume", "jsonl", "tofu", "muse")
MANIFEST_FILE = "obliviate.json"
MANIFEST_FIELDS = ("format", "forget")


def read_manifest(file: Path) -> tuple[str, str | None]:
    """(format, TOFU forget split or None) of a manifest `{"format": ..., "forget": ...}`."""
    try:
        text = file.read_bytes().decode("utf-8-sig")
        manifest = json.loads(text, object_pairs_hook=_object_without_duplicates)
    except OSError as err:
        raise DataError(f"{file}: cannot read: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{file}: not valid UTF-8 (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{file}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    except _DuplicateField as err:
        raise DataError(f"{file}: field {err.args[0]!r}: given twice") from None
    if not isinstance(manifest, dict):
        raise DataError(f"{file}: expected a JSON object, got {json_type(manifest)}")
    for name in manifest:
        if name not in MANIFEST_FIELDS:
            raise DataError(
                f"{file}: field {name!r}: unknown field (a manifest has {', '.join(MANIFEST_FIELDS)})"
            )
    if "format" not in manifest:
        raise DataError(f"{file}: field 'format': missing")
    data_format = manifest["format"]
    if data_format not in FORMATS[1:]:
        raise DataError(f"{file}: field 'format': {data_format!r} is not one of {', '.join(FORMATS[1:])}")
    forget = manifest.get("forget")
    if forget is not None and data_format != "tofu":
        raise DataError(f"{file}: field 'forget': only for format 'tofu'")
    if forget is not None and forget not in FORGET_SPLITS:
        raise DataError(f"{file}: field 'forget': {forget!r} is not one of {', '.join(FORGET_SPLITS)}")
    return data_format, forget


def _looks_like(path: Path) -> str | None:
    """ "tofu" or "muse" when the directory holds that benchmark's released files, else None."""
    if (path / "forget10.json").is_file() or (path / "full.json").is_file():
        return "tofu"
    if (path / "raw").is_dir() and (path / "knowmem").is_dir():
        return "muse"
    return None


def load_benchmark(spec: str | Path, format: str = "auto", tofu_forget: str = "forget10") -> Benchmark:
    """Load the benchmark a directory holds, in `format` (one of `FORMATS`).

    `format="auto"` reads the manifest `obliviate.json` when there is one (`{"format": "tofu",
    "forget": "forget05"}`: format and, for TOFU, the forget split, instead of `tofu_forget`);
    otherwise it detects LUME or the practitioner's JSONL, never TOFU or MUSE:

    - `forget_train.jsonl`, `forget_validation.jsonl` or `forget_test.jsonl` -> `load_lume`;
    - `forget.jsonl` whose first row has `input` and `output` (the full LUME release) -> `load_lume`;
    - any other `forget.jsonl` -> `load_jsonl`.

    An explicit format wins over the manifest: `lume`, `jsonl`, `tofu` (`load_tofu(spec,
    tofu_forget)`) or `muse`. Then `probes.jsonl`, if present -> `load_probes`.
    """
    if format not in FORMATS:
        raise DataError(f"unknown data format {format!r}; known: {', '.join(FORMATS)}")
    path = Path(spec)
    if not path.exists():
        raise DataError(f"{spec}: no such directory")
    if not path.is_dir():
        raise DataError(f"{spec}: not a directory (a benchmark is a directory of data files)")
    if format == "auto" and (path / MANIFEST_FILE).is_file():
        format, forget = read_manifest(path / MANIFEST_FILE)
        tofu_forget = forget or tofu_forget
    if format == "lume":
        benchmark = load_lume(path)
    elif format == "jsonl":
        benchmark = load_jsonl(path)
    elif format == "tofu":
        benchmark = load_tofu(path, tofu_forget)
    elif format == "muse":
        benchmark = load_muse(path)
    else:
        benchmark = _detect(path, spec)
    probes_file = path / PROBES_FILE
    return load_probes(probes_file, benchmark) if probes_file.exists() else benchmark


def _detect(path: Path, spec: str | Path) -> Benchmark:
    """LUME or the practitioner's JSONL, from the directory's files (see `load_benchmark`)."""
    forget_file = path / "forget.jsonl"
    if any((path / f"forget_{name}.jsonl").exists() for name in SPLIT_NAMES):
        return load_lume(path)
    if forget_file.exists():
        return load_lume(path) if _first_row_is_lume(forget_file) else load_jsonl(path)
    looks_like = _looks_like(path)
    if looks_like:
        name = looks_like.upper()
        raise DataError(
            f"{spec}: looks like {name}'s released files, which are never guessed: pass the format "
            f"explicitly (`--set data_format={looks_like}`, or format={looks_like!r}) or add "
            f'{MANIFEST_FILE} {{"format": "{looks_like}"}}'
        )
    raise DataError(
        f"{spec}: no benchmark files "
        "(expected forget_<split>.jsonl for LUME, or forget.jsonl for your own data)"
    )
