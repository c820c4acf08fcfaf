"""One self-contained HTML page per run, built from its saved results only (no model is loaded).

    path = write_report(Path("runs/bench/<run>"), redact_pii=False)   # -> <run>/report.html

The page holds the leaderboard with intervals and rank ranges, the figures (`figures.py`, inline
SVG), the robustness section when attacks ran, and the per-item audit (`audit.py`). It loads
nothing from the network: no scripts, styles or fonts outside the file; the few lines of script
only sort and filter the audit table, which reads in full without them (and when printed).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from obliviate.atomic import write_text_atomic
from obliviate.eval import uncertainty
from obliviate.eval.config import BootstrapConfig
from obliviate.eval.metrics.table import (
    COST_COLUMNS,
    METRICS,
    columns_of,
    fmt,
    fmt_cost,
    fmt_rank,
    seeds_table,
)
from obliviate.report import audit, figures

REPORT_FILE = "report.html"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable JSON file ({err})") from err


def load_run(run_dir: Path) -> tuple[dict, dict[str, dict], dict]:
    """(leaderboard, results by row in leaderboard order, run info) of a run directory, with the
    intervals and rank ranges of runs saved before they were computed filled in."""
    run_dir = Path(run_dir)
    board_file = run_dir / "leaderboard.json"
    if not board_file.is_file():
        raise ValueError(f"{run_dir}: not a finished run directory (no leaderboard.json)")
    board = _read_json(board_file)
    results = {}
    for row in board.get("rows", []):
        path = run_dir / "eval" / f"{row['row']}.json"
        if not path.is_file():
            raise ValueError(f"{path}: missing; the leaderboard names row {row['row']!r}")
        results[row["row"]] = _read_json(path)
    info = _read_json(run_dir / "run.json") if (run_dir / "run.json").is_file() else {}
    cfg = BootstrapConfig(**board.get("bootstrap", {}))
    if results and any(not r.get("intervals") for r in board["rows"]):
        ranks = uncertainty.rank_rows(list(results.values()), cfg)
        for row in board["rows"]:
            draws = uncertainty.bootstrap_draws(results[row["row"]], cfg)
            row["intervals"] = {
                k: v
                for k, v in uncertainty.intervals(draws, cfg.level).items()
                if k in columns_of(board["rows"])
            }
            row["rank"] = ranks.get(row["row"])
        board["bootstrap"] = cfg.model_dump()
    return board, results, info


def _cell(row: dict, key: str) -> str:
    value, interval = row.get(key), (row.get("intervals") or {}).get(key)
    if value is None:
        return "<td>-</td>"
    text = fmt(value)
    if interval and isinstance(value, float):
        text += f' <span class="ci">[{interval[0]:.3f}, {interval[1]:.3f}]</span>'
    return f'<td data-value="{value}">{text}</td>'


def leaderboard_html(board: dict) -> str:
    columns = columns_of(board["rows"])
    head = [
        "rank",
        "model",
        *(METRICS[c].column for c in columns),
        "utility kind",
        *COST_COLUMNS.values(),
    ]
    titles = [
        "rows that share a range cannot be told apart",
        "",
        *(METRICS[c].description for c in columns),
    ]
    titles += [""] * (len(head) - len(titles))
    lines = ["<table class='board'><thead><tr>"]
    lines += [
        f'<th title="{html.escape(t)}">{html.escape(h)}</th>' for h, t in zip(head, titles, strict=True)
    ]
    lines.append("</tr></thead><tbody>")
    for row in board["rows"]:
        cells = [f"<td>{html.escape(fmt_rank(row))}</td>", f"<th scope='row'>{html.escape(row['row'])}</th>"]
        cells += [_cell(row, c) for c in columns]
        cells.append(f"<td>{html.escape(str(row.get('utility_kind') or '-'))}</td>")
        cells += [f"<td>{html.escape(fmt_cost(c, row.get(c)))}</td>" for c in COST_COLUMNS]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


def seeds_html(summaries: dict | None, level: float) -> str:
    """The seeds table (`table.seeds_table`), when the bench ran several seeds."""
    if not summaries:
        return ""
    header, rows = seeds_table(summaries, level)
    lines = ["<h3 id='seeds'>Seeds</h3><table class='board'><thead><tr>"]
    lines += [f"<th>{html.escape(h)}</th>" for h in header]
    lines.append("</tr></thead><tbody>")
    for cells in rows:
        lines.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


def robustness_html(section: dict) -> str:
    def num(value):
        return "-" if value is None else f"{value:.3f}"

    head = ["row", "attack", "held out"]
    for metric in ("regurgitation", "knowledge"):
        head += [f"{metric} before", f"{metric} after", "restored", "excess over oracle"]
    lines = ["<table class='attacks sortable'><thead><tr>"]
    lines += [f"<th>{html.escape(h)}</th>" for h in head]
    lines.append("</tr></thead><tbody>")
    for e in section.get("attacks", []):
        cells = [html.escape(e["row"]), html.escape(e["attack"]), "yes" if e.get("held_out") else "no"]
        for metric in ("regurgitation", "knowledge"):
            cells += [
                num(e.get(f"unattacked/{metric}")),
                num(e.get(metric)),
                num(e.get(f"restored/{metric}")),
                num(e.get(f"excess/{metric}")),
            ]
        lines.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


def audit_html(entries: list[dict], rows: list[str]) -> str:
    def options(name: str, values) -> str:
        opts = "".join(f'<option value="{html.escape(v)}">{html.escape(v)}</option>' for v in values)
        return (
            f'<label>{name} <select data-filter="{name}"><option value="">all</option>{opts}</select></label>'
        )

    filters = [
        options("side", dict.fromkeys(e["side"] for e in entries)),
        options("task", sorted({e["task"] for e in entries})),
        options("row", rows),
        options("kind", sorted({e["kind"] for e in entries})),
        '<label>text <input type="search" data-filter="text" placeholder="search the texts"></label>',
    ]
    head = ["side", "task", "id", "row", "score", "prompt", "reference", "generation"]
    lines = [
        f"<div class='filters'>{''.join(filters)}</div>",
        "<table id='audit' class='audit sortable'><thead><tr>",
    ]
    lines += [f"<th>{h}</th>" for h in head]
    lines.append("</tr></thead><tbody>")
    for e in entries:
        attrs = " ".join(f'data-{k}="{html.escape(e[k])}"' for k in ("side", "task", "row", "kind"))
        lines.append(
            f"<tr {attrs}><td>{html.escape(e['side'])}</td><td>{html.escape(e['task'])}</td>"
            f"<td class='id'>{html.escape(e['id'])}</td><td>{html.escape(e['row'])}</td>"
            f"<td data-value='{e['score']}'>{e['score']:.3f} <small>{e['metric']}</small></td>"
            f"<td class='text'>{e['prompt']}</td><td class='text'>{e['reference']}</td>"
            f"<td class='text'>{e['generation']}</td></tr>"
        )
    lines.append("</tbody></table>")
    return "".join(lines)


STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1400px;
padding:0 12px 40px;color:#1b1b1b;line-height:1.4}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
.meta{color:#555;font-size:.9em}
table{border-collapse:collapse;font-size:.85em;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #ddd;padding:3px 6px;vertical-align:top}
thead th{background:#f4f4f4;position:sticky;top:0;cursor:pointer}
.board td{text-align:right;white-space:nowrap}.ci{color:#777;font-size:.85em}
.audit td.text{min-width:16em;max-width:34em;white-space:pre-wrap;word-break:break-word}
.audit td.id{font-family:monospace;font-size:.85em}
mark{background:#fde68a;padding:0}
svg.figure{max-width:100%;height:auto;display:block;margin:8px 0}
.filters{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}.filters input{min-width:14em}
@media (max-width:700px){body{padding:0 6px}.audit td.text{min-width:10em}}
@media print{.filters{display:none}table{display:table;overflow:visible}thead th{position:static}
tr{break-inside:avoid}svg.figure{break-inside:avoid}}
"""

# Sorting by a header click and the audit's filters; the page reads in full without them.
SCRIPT = """
document.querySelectorAll('table.sortable, table.board').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var dir = th.dataset.dir === 'asc' ? -1 : 1; th.dataset.dir = dir === 1 ? 'asc' : 'desc';
      rows.sort(function (a, b) {
        var x = a.cells[col], y = b.cells[col];
        var u = parseFloat(x.dataset.value), v = parseFloat(y.dataset.value);
        if (!isNaN(u) && !isNaN(v)) return dir * (u - v);
        return dir * x.textContent.localeCompare(y.textContent);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
var controls = document.querySelectorAll('[data-filter]');
function applyFilters() {
  var want = {}; controls.forEach(function (c) { want[c.dataset.filter] = c.value.toLowerCase(); });
  document.querySelectorAll('#audit tbody tr').forEach(function (tr) {
    var show = ['side', 'task', 'row', 'kind'].every(function (k) {
      return !want[k] || tr.dataset[k].toLowerCase() === want[k];
    });
    if (show && want.text) show = tr.textContent.toLowerCase().indexOf(want.text) >= 0;
    tr.hidden = !show;
  });
}
controls.forEach(function (c) { c.addEventListener('input', applyFilters); });
"""


def render(board: dict, results: dict[str, dict], info: dict, redact_pii: bool = False) -> str:
    """The page's HTML."""
    rows = list(results)
    config = info.get("config", {})
    boot = board.get("bootstrap", {})
    title = f"obliviate · {board.get('benchmark')} · split {board.get('split')}"
    meta = [
        f"model {(config.get('model') or {}).get('name', '?')}",
        f"command {info.get('command', '?')}",
        f"commit {info.get('git_commit') or '?'}",
        f"finished {info.get('finished') or info.get('finished_at') or '?'}",
    ]
    lume = board.get("protocol", "lume") == "lume"
    rank_rule = (
        "Rank: rows whose paired difference in final score has an interval that includes 0 share a range. "
        if lume
        else "Rows keep their order: this protocol has no single score to rank by. "
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p class='meta'>{html.escape(' · '.join(meta))}</p>",
        "<h2 id='leaderboard'>Leaderboard</h2>",
        f"<p class='meta'>Values with their {boot.get('level', 0.95):.0%} bootstrap intervals "
        f"({boot.get('resamples', '?')} resamples over the scored items, seed {boot.get('seed', '?')}). "
        f"{rank_rule}↓: lower is better.</p>",
        leaderboard_html(board),
        seeds_html(board.get("seeds"), boot.get("level", 0.95)),
    ]
    if lume:
        parts += [
            "<h2 id='forget-retain'>Forget vs retain</h2>",
            figures.forget_vs_retain(board["rows"]),
            "<h2 id='tasks'>Per-task scores</h2>",
            figures.task_heatmap(results),
            "<h2 id='mia'>Membership inference</h2>",
            figures.mia_panels(results) or "<p>No MIA documents in this split.</p>",
        ]
    parts += [
        "<h2 id='cost'>Cost</h2>",
        figures.cost_vs_score(board["rows"]) or "<p>No training cost recorded.</p>",
        "<h2 id='training'>Unlearning runs</h2>",
        figures.loss_curves(results) or "<p>No unlearning run in this table.</p>",
    ]
    section = board.get("robustness")
    if section:
        parts += [
            "<h2 id='robustness'>Robustness</h2>",
            "<p class='meta'>Forget scores on the prompts each attack asks, before and after it; restored: "
            "(attacked − unlearned) / (target − unlearned); excess: attacked − the oracle under the same "
            "attack.</p>",
            figures.robustness(section.get("attacks", [])),
            robustness_html(section),
        ]
    entries = audit.audit_rows(results, redact_pii)
    parts += [
        "<h2 id='audit'>Per-item audit</h2>",
        "<p class='meta'>Every prompt with its reference and each row's generation; highlighted: the "
        "tokens of the ROUGE-L match (sc) or an exact match (qa)"
        + ("; e-mail addresses, SSNs, phone numbers and dates masked" if redact_pii else "")
        + ".</p>",
        audit_html(entries, rows),
        f"<script>{SCRIPT}</script></body></html>",
    ]
    return "\n".join(parts)


def write_report(run_dir: Path, redact_pii: bool = False, out: Path | None = None) -> Path:
    """Build the report of a run directory and write it atomically (default `<run_dir>/report.html`)."""
    board, results, info = load_run(run_dir)
    path = Path(out) if out is not None else Path(run_dir) / REPORT_FILE
    write_text_atomic(path, render(board, results, info, redact_pii))
    return path
