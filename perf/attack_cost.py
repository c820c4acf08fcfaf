"""Cost of each robustness attack, read from a finished `bench --attacks` / `attack` run directory.

Every row's `attacks/<row>.json` records each attack's wall seconds (training, quantizing and the
evaluation of the attacked subject); `eval/<row>.json` the row's main evaluation. The figures are
those of the run as it ran: a rerun over cached attacked models and passes costs almost nothing,
so measure on an empty cache (`--cache-dir` of its own). With several workers (`attacks.workers`)
rows are attacked side by side on one thread each, so an attack's seconds are a worker's, longer
than alone, and they overlap: the section's wall is the figure to compare.

    python perf/attack_cost.py runs/bench/<run>   # per attack: median and total seconds over rows,
                                                  # and the median seconds of fine-tuning within them
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    files = sorted((args.run_dir / "attacks").glob("*.json"))
    if not files:
        raise SystemExit(f"{args.run_dir}: no attacks/<row>.json (run bench with --attacks)")
    seconds: dict[str, list[float]] = {}
    # Fine-tuning within an attack's seconds: a relearning run shared by two attacks (relearn and
    # relearn-speed) is recorded by both, and counted for the first that ran, which trained it.
    training: dict[str, list[float]] = {}
    for path in files:
        counted = set()
        for name, outcome in json.loads(path.read_text()).items():  # in the order they ran
            seconds.setdefault(name, []).append(outcome["seconds"])
            runs = {(t["steps"], t["seconds"], tuple(t["losses"])) for t in outcome.get("training", [])}
            training.setdefault(name, []).append(sum(run[1] for run in runs - counted))
            counted |= runs
    evals = [
        json.loads((args.run_dir / "eval" / p.name).read_text())["timings"]["total_s"]
        for p in files
        if (args.run_dir / "eval" / p.name).is_file()
    ]
    print(f"{len(files)} rows; main evaluation: median {statistics.median(evals):.1f} s a row")
    print(f"{'attack':<18}{'median s/row':>14}{'of which training':>19}{'total s':>10}{'x main eval':>13}")
    for name, values in seconds.items():
        ratio = statistics.median(values) / statistics.median(evals) if evals else float("nan")
        trained = statistics.median(training[name])
        print(
            f"{name:<18}{statistics.median(values):>14.1f}{trained:>19.1f}{sum(values):>10.1f}{ratio:>13.2f}"
        )
    total = sum(sum(v) for v in seconds.values())
    board = json.loads((args.run_dir / "leaderboard.json").read_text())
    section = board.get("robustness", {})
    workers = section.get("attack_workers", 1)
    print(f"all attacks: {total:.0f} s ({total / 60:.1f} min) of worker time, on {workers} worker(s)")
    if "attack_seconds" in section:
        wall = section["attack_seconds"]
        print(
            f"the attack section: {wall:.0f} s ({wall / 60:.1f} min) wall of the run's "
            f"{board['wall_seconds'] / 60:.1f} min; {wall / len(files):.0f} s a row"
        )


if __name__ == "__main__":
    main()
