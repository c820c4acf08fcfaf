"""`obliviate report RUN_DIR`: the run's self-contained HTML page, from its saved results only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from obliviate.cli import _guard, app


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="a finished run directory (it holds leaderboard.json)")],
    out: Annotated[
        Path | None, typer.Option(help="where to write the page (default RUN_DIR/report.html)")
    ] = None,
    redact_pii: Annotated[
        bool, typer.Option(help="mask e-mail addresses, SSNs, phone numbers and dates in the audit")
    ] = False,
):
    """Write the run's report: leaderboard with intervals, figures, robustness and the per-item audit."""
    from obliviate.report import write_report

    _guard(lambda: print(f"report: {write_report(run_dir, redact_pii, out)}"))
