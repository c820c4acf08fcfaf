"""Benchmarks: loaders that turn forget/retain/MIA data into typed `Benchmark` records.

    from obliviate.data import load_benchmark
    bench = load_benchmark("../shared/data/lume")   # LUME, split files or the full release
    bench = load_benchmark("my_data")               # a practitioner's forget.jsonl / retain.jsonl

`load_benchmark` picks the loader from a directory's files, and adds the probes of
`<dir>/probes.jsonl` when there is one (see `probes.py`); `load_lume`, `load_jsonl` and `load_probes`
can be called directly. Every loader returns a `Benchmark` (see `records.py`) and raises `DataError`,
with a one-line message naming file, line and field, on bad input.

Test: PYTHONPATH=src python -m pytest tests/data -q
"""

from __future__ import annotations

import json
from pathlib import Path

from obliviate.data.jsonl import load_jsonl
from obliviate.data.lume import load_lume
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
    "load_probes",
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


def load_benchmark(spec: str | Path) -> Benchmark:
    """Load the benchmark a directory holds.

    - `forget_train.jsonl`, `forget_validation.jsonl` or `forget_test.jsonl` -> `load_lume`;
    - `forget.jsonl` whose first row has `input` and `output` (the full LUME release) -> `load_lume`;
    - any other `forget.jsonl` -> `load_jsonl`;

    then `probes.jsonl`, if present -> `load_probes`.
    """
    path = Path(spec)
    if not path.exists():
        raise DataError(f"{spec}: no such directory")
    if not path.is_dir():
        raise DataError(f"{spec}: not a directory (a benchmark is a directory of .jsonl files)")
    forget_file = path / "forget.jsonl"
    if any((path / f"forget_{name}.jsonl").exists() for name in SPLIT_NAMES):
        benchmark = load_lume(path)
    elif forget_file.exists():
        benchmark = load_lume(path) if _first_row_is_lume(forget_file) else load_jsonl(path)
    else:
        raise DataError(
            f"{spec}: no benchmark files "
            "(expected forget_<split>.jsonl for LUME, or forget.jsonl for your own data)"
        )
    probes_file = path / PROBES_FILE
    return load_probes(probes_file, benchmark) if probes_file.exists() else benchmark
