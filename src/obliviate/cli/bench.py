"""`obliviate bench`: target, oracle and each method on one benchmark, evaluated as one table."""

from __future__ import annotations

from typing import Annotated

import typer

from obliviate.cli import RunOptions, method_names, print_sections, print_table, run_command

METHODS_HELP = (
    f"comma-separated methods ({', '.join(method_names())}; erase on a LoRA target; inference-time: "
    "uld, icul, guardrail, prompt), or 'all' (every unlearning method)"
)
ATTACKS_HELP = (
    "comma-separated robustness attacks run on every row, target and oracle included "
    "(quant8, quant4, q8_0, q4_0, nf4, fp4, int8, relearn, relearn-related, relearn-speed, probes, sample)"
)


@run_command()
def bench(
    run: RunOptions,
    methods: Annotated[str, typer.Option(help=METHODS_HELP)] = "all",
    base: Annotated[bool, typer.Option(help="also evaluate the base model as a row")] = False,
    attacks: Annotated[str | None, typer.Option(help=ATTACKS_HELP)] = None,
    seeds: Annotated[int, typer.Option(help="run each method with this many seeds on the same target")] = 1,
    report: Annotated[bool, typer.Option(help="write the run's HTML report (obliviate report)")] = True,
    seed_targets: Annotated[
        bool,
        typer.Option(
            help="with --seeds: rebuild target and oracle with each seed too (target_train.seed + k)"
        ),
    ] = False,
    scale: Annotated[
        int,
        typer.Option(
            help="also unlearn N nested forget sets of growing size (the first i/N of the forget "
            "documents; MUSE's scalability): rows <method>-scale<i>"
        ),
    ] = 0,
    sequential: Annotated[
        int,
        typer.Option(
            help="also unlearn the forget set in K chunks one after another, each from the previous "
            "model (MUSE's sustainability): rows <method>-step<k>, each evaluated on the whole split"
        ),
    ] = 0,
):
    """Base, target, oracle and each method on one benchmark, evaluated and printed as one table."""
    from obliviate.attacks.run import parse_attacks
    from obliviate.leaderboard import bench_inference, bench_methods, run_bench
    from obliviate.presets import load_run_benchmark
    from obliviate.rows import ERASE_ROW

    attack_names = parse_attacks(attacks) if attacks else []
    cfg, method_overrides = run.config()
    if methods == "all":
        from obliviate.methods import METHODS

        names = [*METHODS, *([ERASE_ROW] if cfg.target_params.mode == "lora" else [])]
    else:
        names = [m.strip() for m in methods.split(",") if m.strip()]
    method_cfgs = bench_methods(cfg, names, method_overrides)
    inference_cfgs = bench_inference(cfg, names)
    benchmark = load_run_benchmark(cfg)
    rows, written = run_bench(
        cfg,
        benchmark,
        method_cfgs,
        include_base=base,
        include_erase=ERASE_ROW in names,
        method_overrides=method_overrides,
        attacks=attack_names,
        seeds=seeds,
        inference=inference_cfgs,
        seed_targets=seed_targets,
        scale=scale,
        sequential=sequential,
    )
    print_table(f"{benchmark.name} · split {cfg.split} · {cfg.model.name}", rows)
    print_sections(written.dir)
    print(f"results: {written.dir}")
    if report:
        from obliviate.report import write_report

        print(f"report: {write_report(written.dir)}")
