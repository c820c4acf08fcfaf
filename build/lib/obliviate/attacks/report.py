"""The robustness section: every row's attacked forget scores against the target's and the oracle's.

Pure functions of saved outcomes (`attacks/run.py`) and the rows' main forget items:

- restored fraction `(attacked − unlearned) / (target − unlearned)`: how much of what the target
  knew the attack brings back (`unlearned` and `target` are the unattacked scores on the same
  prompts; None where the row is as good as the target there);
- excess over the oracle: attacked − the oracle's score under the same attack. The oracle never saw
  the forget set, so what an attack gives it is generalisation or relearning; only the excess is
  hidden knowledge;
- the worst case per row: the highest forget score over the unattacked model and every held-out
  attack, against the oracle's worst case;
- relearning speed: the forget scores of the documents trained on after each step, and the steps to
  reach `recover` × the target's score on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from obliviate.attacks.run import scores

METRICS = ("regurgitation", "knowledge")
SHORT = {"regurgitation": "regurg", "knowledge": "knowl"}


def restored_fraction(attacked: float | None, unlearned: float | None, target: float | None) -> float | None:
    if None in (attacked, unlearned, target) or target - unlearned <= 1e-9:
        return None
    return (attacked - unlearned) / (target - unlearned)


def _on(items: Sequence[dict], ids: Sequence[str]) -> dict:
    wanted = set(ids)
    return scores([it for it in items if it["id"] in wanted])


def steps_to_recover(curve: Sequence[dict], metric: str, target: float | None, recover: float) -> int | None:
    """The first measured step whose score reaches `recover` × the target's (None: none does)."""
    if target is None:
        return None
    for point in curve:
        if point[metric] is not None and point[metric] >= recover * target - 1e-9:
            return point["step"]
    return None


def robustness(
    outcomes: Mapping[str, Mapping[str, dict]], row_items: Mapping[str, Sequence[dict]], recover: float = 0.9
) -> dict:
    """{"attacks": one entry per (row, attack), "worst": one per row, "speed": one per row that ran
    relearn-speed}. `outcomes[row][attack]`; `row_items[row]`: the row's main forget items."""
    target_items = row_items.get("target")
    oracle = outcomes.get("oracle", {})
    entries, speed = [], []
    for row, attacks in outcomes.items():
        for name, out in attacks.items():
            target = _on(target_items, out["compared_ids"]) if target_items is not None else {}
            entry = {"row": row, "attack": name, "held_out": out["held_out"]}
            for m in METRICS:
                entry[m] = out[m]
                entry[f"unattacked/{m}"] = out["unattacked"][m]
                entry[f"restored/{m}"] = restored_fraction(out[m], out["unattacked"][m], target.get(m))
                theirs = oracle.get(name, {}).get(m)
                entry[f"excess/{m}"] = out[m] - theirs if None not in (out[m], theirs) else None
            entries.append(entry)
            if "curve" in out:
                speed.append(
                    {
                        "row": row,
                        "curve": out["curve"],
                        **{
                            f"steps_to_recover/{m}": steps_to_recover(out["curve"], m, target.get(m), recover)
                            for m in METRICS
                        },
                    }
                )
    worst = [_worst(row, attacks, row_items[row]) for row, attacks in outcomes.items()]
    by_row = {w["row"]: w for w in worst}
    for w in worst:
        for m in METRICS:
            theirs = by_row.get("oracle", {}).get(f"worst/{m}")
            mine = w[f"worst/{m}"]
            w[f"worst_excess/{m}"] = mine - theirs if None not in (mine, theirs) else None
    return {"attacks": entries, "worst": worst, "speed": speed, "recover": recover}


def _worst(row: str, attacks: Mapping[str, dict], items: Sequence[dict]) -> dict:
    plain = scores(items)
    out = {"row": row}
    for m in METRICS:
        candidates = [(plain[m], "none")] + [
            (a[m], name) for name, a in attacks.items() if a["held_out"] and a[m] is not None
        ]
        candidates = [c for c in candidates if c[0] is not None]
        best = max(candidates, key=lambda c: c[0]) if candidates else (None, None)
        out[f"unattacked/{m}"], out[f"worst/{m}"], out[f"worst_attack/{m}"] = plain[m], best[0], best[1]
    return out


def _f(value) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if isinstance(value, float) and value < 0 else f"{value:.3f}"


def markdown(section: dict) -> str:
    """The section as three Markdown tables (attacks, worst case, relearning speed)."""
    lines = [
        "### Forget scores after each attack",
        "",
        "restored: (attacked − unlearned) / (target − unlearned) on the same prompts; "
        "excess: attacked − oracle under the same attack. ↓ is better for every column.",
        "",
        "| row | attack | regurg | knowl | restored regurg | restored knowl | excess regurg | excess knowl |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in section["attacks"]:
        name = e["attack"] + ("" if e["held_out"] else " (trained on the evaluated text)")
        cells = [e["row"], name, *(_f(e[k]) for k in _entry_columns())]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "### Worst case over held-out attacks",
        "",
        "| row | regurg | worst regurg (attack) | − oracle's worst "
        "| knowl | worst knowl (attack) | − oracle's worst |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in section["worst"]:
        cells = [w["row"]]
        for m in METRICS:
            cells += [
                _f(w[f"unattacked/{m}"]),
                f"{_f(w[f'worst/{m}'])} ({w[f'worst_attack/{m}']})",
                _f(w[f"worst_excess/{m}"]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    if section["speed"]:
        steps = [p["step"] for p in section["speed"][0]["curve"]]
        pct = round(100 * section["recover"])
        lines += [
            "",
            "### Relearning speed (relearn's fine-tuning, asked the forget documents it trains on; "
            "regurg / knowl after each step)",
            "",
            "| row | "
            + " | ".join(f"{s} steps" for s in steps)
            + f" | steps to {pct}% of target (regurg / knowl) |",
            "|---|" + "---|" * (len(steps) + 1),
        ]
        for s in section["speed"]:
            cells = [s["row"], *(f"{_f(p['regurgitation'])} / {_f(p['knowledge'])}" for p in s["curve"])]
            reach = [s[f"steps_to_recover/{m}"] for m in METRICS]
            cells.append(" / ".join(str(r) if r is not None else f">{steps[-1]}" for r in reach))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _entry_columns() -> list[str]:
    return [
        "regurgitation",
        "knowledge",
        "restored/regurgitation",
        "restored/knowledge",
        "excess/regurgitation",
        "excess/knowledge",
    ]
