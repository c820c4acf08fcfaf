"""Load a user's probes: forget prompts asked differently, from a `probes.jsonl` file.

    bench = load_probes(Path("my_data/probes.jsonl"), load_benchmark("my_data"))

`load_benchmark(dir)` calls this itself when `<dir>/probes.jsonl` exists. A row is one probe:

    {"id": "p1", "of": "d3qa0", "label": "paraphrase", "kind": "qa", "input": "...", "output": "..."}

`of` is the id of the forget prompt the probe re-asks; `label` is any non-empty word (the generated
ones are paraphrase, alias, two_hop, mid_document, in_context, affirmative); `kind` is `sc` or `qa`
and decides how the probe is scored. An optional `"split"` names the split of that prompt; without
it the split is the one whose forget documents have a prompt with that id. Probe ids are unique
over the benchmark, including probes it already had. An empty file adds no probes.

Every error is a `DataError` whose one-line message names the file, the 1-based line and the field.

Test: PYTHONPATH=src python -m pytest tests/data/test_probes.py -q
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from obliviate.data.jsonl import PROMPT_KINDS, read_rows, reject_unknown_fields, string_field
from obliviate.data.records import Benchmark, DataError, Probe, check_benchmark

PROBE_FIELDS = ("id", "of", "label", "kind", "input", "output", "split")
PROBES_FILE = "probes.jsonl"


def load_probes(path: str | Path, benchmark: Benchmark) -> Benchmark:
    """`benchmark` with the probes of the JSONL file `path` added to the splits of the prompts they re-ask."""
    file = Path(path)
    splits_of: dict[str, list[str]] = {}  # forget prompt id -> the splits that have it
    for split_name, split in benchmark.splits.items():
        for doc in split.forget:
            for prompt in doc.prompts:
                splits_of.setdefault(prompt.id, []).append(split_name)
    first_line: dict[str, int] = {}
    existing = {probe.id for split in benchmark.splits.values() for probe in split.probes}
    added: dict[str, list[Probe]] = {name: [] for name in benchmark.splits}
    for lineno, row in read_rows(file):
        where = f"{file}:{lineno}"
        reject_unknown_fields(row, PROBE_FIELDS, where, what="probe row")
        probe_id = string_field(row, "id", where, non_empty=True)
        if probe_id in first_line:
            raise DataError(
                f"{where}: field 'id': duplicate id {probe_id!r} (first on line {first_line[probe_id]})"
            )
        if probe_id in existing:
            raise DataError(f"{where}: field 'id': the benchmark already has a probe {probe_id!r}")
        first_line[probe_id] = lineno
        of = string_field(row, "of", where, non_empty=True)
        label = string_field(row, "label", where, non_empty=True)
        kind = string_field(row, "kind", where)
        if kind not in PROMPT_KINDS:
            raise DataError(
                f"{where}: field 'kind': unknown kind {kind!r} (expected {', '.join(PROMPT_KINDS)})"
            )
        input_ = string_field(row, "input", where, non_empty=True)
        output = string_field(row, "output", where, non_empty=True)
        split_name = _split_of(row, of, splits_of, benchmark, where)
        added[split_name].append(
            Probe(id=probe_id, of=of, label=label, kind=kind, input=input_, output=output)
        )
    splits = {
        name: replace(split, probes=split.probes + tuple(added[name]))
        for name, split in benchmark.splits.items()
    }
    return check_benchmark(replace(benchmark, splits=splits), str(file))


def _split_of(row: dict, of: str, splits_of: dict[str, list[str]], benchmark: Benchmark, where: str) -> str:
    """The split whose forget prompt `of` names: the row's `split`, or the one split that has it."""
    found = splits_of.get(of, [])
    if "split" in row:
        split_name = string_field(row, "split", where, non_empty=True)
        if split_name not in benchmark.splits:
            raise DataError(
                f"{where}: field 'split': no split {split_name!r} "
                f"(the benchmark has {sorted(benchmark.splits)})"
            )
        if split_name not in found:
            raise DataError(f"{where}: field 'of': no forget prompt {of!r} in split {split_name!r}")
        return split_name
    if not found:
        raise DataError(f"{where}: field 'of': no forget prompt {of!r} in any split")
    if len(found) > 1:
        raise DataError(
            f"{where}: field 'of': forget prompt {of!r} is in splits {found}; name one with 'split'"
        )
    return found[0]
