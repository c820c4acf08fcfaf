"""The report's figures: matplotlib drawn to inline SVG (text kept as text, no fonts embedded, the
same bytes for the same results). Each function takes saved results and returns an `<svg>` string,
or "" when the run holds nothing to draw."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence

import numpy as np

COLORS = {"target": "#c0392b", "oracle": "#1e8449"}
MARKERS = {"target": "s", "oracle": "*"}
METHOD_COLOR = "#2e86c1"
# methods' colours in figures that tell rows apart: no red or green, which mark target and oracle
PALETTE = ("#2e86c1", "#e67e22", "#8e44ad", "#8d6e63", "#d81b60", "#607d8b", "#9e9d24", "#00acc1")


def row_color(row: str, index: int) -> str:
    return COLORS.get(row, PALETTE[index % len(PALETTE)])


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "obliviate", "font.size": 9})
    return plt


def to_svg(fig, label: str) -> str:
    """The figure as an inline `<svg>` (no XML header, no creation date), labelled for screen readers."""
    plt = _pyplot()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)  # RDF boilerplate
    label = label.replace('"', "'").replace("<", "").replace("&", "and")
    return re.sub(r"<svg ", f'<svg role="img" aria-label="{label}" class="figure" ', text, count=1)


def _style(row: str) -> dict:
    return {
        "color": COLORS.get(row, METHOD_COLOR),
        "marker": MARKERS.get(row, "o"),
        "markersize": 11 if row == "oracle" else 7,
    }


def _errors(rows: Sequence[Mapping], key: str) -> np.ndarray:
    """(2, n) distances from each value to its interval's ends, for errorbar (0 where none)."""
    lows, highs = [], []
    for r in rows:
        low, high = (r.get("intervals") or {}).get(key) or (r[key], r[key])
        lows.append(max(r[key] - low, 0.0))
        highs.append(max(high - r[key], 0.0))
    return np.array([lows, highs])


def forget_vs_retain(rows: Sequence[Mapping]) -> str:
    """Forget against retain score (regurgitation, knowledge), 95% intervals as error bars; the
    target and the oracle marked: a good method lands near the oracle."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, metric in zip(axes, ("regurgitation", "knowledge"), strict=True):
        fx, ry = f"{metric}/forget", f"{metric}/retain"
        shown = [r for r in rows if r.get(fx) is not None and r.get(ry) is not None]
        for r in shown:
            ax.errorbar(
                r[fx],
                r[ry],
                xerr=_errors([r], fx),
                yerr=_errors([r], ry),
                linestyle="none",
                capsize=2,
                elinewidth=0.8,
                **_style(r["row"]),
            )
            ax.annotate(r["row"], (r[fx], r[ry]), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xlabel(f"forget {metric} (lower: more forgotten)")
        ax.set_ylabel(f"retain {metric} (higher: more kept)")
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    fig.suptitle("Forget vs retain (target ■ red, oracle ★ green, 95% intervals)")
    return to_svg(fig, "forget versus retain scores per row")


def task_heatmap(results: Mapping[str, Mapping]) -> str:
    """The LUME terms per row: per task and kind, forget and retain (the task aggregate's inputs)."""
    columns: list[tuple[str, str, str]] = []
    for result in results.values():
        for side, per_task in (result.get("per_task") or {}).items():
            for task, means in per_task.items():
                for metric in means:
                    if (side, task, metric) not in columns:
                        columns.append((side, task, metric))
    if not columns:
        return ""
    columns.sort()
    values = np.array(
        [
            [
                ((r.get("per_task") or {}).get(side, {}).get(task, {}).get(m, np.nan))
                for side, task, m in columns
            ]
            for r in results.values()
        ],
        dtype=float,
    )
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * len(columns), 0.9 + 0.42 * len(results)))
    ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if not np.isnan(values[i, j]):
                color = "white" if values[i, j] < 0.6 else "black"
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7, color=color)
    ax.set_yticks(range(len(results)), list(results))
    short = {"regurgitation": "regurg", "knowledge": "knowl"}
    labels = [
        f"{side} {task.replace('Task', 'T')}\n{short.get(m, m)}{' ↓' if side == 'forget' else ''}"
        for side, task, m in columns
    ]
    ax.set_xticks(range(len(columns)), labels, fontsize=7)
    ax.set_title("Per-task LUME scores (forget: lower is better; retain: higher)")
    return to_svg(fig, "per-task heatmap of the LUME scores")


def roc_points(member, nonmember) -> tuple[np.ndarray, np.ndarray]:
    """(false, true) positive rates at every threshold, highest first, members = positives."""
    member, nonmember = np.asarray(member, dtype=float), np.asarray(nonmember, dtype=float)
    thresholds = np.unique(np.r_[member, nonmember])[::-1]
    tpr = np.r_[0.0, [(member >= t).mean() for t in thresholds]]
    fpr = np.r_[0.0, [(nonmember >= t).mean() for t in thresholds]]
    return fpr, tpr


def mia_panels(results: Mapping[str, Mapping], attack: str = "loss") -> str:
    """The MIA attack's member and non-member scores per row, and each row's ROC curve."""
    shown = {
        row: r["mia_items"][attack] for row, r in results.items() if attack in (r.get("mia_items") or {})
    }
    if not shown:
        return ""
    plt = _pyplot()
    fig, (strip, roc) = plt.subplots(1, 2, figsize=(10, 0.8 + 0.45 * max(len(shown), 6)))
    for i, (row, scores) in enumerate(shown.items()):
        for offset, role, color in ((-0.12, "member", "#8e44ad"), (0.12, "nonmember", "#7f8c8d")):
            values = scores[role]
            strip.scatter(
                values, np.full(len(values), i + offset), s=14, color=color, label=role if i == 0 else None
            )
        fpr, tpr = roc_points(scores["member"], scores["nonmember"])
        roc.plot(fpr, tpr, label=row, color=row_color(row, i), linewidth=1.2)
    strip.set_yticks(range(len(shown)), list(shown))
    strip.set_xlabel(f"{attack} attack score (higher: looks like a member)")
    strip.legend(loc="lower right", fontsize=7)
    strip.grid(alpha=0.3)
    roc.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
    roc.set_xlabel("false positive rate")
    roc.set_ylabel("true positive rate")
    roc.legend(fontsize=7, loc="lower right")
    roc.set_title("ROC (AUC 0.5 = cannot tell members from non-members)")
    return to_svg(fig, f"membership inference scores and ROC curves of the {attack} attack")


def cost_vs_score(rows: Sequence[Mapping]) -> str:
    """Final score against training seconds, 95% intervals as error bars."""
    shown = [r for r in rows if r.get("train_seconds") and r.get("final") is not None]
    if not shown:
        return ""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for r in shown:
        ax.errorbar(r["train_seconds"], r["final"], yerr=_errors([r], "final"), capsize=2, **_style(r["row"]))
        label = f"{r['row']} ({r['peak_rss_mb'] / 1024:.1f} GiB)" if r.get("peak_rss_mb") else r["row"]
        ax.annotate(
            label, (r["train_seconds"], r["final"]), textcoords="offset points", xytext=(5, 4), fontsize=8
        )
    ax.set_xscale("log")
    ax.set_xlabel("training seconds (log; target and oracle: fine-tuning)")
    ax.set_ylabel("final score")
    ax.grid(alpha=0.3)
    return to_svg(fig, "cost against final score")


def loss_curves(results: Mapping[str, Mapping]) -> str:
    """Each unlearning run's loss per step, with its forget and retain terms where the run kept them."""
    curves = {row: r["training_curve"] for row, r in results.items() if r.get("training_curve")}
    if not curves:
        return ""
    plt = _pyplot()
    ncols = min(3, len(curves))
    nrows = -(-len(curves) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.6 * nrows), squeeze=False)
    for ax, (row, curve) in zip(axes.flat, curves.items(), strict=False):  # spare axes hidden below
        steps = np.arange(1, len(curve["losses"]) + 1)
        ax.plot(steps, curve["losses"], color="black", linewidth=1.4, label="total")
        terms = sorted({k for logs in curve.get("step_logs") or [] for k in logs if k != "phase"})
        for key in terms:
            values = [logs.get(key, np.nan) for logs in curve["step_logs"]]
            ax.plot(steps[: len(values)], values, linewidth=0.9, label=key)
        ax.set_title(row)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(curves) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return to_svg(fig, "unlearning loss curves")


def robustness(entries: Sequence[Mapping]) -> str:
    """Forget scores after each attack per row (filled) against before it (hollow)."""
    if not entries:
        return ""
    attacks = list(dict.fromkeys(e["attack"] for e in entries))
    rows = list(dict.fromkeys(e["row"] for e in entries))
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.9 + 0.35 * len(attacks) * 1.2))
    for ax, metric in zip(axes, ("regurgitation", "knowledge"), strict=True):
        for j, row in enumerate(rows):
            offset = (j - (len(rows) - 1) / 2) * 0.8 / max(len(rows), 1)
            mine = {e["attack"]: e for e in entries if e["row"] == row}
            ys = [i + offset for i, a in enumerate(attacks) if a in mine and mine[a].get(metric) is not None]
            after = [mine[a][metric] for a in attacks if a in mine and mine[a].get(metric) is not None]
            before = [
                mine[a].get(f"unattacked/{metric}")
                for a in attacks
                if a in mine and mine[a].get(metric) is not None
            ]
            color = row_color(row, j)
            ax.scatter(after, ys, color=color, s=18, label=row)
            ax.scatter(
                [b if b is not None else np.nan for b in before],
                ys,
                facecolors="none",
                edgecolors=color,
                s=18,
            )
        ax.set_yticks(range(len(attacks)), attacks)
        ax.invert_yaxis()
        ax.set_xlim(-0.05, 1.05)
        ax.set_xlabel(f"forget {metric} (filled: attacked, hollow: before)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return to_svg(fig, "forget scores before and after each attack")
