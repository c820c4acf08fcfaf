"""The Python API: the functions the command line calls, importable as `obliviate.<name>`.

    import obliviate as ob

    cfg = ob.run_config("smoke")                      # a preset, with --set style overrides
    bench = ob.load_benchmark(cfg)                    # the synthetic benchmark, or cfg.data
    target = ob.build_target(cfg, bench)              # fine-tuned on forget ∪ retain (cached)
    model = ob.run_unlearning(cfg, bench, "gd")       # -> the unlearned model's directory
    result = ob.evaluate(cfg, bench, model)           # LUME metrics with intervals, per-item audit
    attacked = ob.attack(cfg, bench, model, ["quant4"])
    rows, run_dir = ob.bench(cfg, bench, ["gd", "npo"])
    page = ob.write_report(run_dir)

    done = ob.forget("my-model/", "records.jsonl", "my-model-forgot/")   # your own model, no benchmark

Each function takes typed arguments, reuses what an earlier call built (targets, unlearned models
and passes are cached by content) and raises `ValueError` subclasses with one-line messages on bad
input, as the commands do. (`run_config`, `run_unlearning` and `write_report` are named apart from
the modules `obliviate.config`, `obliviate.unlearn` and `obliviate.report`, which would shadow them.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from obliviate import API
from obliviate.config import RunConfig
from obliviate.data.records import Benchmark
from obliviate.practitioner import ForgetConfig as ForgetConfig  # re-exported: `obliviate.ForgetConfig`
from obliviate.practitioner import ForgetResult as ForgetResult
from obliviate.practitioner import forget as forget


def run_config(preset: str = "smoke", overrides: Sequence[str] = (), **options) -> RunConfig:
    """A run config: the preset, then `section.field=value` overrides, then typed options
    (`model`, `data`, `cache_dir`, `out_dir`).

        >>> run_config("smoke", ["unlearn_train.lr=5e-4"], out_dir="runs").unlearn_train.lr
        0.0005
    """
    from obliviate.presets import resolve_config

    paths = {
        k: Path(v) if k in ("data", "cache_dir", "out_dir") and v is not None else v
        for k, v in options.items()
    }
    return resolve_config(preset, list(overrides), **paths)


def load_benchmark(source: RunConfig | str | Path) -> Benchmark:
    """The benchmark of a run config (its `data` directory, or the seeded synthetic generator), or
    of a directory (LUME files, or your forget.jsonl / retain.jsonl).

        >>> load_benchmark(run_config("smoke")).name
        'synthetic-s0-d1'
    """
    if isinstance(source, RunConfig):
        from obliviate.presets import load_run_benchmark

        return load_run_benchmark(source)
    from obliviate.data import load_benchmark as load_directory

    return load_directory(source)


def build_target(cfg: RunConfig, benchmark: Benchmark, kind: str = "target") -> Path:
    """The model directory of the target (fine-tuned on forget ∪ retain) or, with kind="oracle", of
    the retrain oracle (retain only); built once, then reused.

        >>> build_target(cfg, bench, "oracle")
        PosixPath('.cache/obliviate/targets/oracle-…/model')
    """
    from obliviate.targets import build_target as build

    if kind not in ("target", "oracle"):
        raise ValueError(f"kind must be 'target' or 'oracle', got {kind!r}")
    return build(cfg, benchmark, kind) / "model"


def run_unlearning(cfg: RunConfig, benchmark: Benchmark, method: str = "gd", **settings) -> Path:
    """Unlearn the split's forget set from the (built or cached) target with a method; `settings`
    override the method's config (the preset's tuned values under them). Returns the model directory.

        >>> run_unlearning(cfg, bench, "npo", beta=0.5)
        PosixPath('runs/unlearn/npo-…/model')
    """
    from obliviate.methods import method_config
    from obliviate.targets import build_target as build
    from obliviate.unlearn import unlearn as run

    benchmark.split(cfg.split)  # an unknown split fails before the target is built
    method_cfg = method_config(method, {**cfg.methods.get(method, {}), **settings})
    return run(cfg, method_cfg, build(cfg, benchmark, "target"), benchmark) / "model"


def evaluate(cfg: RunConfig, benchmark: Benchmark, model_dir: str | Path, name: str = "model") -> dict:
    """The full evaluation of a model directory on the run's split (LUME regurgitation and knowledge,
    MIA, utility, final score, each with its interval, and every generation), against the target
    and oracle of `cfg`.

        >>> evaluate(cfg, bench, model)["final"]
        0.61…
    """
    from obliviate.rows import evaluate_row, model_row, prepare_evaluation

    ev = prepare_evaluation(cfg, benchmark)
    return evaluate_row(ev, model_row(ev, name, Path(model_dir)), cfg.split)


def attack(cfg: RunConfig, benchmark: Benchmark, model_dir: str | Path, attacks: Sequence[str]) -> dict:
    """Each named robustness attack on a model directory: attack name -> its forget scores after the
    attack, the model's own before it, and the attacked items.

        >>> attack(cfg, bench, model, ["quant4"])["quant4"]["regurgitation"]
        0.05…
    """
    from obliviate.attacks.run import parse_attacks
    from obliviate.rows import attack_rows, evaluate_row, model_row, prepare_evaluation

    names = parse_attacks(",".join(attacks))
    ev = prepare_evaluation(cfg, benchmark)
    row = model_row(ev, "model", Path(model_dir))
    result = evaluate_row(ev, row, cfg.split)
    return attack_rows(ev, [row], [result], names, cfg.split, None)["model"]


def bench(
    cfg: RunConfig, benchmark: Benchmark, methods: Sequence[str], attacks: Sequence[str] = ()
) -> tuple[list[dict], Path]:
    """Target, oracle and each method evaluated as one leaderboard (best first, with intervals and
    rank ranges) in a keyed run directory; returns (rows, run directory).

        >>> rows, run_dir = bench(cfg, bench, ["gd", "npo"], attacks=["quant4"])
    """
    from obliviate.leaderboard import bench_inference, bench_methods, run_bench

    names = list(methods)
    rows, run = run_bench(
        cfg,
        benchmark,
        bench_methods(cfg, names),
        include_erase="erase" in names,
        attacks=list(attacks),
        inference=bench_inference(cfg, names),
    )
    return rows, run.dir


def write_report(run_dir: str | Path, out: str | Path | None = None, redact_pii: bool = False) -> Path:
    """Write a run's self-contained HTML report (loads no model); returns its path.

    >>> write_report(run_dir)
    PosixPath('runs/bench/…/report.html')
    """
    from obliviate.report import write_report as write

    return write(Path(run_dir), redact_pii=redact_pii, out=Path(out) if out else None)


__all__ = list(API)  # the names `obliviate` exports from here (its `API`)
