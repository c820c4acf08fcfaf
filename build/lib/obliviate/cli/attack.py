"""`obliviate attack`: robustness attacks on methods' rows or model directories, beside the target and
oracle under the same attacks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from obliviate.cli import RunOptions, print_sections, print_table, run_command
from obliviate.cli.bench import ATTACKS_HELP


@run_command()
def attack(
    run: RunOptions,
    attacks: Annotated[str, typer.Option(help=ATTACKS_HELP)],
    methods: Annotated[
        str, typer.Option(help="comma-separated methods (unlearning or inference-time) whose rows to attack")
    ] = "",
    model_dir: Annotated[list[Path] | None, typer.Option(help="also attack these model directories")] = None,
):
    """Attack rows (methods, model directories), the target and the oracle alike; print the forget
    scores after each attack, the fraction of the target's restored and the excess over the oracle."""
    from obliviate.attacks.run import parse_attacks
    from obliviate.cli.evaluate import row_name
    from obliviate.leaderboard import bench_inference, bench_methods, run_leaderboard
    from obliviate.presets import load_run_benchmark
    from obliviate.rows import inference_row, method_row, model_row, reference_rows

    names = parse_attacks(attacks)
    cfg, method_overrides = run.config()
    method_names = [m.strip() for m in methods.split(",") if m.strip()]
    method_cfgs = bench_methods(cfg, method_names, method_overrides)
    inference_cfgs = bench_inference(cfg, method_names)
    extra = [Path(p) for p in model_dir or []]
    for path in extra:  # a bad path fails before any training
        if not (path / "config.json").is_file():
            raise ValueError(f"{path}: not a model directory (no config.json)")
    benchmark = load_run_benchmark(cfg)
    inputs = {
        "methods": {m.name: m.model_dump() for m in method_cfgs},
        "model_dirs": [str(p) for p in extra],
        "attacks": names,
        **({"inference": {m.name: m.model_dump() for m in inference_cfgs}} if inference_cfgs else {}),
    }

    def make_rows(ev):
        rows = reference_rows(ev) + [method_row(ev, m, cfg.split) for m in method_cfgs]
        rows += [inference_row(ev, m, cfg.split) for m in inference_cfgs]
        return rows + [model_row(ev, row_name(path), path) for path in extra]

    table, written = run_leaderboard(cfg, "attack", benchmark, inputs, make_rows, attacks=names)
    print_table(f"{benchmark.name} · split {cfg.split} · {cfg.model.name}", table)
    print_sections(written.dir)
    print(f"results: {written.dir}")
