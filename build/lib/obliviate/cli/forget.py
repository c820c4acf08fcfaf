"""`obliviate forget`: remove records from your own model, verified, with a model card."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from obliviate.cli import RunOptions, _guard, app, console


@app.command("forget")
def forget_command(
    model: Annotated[str, typer.Option(help="your model: a directory, a HF id, or smollm2-135m")],
    forget: Annotated[
        Path, typer.Option(help="records to remove: JSONL (documents, QA pairs, strings) or .txt")
    ],
    output: Annotated[Path, typer.Option(help="new directory for the model, report and model card")],
    adapter: Annotated[Path | None, typer.Option(help="a LoRA adapter of --model, merged first")] = None,
    retain: Annotated[
        Path | None, typer.Option(help="records to keep (default: the model's own general answers)")
    ] = None,
    look_alikes: Annotated[
        Path | None,
        typer.Option(help="never-trained texts like the records (default: records with entities replaced)"),
    ] = None,
    preset: Annotated[str, typer.Option(help="run settings to start from: default | smoke")] = "default",
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="override, e.g. forget.steps=60, method.retain_weight=2")
    ] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="cache of models and passes")] = None,
    out_dir: Annotated[Path | None, typer.Option(help="where the run's evaluation is kept")] = None,
):
    """Remove the records of --forget from --model; verify (before / after, attacks, utility,
    membership test) and write the model, report.html and a model card (README.md) to --output."""

    def run():
        from pydantic import ValidationError

        from obliviate.config import parse_override
        from obliviate.practitioner import FORGET_EVAL, ForgetConfig
        from obliviate.practitioner import forget as run_forget

        forget_settings, rest = {}, []
        for text in overrides or []:
            if text.startswith("forget."):
                path, value = parse_override(text)
                forget_settings[path[1]] = value
            else:
                rest.append(text)
        try:
            settings = ForgetConfig(**forget_settings)
        except ValidationError as err:  # named as the user wrote it: forget.<field>
            first = err.errors()[0]
            raise ValueError(f"forget.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        options = RunOptions(preset, model, None, [*FORGET_EVAL, *rest], cache_dir, out_dir)
        cfg, method_overrides = options.config()
        result = run_forget(
            model,
            forget,
            output,
            adapter=adapter,
            retain_file=retain,
            look_alikes_file=look_alikes,
            settings=settings,
            cfg=cfg,
            method_overrides=method_overrides,
            log=lambda line: console.print(line, highlight=False, soft_wrap=True),
        )
        print_verification(result.verification)
        print(f"model: {result.out / 'model'}")
        print(f"report: {result.out / 'report.html'}")
        print(f"model card: {result.out / 'README.md'}")

    _guard(run)


def print_verification(v: dict) -> None:
    """The per-record verdicts and the summary table, as the model card states them."""
    from rich.table import Table

    from obliviate.cli import print_wide
    from obliviate.practitioner.card import number

    records = Table(title="records")
    for col in ("record", "recall before", "after", *v["attacks"], "verdict"):
        records.add_column(col, justify="left" if col in ("record", "verdict") else "right")
    for doc_id, r in v["records"].items():
        cells = [f"{r['before'] or 0:.2f}", f"{r['after'] or 0:.2f}"]
        cells += [f"{r['attacks'][a]:.2f}" if a in r["attacks"] else "-" for a in v["attacks"]]
        records.add_row(doc_id, *cells, r["verdict"])
    print_wide(records)
    summary = Table(title="verification (95% intervals)")
    for col in ("measure", "before", "after"):
        summary.add_column(col)
    forget, retain = v["forget"], v["retain"]
    summary.add_row(
        "records produced", number(forget.get("produced/before")), number(forget.get("produced/after"))
    )
    summary.add_row("record recall", number(forget.get("recall/before")), number(forget.get("recall/after")))
    for key, label in (
        ("your_records", "your retain records kept"),
        ("held_out_answers", "held-out answers kept"),
    ):
        if retain.get(key):
            summary.add_row(label, number(retain[key]["before"]), number(retain[key]["after"]))
    summary.add_row(
        f"utility ({v['utility']['kind']})", number(v["utility"]["before"]), number(v["utility"]["after"])
    )
    summary.add_row(
        "membership AUC vs look-alikes", number(v["mia_auc"]["before"]), number(v["mia_auc"]["after"])
    )
    print_wide(summary)
    if retain["kept"] is not None:
        print(f"retain check: {'passed' if retain['kept'] else 'FAILED'} (tolerance {retain['tolerance']})")
