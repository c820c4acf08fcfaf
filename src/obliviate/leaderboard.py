"""The main job: reference points (base, target, oracle), a list of methods, one evaluation table.

    benchmark -> target (+ oracle) -> each method -> unlearned model -> evaluation -> leaderboard

Rows `target` and `oracle` are always present (and `base` on request). Each method row is an
unlearned model, with the method's hyperparameters from the run config's `methods` table (tuned by
`obliviate sweep`) under any command-line overrides. On a LoRA target the row `erase` is
LLMEraser's influence-function removal of the forget set (`obliviate.erase`; the run's `erase`
section). The leaderboard is sorted by final score; its columns, headers and arrows come from the
metric table (`eval/metrics/table.py`). Every number carries its bootstrap interval, and each row its
rank range: rows the paired bootstrap cannot tell apart share one ("1–3"; `eval/uncertainty.py`).

A bench writes into its own keyed run directory (`obliviate.runs`): every row's full evaluation as
`eval/<row>.json` (per-item generations and scores, plus the row's cost), the leaderboard as
`leaderboard.json` and `leaderboard.md`, all atomically. Finished pieces (targets, unlearned
models, passes) are reused, so a bench interrupted at method 5 resumes at method 5.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from obliviate.atomic import write_json_atomic, write_text_atomic
from obliviate.config import RunConfig
from obliviate.data.records import Benchmark, forget_requests, require_prompts
from obliviate.eval import uncertainty
from obliviate.eval.metrics.table import (
    COST_COLUMNS,
    HEADLINES,
    METRICS,
    columns_of,
    fmt_cost,
    fmt_metric,
    fmt_rank,
    seeds_table,
)
from obliviate.eval.protocols import protocol_of
from obliviate.inference import INFERENCE_NAMES, InferenceConfig, inference_config
from obliviate.methods import MethodConfig, method_config
from obliviate.rows import (
    ERASE_NEEDS_LORA,
    ERASE_ROW,
    REFERENCE_ROWS,
    Evaluation,
    Row,
    attack_rows,
    attack_workers,
    erase_row,
    evaluate_rows,
    inference_row,
    method_row,
    prepare_evaluation,
    reference_rows,
    request_rows,
)
from obliviate.runs import Run, finish_run, start_run


def bench_methods(cfg: RunConfig, names: list[str], overrides: dict | None = None) -> list[MethodConfig]:
    """Configs of the named unlearning methods: the run's `methods` table, then `overrides` (every
    method). Inference-time methods among the names are `bench_inference`'s."""
    if ERASE_ROW in names and cfg.target_params.mode != "lora":
        raise ValueError(ERASE_NEEDS_LORA)
    skip = (*REFERENCE_ROWS, ERASE_ROW, *INFERENCE_NAMES)  # target, oracle: always rows
    return [method_config(n, {**cfg.methods.get(n, {}), **(overrides or {})}) for n in names if n not in skip]


def bench_inference(cfg: RunConfig, names: list[str]) -> list[InferenceConfig]:
    """Configs of the named inference-time methods, from the run's `inference` table."""
    chosen = [n for n in names if n in INFERENCE_NAMES]
    rewritten = [n for n in chosen if n in ("uld", "icul", "prompt")]
    if rewritten and cfg.eval.utility.kind == "mmlu":  # lm-eval scores a plain model's own logits
        raise ValueError(
            f"eval.utility.kind=mmlu needs a plain model; {', '.join(rewritten)} serve other logits "
            "or prompts (use eval.utility.kind=offline)"
        )
    return [inference_config(n, cfg.inference.get(n, {})) for n in chosen]


def summary_row(result: dict) -> dict:
    """A leaderboard row of a full result: its protocol's metrics with their intervals, utility kind,
    evaluation time and cost."""
    columns = protocol_of(result).COLUMNS
    return {
        "row": result["name"],
        "protocol": result.get("protocol", "lume"),
        **{c: result.get(c) for c in columns},
        "intervals": {c: result["intervals"][c] for c in columns if c in result.get("intervals", {})},
        "utility_kind": result.get("utility/kind"),
        "eval_seconds": result["timings"]["total_s"],
        **(result.get("cost") or {}),
    }


def sort_rows(rows: list[dict]) -> list[dict]:
    """Best headline score first (LUME: final; rows without one last, in their order); a protocol
    without a headline (TOFU, MUSE) keeps the rows' order."""
    headline = HEADLINES[rows[0].get("protocol", "lume")] if rows else None
    if headline is None:
        return rows
    return sorted(rows, key=lambda r: -(r[headline] if r[headline] is not None else float("-inf")))


def run_leaderboard(
    cfg: RunConfig,
    command: str,
    benchmark: Benchmark,
    inputs: dict,
    make_rows: Callable[[Evaluation], list[Row]],
    sort: bool = True,
    attacks: Sequence[str] = (),
    seed_groups: Mapping[str, Sequence[str]] | None = None,
    points: Mapping[str, Path] | None = None,
) -> tuple[list[dict], Run]:
    """The evaluation of a command's rows in its keyed run directory: every row's result as
    `eval/<row>.json`, the table (best first when `sort`) as `leaderboard.json` / `.md`, and the
    outcome in `run.json`. With `attacks`, every row is then attacked (`attacks/<row>.json`) and the
    leaderboard gains its robustness section; with `seed_groups` (method -> its rows, one per seed),
    a seeds section; `points` replaces the built base / target / oracle (`prepare_evaluation`).
    Returns the table and the run."""
    start = time.perf_counter()
    require_prompts(benchmark, cfg.split)  # before any training: evaluation reads the split's prompts
    if attacks and benchmark.protocol != "lume":
        raise ValueError(
            f"the robustness attacks re-score LUME's forget prompts; on the {benchmark.protocol} protocol "
            "they are not built yet (run without --attacks)"
        )
    run = start_run(cfg, command, benchmark, inputs)
    ev = prepare_evaluation(cfg, benchmark, dict(points) if points is not None else None)
    rows = make_rows(ev)
    results = evaluate_rows(ev, rows, cfg.split, run.dir)
    ranks = uncertainty.rank_rows(results, cfg.eval.bootstrap)
    table = [{**summary_row(r), "rank": ranks.get(r["name"]), "model": r["subject"]} for r in results]
    table = sort_rows(table) if sort else table
    board = {
        "benchmark": benchmark.name,
        "protocol": benchmark.protocol,
        "split": cfg.split,
        "bootstrap": cfg.eval.bootstrap.model_dump(),
        "rows": table,
    }
    text = markdown_table(table) + "\n"
    if seed_groups:
        by_name = {r["name"]: r for r in results}
        board["seeds"] = {
            method: uncertainty.seed_summary([by_name[n] for n in names], cfg.eval.bootstrap)
            for method, names in seed_groups.items()
        }
        text += "\n## Seeds\n\n" + seeds_markdown(board["seeds"], cfg.eval.bootstrap.level) + "\n"
    if attacks:
        from obliviate.attacks import report

        attack_start = time.perf_counter()
        workers = attack_workers(ev, len(rows))
        outcomes = attack_rows(ev, rows, results, list(attacks), cfg.split, run.dir, workers)
        section = report.robustness(
            outcomes, {r["name"]: r["items"]["forget"] for r in results}, cfg.attacks.relearn.recover
        )
        wall = round(time.perf_counter() - attack_start, 2)
        board["robustness"] = {**section, "attack_seconds": wall, "attack_workers": workers}
        text += "\n## Robustness\n\n" + report.markdown(section) + "\n"
    wall = round(time.perf_counter() - start, 2)
    board["wall_seconds"] = wall
    write_json_atomic(run.dir / "leaderboard.json", board)
    write_text_atomic(run.dir / "leaderboard.md", text)
    outcome = {
        "rows": [r["row"] for r in table],
        "best_row": table[0]["row"] if sort and table and HEADLINES[benchmark.protocol] else None,
        "model_fingerprints": {r["name"]: r["model_fingerprint"] for r in results},
        "wall_seconds": wall,
    }
    finish_run(run, outcome)
    return table, run


def run_bench(
    cfg: RunConfig,
    benchmark: Benchmark,
    methods: list[MethodConfig],
    include_base: bool = False,
    include_erase: bool = False,
    method_overrides: dict | None = None,
    attacks: Sequence[str] = (),
    seeds: int = 1,
    inference: Sequence[InferenceConfig] = (),
    seed_targets: bool = False,
    scale: int = 0,
    sequential: int = 0,
) -> tuple[list[dict], Run]:
    """Reference points, each method (and `erase`), each inference-time method over the target,
    every model evaluated; returns the leaderboard rows, best first, and the run they were written
    to. With `seeds` > 1 each method also runs with the next seeds-1 values of
    `unlearn_train.seed`, as rows `<method>-seed<k>` on the same target; with `seed_targets`, the
    target and oracle are rebuilt with each seed too (`target_train.seed` + k: rows
    `target-seed<k>`, `oracle-seed<k>`), and each method's seed-k run starts from the seed-k target.
    With `scale` N, each method also unlearns nested forget sets of growing size (rows
    `<method>-scale<i>`, i of N); with `sequential` K, the forget set's K chunks one after another
    (rows `<method>-step<k>`), every row evaluated on the whole split (`rows.request_rows`)."""
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    if seeds > 1 and HEADLINES[benchmark.protocol] is None:
        raise ValueError(
            f"--seeds summarises one score per seed; the {benchmark.protocol} protocol has none "
            "(run each seed as its own bench with --set unlearn_train.seed=K)"
        )
    if seed_targets and seeds < 2:
        raise ValueError(
            "--seed-targets rebuilds the target and oracle with each seed: give --seeds 2 or more"
        )
    for count, nested in ((scale, True), (sequential, False)):
        if count:  # a request count the forget set cannot meet fails before any training
            forget_requests(benchmark, cfg.split, count, nested)
    refs = ("target", "oracle") if seed_targets else ()
    seed_groups = {
        name: [name, *(f"{name}-seed{k}" for k in range(1, seeds))]
        for name in (*refs, *(m.name for m in methods))
    }
    names = [*(["base"] if include_base else []), "target", "oracle"]
    names += [row for m in methods for row in seed_groups[m.name][:1]]
    for k in range(1, seeds):
        names += [f"{r}-seed{k}" for r in refs] + [seed_groups[m.name][k] for m in methods]
    names += [f"{m.name}-scale{i}" for m in methods for i in range(1, scale + 1)]
    names += [f"{m.name}-step{k}" for m in methods for k in range(1, sequential + 1)]
    names += [ERASE_ROW] if include_erase else []
    names += [m.name for m in inference]
    inputs = {
        "rows": names,
        "methods": {m.name: m.model_dump() for m in methods},
        "method_overrides": method_overrides or {},
        "erase": cfg.erase.model_dump() if include_erase else None,
        **({"attacks": list(attacks)} if attacks else {}),  # runs without attacks keep their keys
        **({"seeds": seeds} if seeds > 1 else {}),
        **({"seed_targets": True} if seed_targets else {}),
        **({"scale": scale} if scale else {}),
        **({"sequential": sequential} if sequential else {}),
        **({"inference": {m.name: m.model_dump() for m in inference}} if inference else {}),
    }
    first_seed = cfg.unlearn_train.seed

    def make_rows(ev: Evaluation) -> list[Row]:
        rows = reference_rows(ev, tuple(n for n in names if n in REFERENCE_ROWS))
        rows += [method_row(ev, method, cfg.split) for method in methods]
        for k in range(1, seeds):
            points = seeded_points(cfg, benchmark, k) if seed_targets else None
            rows += reference_rows(ev, refs, points, f"-seed{k}") if points else []
            target = (lambda p=points: p()["target"]) if points else None
            for method in methods:
                rows.append(
                    method_row(ev, method, cfg.split, seed_groups[method.name][k], first_seed + k, target)
                )
        for method in methods:
            rows += request_rows(ev, method, cfg.split, scale, nested=True) if scale else []
            rows += request_rows(ev, method, cfg.split, sequential, nested=False) if sequential else []
        rows += [erase_row(ev, cfg.split)] if include_erase else []
        return rows + [inference_row(ev, m, cfg.split) for m in inference]

    groups = seed_groups if seeds > 1 else None
    return run_leaderboard(cfg, "bench", benchmark, inputs, make_rows, attacks=attacks, seed_groups=groups)


def seeded_points(cfg: RunConfig, benchmark: Benchmark, k: int) -> Callable[[], dict[str, Path]]:
    """The reference points of the target and oracle trained with `target_train.seed` + k, built
    (or reused) on first call."""
    from obliviate.rows import reference_points

    seeded = cfg.model_copy(
        update={"target_train": cfg.target_train.model_copy(update={"seed": cfg.target_train.seed + k})}
    )
    built: dict[str, Path] = {}

    def points() -> dict[str, Path]:
        if not built:
            built.update(reference_points(seeded, benchmark))
        return built

    return points


def seeds_markdown(summaries: Mapping[str, dict], level: float) -> str:
    """The seeds table in Markdown (`table.seeds_table`)."""
    header, rows = seeds_table(dict(summaries), level)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows])


def markdown_table(rows: list[dict]) -> str:
    """The leaderboard in Markdown: rank range, model, every metric with its interval, the costs."""
    columns = columns_of(rows)
    header = ["rank", "model", *(METRICS[c].column for c in columns), *COST_COLUMNS.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [
            fmt_rank(r),
            r["row"],
            *(fmt_metric(r, c) for c in columns),
            *(fmt_cost(c, r.get(c)) for c in COST_COLUMNS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
