"""Multiple-choice suites through lm-evaluation-harness: MMLU (general knowledge, the `mmlu` utility)
and WMDP (hazardous knowledge in biology, chemistry and cybersecurity, the benchmark RMU was made
for), from the Hugging Face hub or from a local copy in the suite's own released format.

    acc = multiple_choice_accuracy(model, tokenizer, MMLUConfig(data_dir=Path("data/mmlu")))
    per_task = multiple_choice_scores(model, tokenizer, WMDPConfig(data_dir=Path("data/wmdp")))

The suite follows from the config's type (`MMLUConfig` or `WMDPConfig`). Scores are lm-eval's `acc`:
the log-likelihood of each option letter (' A' .. ' D') after lm-eval's own prompt, argmax against
the gold; a group's accuracy is the mean over all its questions (lm-eval's `weight_by_size`).

- `data_dir=None`: lm-eval's own task (`mmlu`, `mmlu_stem`, `wmdp_bio`, ...) with the hub dataset
  (`cais/mmlu`, `cais/wmdp`). A hub that cannot be reached raises `SuiteUnavailable`.
- `data_dir` given: only the files under it are read, never the hub. The layout is the one a
  snapshot of the hub dataset has (`huggingface-cli download cais/mmlu --repo-type dataset
  --local-dir DIR`):

      MMLU: DIR/<subject>/test*.{parquet,jsonl,json}   (dev* too for few-shot; 'all/' is skipped)
      WMDP: DIR/wmdp-bio/test*.{parquet,jsonl,json}, DIR/wmdp-chem/..., DIR/wmdp-cyber/...

  Rows: `question` (str), `choices` (4 str), `answer` (int 0-3), as in the hub datasets. Every
  row is checked first (`SuiteDataError` names the file, row and field), then copied as JSON
  lines into a temporary folder beside generated lm-eval task files that `include:` lm-eval's
  own template of the suite (its prompt, choices, target and metric) and set `dataset_path: json`
  on the copies. Task names are lm-eval's (`mmlu_<subject>`, `wmdp_bio`); the group (`mmlu` /
  `wmdp`) covers the subjects found in DIR, so a partial copy gives a partial score: the
  per-task scores of `multiple_choice_scores` say which were scored.

Nothing falls back: no lm-eval, no data, or bad data raise, each with a one-line message.
Tests: `pytest tests/eval/test_multiple_choice.py` (tiny fixtures, a tiny model, lm-eval itself).
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from obliviate.eval.config import MMLUConfig, WMDPConfig

log = logging.getLogger(__name__)

FORMATS = (".parquet", ".jsonl", ".json")
N_CHOICES = 4


class SuiteUnavailable(RuntimeError):
    """The suite cannot run here (lm-eval missing, data unreachable or absent); the message says why."""


class SuiteDataError(ValueError):
    """A local data file of a suite is malformed; the message names the file, the row and the field."""


@dataclass(frozen=True)
class Suite:
    name: str  # lm-eval group name and task prefix
    hub: str  # the hub dataset of lm-eval's own tasks
    template: str  # lm-eval's template of the suite, relative to lm_eval/tasks
    fewshot_split: str | None  # split of the few-shot examples (lm-eval's fewshot_split)
    subjects: dict[str, str] | None  # directory -> what the questions are about; None: any directory

    def about(self, subject: str) -> str:
        return self.subjects[subject] if self.subjects is not None else subject.replace("_", " ")

    def task_name(self, subject: str) -> str:
        """lm-eval's task name: 'anatomy' -> 'mmlu_anatomy', 'wmdp-bio' -> 'wmdp_bio'."""
        return subject.replace("-", "_") if self.subjects is not None else f"{self.name}_{subject}"


SUITES: dict[str, Suite] = {
    "mmlu": Suite("mmlu", "cais/mmlu", "mmlu/default/_default_template_yaml", "dev", None),
    "wmdp": Suite(
        "wmdp",
        "cais/wmdp",
        "wmdp/_default_template_yaml",
        None,
        {"wmdp-bio": "biology", "wmdp-chem": "chemistry", "wmdp-cyber": "cybersecurity"},
    ),
}

# Directories of a cais/mmlu snapshot that are not subjects: 'all' repeats every subject.
MMLU_NOT_SUBJECTS = frozenset({"all", "auxiliary_train"})


def suite_of(cfg: MMLUConfig | WMDPConfig) -> Suite:
    if isinstance(cfg, WMDPConfig):
        return SUITES["wmdp"]
    if isinstance(cfg, MMLUConfig):
        return SUITES["mmlu"]
    raise TypeError(f"expected an MMLUConfig or a WMDPConfig; got {type(cfg).__name__}")


def lm_eval_modules():
    """(lm_eval, HFLM, TaskManager), or `SuiteUnavailable` saying how to install lm-eval."""
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError as err:
        raise SuiteUnavailable(
            f"lm-evaluation-harness is not installed ({err}); install it with `pip install lm-eval`"
        ) from err
    return lm_eval, HFLM, TaskManager


# ---------------------------------------------------------------------------------------------
# Local data: find, read and check


@dataclass(frozen=True)
class LocalSubject:
    """One subject (MMLU) or config (WMDP) of a local copy, with its files per split."""

    name: str  # directory name: 'anatomy', 'wmdp-bio'
    task: str  # lm-eval task name: 'mmlu_anatomy', 'wmdp_bio'
    dir: Path
    test: tuple[Path, ...]
    dev: tuple[Path, ...]


def _split_of(file: Path) -> str:
    """'test-00000-of-00001.parquet' -> 'test', 'dev.jsonl' -> 'dev'."""
    return re.split(r"[-_.]", file.name, maxsplit=1)[0]


def _split_files(directory: Path, split: str) -> tuple[Path, ...]:
    files = sorted(f for f in directory.iterdir() if f.is_file() and _split_of(f) == split)
    for f in files:
        if f.suffix not in FORMATS:
            raise SuiteDataError(f"{f}: unsupported format {f.suffix!r}; use one of {', '.join(FORMATS)}")
    return tuple(files)


def local_subjects(suite: Suite, data_dir: Path) -> list[LocalSubject]:
    """The subjects under `data_dir` that have test files, sorted by name; raises if there are none."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise SuiteUnavailable(f"{suite.name} data_dir {data_dir} does not exist or is not a directory")
    found = []
    for sub in sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if suite.subjects is None and sub.name in MMLU_NOT_SUBJECTS:
            continue
        test = _split_files(sub, "test")
        if not test:
            continue
        if suite.subjects is not None and sub.name not in suite.subjects:
            raise SuiteDataError(
                f"{sub}: not a {suite.name} config; expected one of {', '.join(sorted(suite.subjects))}"
            )
        dev = _split_files(sub, suite.fewshot_split) if suite.fewshot_split else ()
        found.append(LocalSubject(sub.name, suite.task_name(sub.name), sub, test, dev))
    if not found:
        expected = "<subject>" if suite.subjects is None else "wmdp-bio (or wmdp-chem, wmdp-cyber)"
        raise SuiteUnavailable(
            f"{suite.name} data_dir {data_dir} has no {suite.name} test files; expected "
            f"{data_dir}/{expected}/test*{{{','.join(FORMATS)}}}, as in a snapshot of {suite.hub}"
        )
    return found


def _read_file(path: Path) -> list[tuple[str, object]]:
    """(where, row) for each row of a parquet, JSON-lines or JSON (list of rows, or lines) file."""
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as err:
            raise SuiteUnavailable(f"{path}: reading parquet needs pyarrow (`pip install pyarrow`)") from err
        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as err:  # pyarrow's errors have no common base worth naming
            raise SuiteDataError(f"{path}: not a readable parquet file ({err})") from err
        return [(f"row {i}", row) for i, row in enumerate(rows, 1)]
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None  # JSON lines, as `datasets` writes .json files
        if whole is not None:
            if not isinstance(whole, list):
                raise SuiteDataError(f"{path}: expected a JSON list of rows (or JSON lines)")
            return [(f"row {i}", row) for i, row in enumerate(whole, 1)]
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append((f"line {n}", json.loads(line)))
            except json.JSONDecodeError as err:
                raise SuiteDataError(f"{path}: line {n}: not valid JSON ({err.msg})") from err
    return rows


def _check_row(row: object, where: str) -> dict:
    """The row's question, choices and answer (and MMLU's subject), or `SuiteDataError`."""
    if not isinstance(row, dict):
        raise SuiteDataError(f"{where}: expected an object with question, choices, answer")
    question, choices, answer = row.get("question"), row.get("choices"), row.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise SuiteDataError(f"{where}: field 'question' must be a non-empty string; got {question!r:.60}")
    if not isinstance(choices, list | tuple) or len(choices) != N_CHOICES:
        raise SuiteDataError(
            f"{where}: field 'choices' must be a list of {N_CHOICES} strings; got {choices!r:.60}"
        )
    if not all(isinstance(c, str) for c in choices):
        raise SuiteDataError(f"{where}: field 'choices' must hold strings only; got {choices!r:.60}")
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < N_CHOICES:
        raise SuiteDataError(
            f"{where}: field 'answer' must be an integer 0-{N_CHOICES - 1} (the index of the right choice); "
            f"got {answer!r:.60}"
        )
    out = {"question": question, "choices": list(choices), "answer": answer}
    if isinstance(row.get("subject"), str):
        out["subject"] = row["subject"]
    return out


def read_split(files: tuple[Path, ...]) -> list[dict]:
    """The checked rows of a split's files, in file order; `SuiteDataError` on any bad row."""
    rows = []
    for path in files:
        rows += [_check_row(row, f"{path}: {where}") for where, row in _read_file(path)]
    return rows


# ---------------------------------------------------------------------------------------------
# lm-eval task files for a local copy


def _template(suite: Suite) -> Path:
    """lm-eval's own template of the suite (prompt, choices, target, metric)."""
    tasks_dir = Path(importlib.import_module("lm_eval.tasks").__file__).parent
    path = tasks_dir / suite.template
    if not path.is_file():
        raise SuiteUnavailable(
            f"this lm-eval has no {suite.template} under {tasks_dir}; the local {suite.name} tasks "
            "include lm-eval's own template (present in lm-eval 0.4.13)"
        )
    return path


def _selected(suite: Suite, subjects: list[LocalSubject], task: str, data_dir: Path) -> list[LocalSubject]:
    if task == suite.name:
        return subjects
    chosen = [s for s in subjects if s.task == task]
    if not chosen:
        names = ", ".join(s.task for s in subjects)
        raise ValueError(
            f"with data_dir, {suite.name} task must be {suite.name!r} or one of the subjects in "
            f"{data_dir} ({names}); got {task!r}"
        )
    return chosen


def _local_splits(suite: Suite, sub: LocalSubject, num_fewshot: int) -> dict[str, list[dict]]:
    """The checked rows of a subject's test split, and of its few-shot split if `num_fewshot` > 0."""
    splits = {"test": read_split(sub.test)}
    if not splits["test"]:
        raise SuiteDataError(f"{sub.dir}: the test files hold no rows")
    if num_fewshot:
        if not sub.dev:
            raise SuiteUnavailable(
                f"{sub.dir}: num_fewshot={num_fewshot} needs few-shot examples in "
                f"{suite.fewshot_split}*{{{','.join(FORMATS)}}}; none found (or set num_fewshot=0)"
            )
        shots = splits[suite.fewshot_split] = read_split(sub.dev)
        if len(shots) < num_fewshot:
            raise SuiteDataError(
                f"{sub.dir}: num_fewshot={num_fewshot} but the {suite.fewshot_split} files hold "
                f"{len(shots)} rows"
            )
    return splits


def _write_yaml(path: Path, config: dict) -> None:
    import yaml

    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def write_local_tasks(suite: Suite, cfg: MMLUConfig | WMDPConfig, out: Path) -> Path:
    """Check the local data of `cfg.task` (every row, before anything else), copy it as JSON lines
    under `out` and write lm-eval task files for it: one per subject, plus the group when
    `cfg.task` is the suite. Returns the folder of task files, for `TaskManager(include_path=...)`."""
    data_dir = Path(cfg.data_dir).expanduser()
    chosen = _selected(suite, local_subjects(suite, data_dir), cfg.task, data_dir)
    data = {sub.name: _local_splits(suite, sub, cfg.num_fewshot) for sub in chosen}
    template = _template(suite)
    tasks_dir = out / "tasks"
    tasks_dir.mkdir(parents=True)
    for sub in chosen:
        data_files = {}
        for split, rows in data[sub.name].items():
            path = out / "data" / sub.name / f"{split}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            data_files[split] = str(path)
        task = {
            "include": str(template),
            "task": sub.task,
            "task_alias": sub.name,
            "description": "The following are multiple choice questions (with answers) about "
            f"{suite.about(sub.name)}.\n\n",
            "dataset_path": "json",
            "dataset_name": None,
            # the datasets cache stays in `out`, and goes with it
            "dataset_kwargs": {"data_files": data_files, "cache_dir": str(out / "hf_cache")},
            "test_split": "test",
            "fewshot_split": suite.fewshot_split if suite.fewshot_split in data_files else None,
        }
        _write_yaml(tasks_dir / f"{sub.task}.yaml", task)
    if cfg.task == suite.name:
        group = {
            "group": suite.name,
            "task": [sub.task for sub in chosen],
            "aggregate_metric_list": [{"metric": "acc", "aggregation": "mean", "weight_by_size": True}],
            "metadata": {"version": 1, "data_dir": str(data_dir)},
        }
        _write_yaml(tasks_dir / f"_{suite.name}.yaml", group)
    log.info("%s from %s: %s", suite.name, data_dir, ", ".join(sub.name for sub in chosen))
    return tasks_dir


# ---------------------------------------------------------------------------------------------
# Evaluation


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else repr(err)


def _hub_task_manager(TaskManager, suite: Suite, cfg: MMLUConfig | WMDPConfig):
    """lm-eval's task index with `cfg.task` loaded once, data included, before the model is touched:
    an unreachable hub is then reported as such, and an OSError of the evaluation is not taken for one."""
    task_manager = TaskManager()
    try:
        task_manager.load([cfg.task])
    except KeyError as err:
        raise ValueError(f"lm-eval has no task or group named {cfg.task!r}") from err
    except OSError as err:  # ConnectionError, datasets' DatasetNotFoundError, missing files
        raise SuiteUnavailable(
            f"could not load the data of lm-eval task {cfg.task!r} (dataset {suite.hub} on the Hugging "
            f"Face hub): {_first_line(err)}. The hub is unreachable (or HF_HUB_OFFLINE=1) and no cached "
            "copy exists; run once with network access to fill the datasets cache, or set data_dir "
            "to a local copy"
        ) from err
    return task_manager


def _evaluate(lm_eval, HFLM, task_manager, model, tokenizer, cfg) -> dict[str, float]:
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=cfg.batch_size)
    results = lm_eval.simple_evaluate(
        model=lm,
        tasks=[cfg.task],
        num_fewshot=cfg.num_fewshot,
        limit=cfg.limit,
        task_manager=task_manager,
        log_samples=False,
        bootstrap_iters=0,  # no stderr: we report the point estimate only
    )
    scores = {name: float(r["acc,none"]) for name, r in results["results"].items() if "acc,none" in r}
    if cfg.task not in scores:
        raise RuntimeError(f"lm-eval returned no 'acc' for {cfg.task!r}; it returned {sorted(scores)}")
    return scores


def multiple_choice_scores(model, tokenizer, cfg: MMLUConfig | WMDPConfig) -> dict[str, float]:
    """lm-eval's accuracy of an in-memory model on `cfg.task` and on each of its subtasks and
    subgroups: {'mmlu': 0.41, 'mmlu_anatomy': 0.37, ...}. The suite follows from the config's
    type; `cfg.data_dir` set: from those files only (see the module's docstring)."""
    lm_eval, HFLM, TaskManager = lm_eval_modules()
    suite = suite_of(cfg)
    if cfg.data_dir is None:
        task_manager = _hub_task_manager(TaskManager, suite, cfg)
        return _evaluate(lm_eval, HFLM, task_manager, model, tokenizer, cfg)
    with tempfile.TemporaryDirectory(prefix=f"obliviate-{suite.name}-") as tmp:
        tasks_dir = write_local_tasks(suite, cfg, Path(tmp))
        # only the generated tasks are indexed: lm-eval's own (hub) tasks cannot be reached
        task_manager = TaskManager(include_path=str(tasks_dir), include_defaults=False)
        return _evaluate(lm_eval, HFLM, task_manager, model, tokenizer, cfg)


def multiple_choice_accuracy(model, tokenizer, cfg: MMLUConfig | WMDPConfig) -> float:
    """lm-eval's accuracy of an in-memory model on `cfg.task` (a group: over all its questions)."""
    return multiple_choice_scores(model, tokenizer, cfg)[cfg.task]
