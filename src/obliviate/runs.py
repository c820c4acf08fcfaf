"""Keyed runs: every command that evaluates writes into its own directory, named after what
produced it, with the provenance to reproduce it.

    run = start_run(cfg, "bench", benchmark, {"rows": [...], "methods": {...}})
    # -> <out_dir>/bench/<benchmark>-<split>-<key>/run.json  (eval/<row>.json, leaderboard.* beside it)
    finish_run(run, {"rows": [...], "best_row": "undial"})
    list_runs(Path("runs"))                                    # newest first

The key hashes the command, the benchmark's fingerprint, the split, the resolved config (less
where results and caches are written and how progress is shown) and the command's own inputs (rows,
method settings), so a bench on the validation split never overwrites the test split's, and the
same command run twice writes the same directory. `run.json` records the resolved config, the
method settings with every `--set method.*` override, the library versions, the toolkit's git
commit when it runs from a checkout, and the model and data fingerprints.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from obliviate.atomic import write_json_atomic
from obliviate.config import RunConfig
from obliviate.data.records import Benchmark
from obliviate.eval.evaluate import versions
from obliviate.keys import content_key

RUN_FILE = "run.json"


@dataclass
class Run:
    dir: Path
    info: dict

    def write(self) -> None:
        write_json_atomic(self.dir / RUN_FILE, self.info)


def config_key_fields(cfg: RunConfig) -> dict:
    """The config as it enters a run key: without output places, progress bars, trackers, the
    attacks' worker count and the table of inference-time settings (what a bench's rows use of it
    is in its inputs)."""
    data = cfg.model_dump(mode="json", exclude={"out_dir", "cache_dir", "log"})
    for section in ("target_train", "unlearn_train"):
        data[section].pop("progress", None)
    data.pop("inference")  # the configs of a bench's inference-time rows are among its inputs
    data["attacks"].pop("workers")  # how many rows are attacked at once changes no result
    return data


def path_safe(name: str) -> str:
    """A benchmark name as one directory name: `lume:lume[3/task]` -> `lume_lume_3_task_` (a subset's
    name holds a slash, which would nest the run one level deeper)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def git_commit() -> str | None:
    """The toolkit's commit (with `-dirty` when its files differ from it) when it runs from a git
    checkout; None for an installed package."""
    source = Path(__file__).resolve().parent
    try:

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", *args], cwd=source, capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()

        top = Path(git("rev-parse", "--show-toplevel"))
        if not (top / "src" / "obliviate").resolve() == source:
            return None  # some other repository that happens to contain an install
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src")
        return git("rev-parse", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def start_run(
    cfg: RunConfig, command: str, benchmark: Benchmark, inputs: dict, split: str | None = None
) -> Run:
    """Create (or reuse) the run's directory and write its provenance; `inputs` are the command's
    own (rows, method settings, grid...) and enter the key."""
    split = split or cfg.split
    key = content_key(
        {
            "command": command,
            "benchmark": benchmark.fingerprint(),
            **({"scored": benchmark.scoring_fingerprint()} if benchmark.protocol != "lume" else {}),
            "split": split,
            "config": config_key_fields(cfg),
            "inputs": inputs,
        }
    )
    run_dir = cfg.out_dir / command / f"{path_safe(benchmark.name)}-{split}-{key}"
    info = {
        "command": command,
        "argv": sys.argv,
        "key": key,
        "benchmark": benchmark.name,
        "benchmark_fingerprint": benchmark.fingerprint(),
        "split": split,
        "inputs": inputs,
        "config": cfg.model_dump(mode="json"),
        "versions": versions(),
        "git_commit": git_commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "started_unix": time.time(),
        "status": "running",
    }
    run = Run(run_dir, info)
    run.write()
    return run


def finish_run(run: Run, fields: dict) -> None:
    """Record the outcome (rows, best row, fingerprints, wall time) and mark the run complete."""
    run.info.update(fields, status="complete", finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    run.write()


def list_runs(out_dir: Path) -> list[dict]:
    """Every run under `out_dir` (its `run.json` plus its directory), newest first."""
    runs = []
    for path in Path(out_dir).glob(f"*/*/{RUN_FILE}"):
        try:
            info = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a run.json being written by another process, or not ours
        if not isinstance(info, dict) or "command" not in info:
            continue
        runs.append({**info, "dir": str(path.parent)})
    runs.sort(key=lambda r: r.get("started_unix", 0.0), reverse=True)
    return runs
