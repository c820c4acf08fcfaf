"""`obliviate runs`: the runs in an output directory, newest first, one line each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from obliviate.cli import _guard, app


@app.command()
def runs(
    out_dir: Annotated[Path, typer.Option(help="output directory whose runs are listed")] = Path("runs"),
):
    """List the runs written under --out-dir (command, benchmark, split, rows, best row, when)."""
    from obliviate.runs import list_runs

    def run():
        if not out_dir.is_dir():
            raise ValueError(f"{out_dir}: no such directory")
        found = list_runs(out_dir)
        if not found:
            print(f"no runs under {out_dir}")
            return
        for r in found:
            rows = r.get("rows") or r.get("inputs", {}).get("rows") or []
            when = (r.get("finished") or r.get("started") or "-").replace("T", " ")
            best = f"best {r['best_row']}" if r.get("best_row") else "-"
            shown = ",".join(rows[:8]) + (",…" if len(rows) > 8 else "")
            fields = (
                when,
                r["command"],
                r.get("benchmark", "-"),
                r.get("split", "-"),
                f"{len(rows)} rows ({shown})",
            )
            print("  ".join((*fields, best, r.get("status", "-"), r["dir"])))

    _guard(run)
