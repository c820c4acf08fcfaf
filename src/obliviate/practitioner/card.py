"""The model card of a forget run: a Hugging Face `README.md` (YAML metadata, then Markdown) saying
what was done and what the verification found. It names the removed records by count and keyed
hash (HMAC-SHA256) only; their text, ids and generations, and the hash key, stay in
`verification.json` and the report beside it.

    text = model_card(verification, docs)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from obliviate.data.records import Document
from obliviate.eval.metrics.table import fmt


def number(entry: Mapping | None) -> str:
    """`0.912 [0.850, 0.960]` (the metric table's format), or `-`."""
    return fmt(entry.get("value"), entry.get("interval")) if entry else "-"


RETAIN_ROWS = {
    "your_records": "your retain records kept (ROUGE-L recall)",
    "held_out_answers": "held-out general answers kept (ROUGE-L recall of the original answers)",
}


def table_row(label: str, before: Mapping | None, after: Mapping | None) -> str:
    return f"| {label} | {number(before)} | {number(after)} |"


def retain_rows(retain: Mapping) -> list[str]:
    """Table rows of the retain check: the user's records and the held-out answers, where present."""
    return [
        table_row(label, retain[key]["before"], retain[key]["after"])
        for key, label in RETAIN_ROWS.items()
        if retain.get(key)
    ]


def _is_hub_id(model: str) -> bool:
    return not Path(model).expanduser().exists() and "/" in model and not model.startswith((".", "/", "~"))


def model_card(v: Mapping, docs: Sequence[Document]) -> str:
    """The card's text (see the module docstring); `v` is the run's verification, whose records carry
    their keyed hashes."""
    from obliviate import __version__
    from obliviate.runs import git_commit

    model, method, cost = v["model"], v["method"], v["cost"]
    level = v["bootstrap"]["level"]
    meta = ["---", "library_name: transformers", "tags:", "- obliviate", "- machine-unlearning"]
    if _is_hub_id(model):
        meta.append(f"base_model: {model}")
    meta.append("---")
    forget, attacks, kept = v["forget"], v["attacks"], v["retain"]
    lines = [
        *meta,
        "",
        "# Unlearned model",
        "",
        f"`{model}`{' with the adapter `' + v['adapter'] + '`' if v['adapter'] else ''} "
        f"after machine unlearning with obliviate {__version__}: {v['trained_records']} of {len(docs)} "
        "records were unlearned. This card names each record by the HMAC-SHA256 of the record as read "
        "(id, task, text, prompts) under a key kept in the run's `verification.json`, never by its text "
        "(a plain hash of a short record could be confirmed by hashing guesses).",
        "",
        "## What was done",
        "",
        f"- Method: `{method['name']}`, settings `{json.dumps(method, sort_keys=True)}`.",
        f"- Trained: {v['params']['mode']} parameters, {cost.get('parameters_changed', '-')} changed; "
        f"lr {v['train']['lr']:g}, batch {v['train']['batch_size']}, optimizer steps: {v['steps']}"
        + (" (stopped there: no record was produced any more)" if v["stopped_early_at"] else "")
        + f", {cost.get('train_seconds', '-')} s.",
    ]
    retain = v["retain_set"]
    if retain["source"] == "user":
        lines.append(f"- Retain set: {retain['records']} records given by the user.")
    else:
        lines.append(
            f"- Retain set: the model's own greedy answers to {retain['train']} of obliviate's "
            f"{retain['bank']} general prompts, those unrelated to the records ({retain['related']} "
            f"similarity below {retain['related_threshold']}, and no record's answer in the reply; "
            f"dropped: {json.dumps(retain['dropped'])}); {retain['check']} more held out for the check below."
        )
    lines += [
        "",
        "## Verification",
        "",
        "No retrain oracle exists for a user's model, so each record is checked directly: *produced* "
        f"means a greedy generation recalls at least {v['threshold']} of the record's reference (ROUGE-L "
        f"recall). {level:.0%} bootstrap intervals over records, held-out prompts, QA items and "
        "membership documents.",
        "",
        "| measure | before | after |",
        "|---|---|---|",
        table_row(
            f"records produced (share, of the {forget.get('records', 0)} produced before)",
            forget.get("produced/before"),
            forget.get("produced/after"),
        ),
        table_row("record recall (ROUGE-L, mean)", forget.get("recall/before"), forget.get("recall/after")),
        *retain_rows(kept),
        table_row(f"utility ({v['utility']['kind']})", v["utility"]["before"], v["utility"]["after"]),
        table_row(
            "membership AUC, records vs look-alikes (0.5: indistinguishable)",
            v["mia_auc"]["before"],
            v["mia_auc"]["after"],
        ),
        "",
    ]
    if kept["kept"] is not None:
        checked = {"your_records": "your retain records", "held_out_answers": "held-out answers"}[
            kept["checked"]
        ]
        lines += [
            f"Retain check ({checked}): {'passed' if kept['kept'] else 'FAILED'} "
            f"(tolerance {kept['tolerance']}).",
            "",
        ]
    if attacks:
        lines += ["| attack on the unlearned model | records produced under it |", "|---|---|"]
        lines += [f"| {name} | {a['produced']} of {a['of']} |" for name, a in attacks.items()]
        lines.append("")
    lines += ["## Records", "", "| # | HMAC-SHA256 | verdict |", "|---|---|---|"]
    lines += [
        f"| {n} | `{v['records'][d.id]['hmac_sha256']}` | {v['records'][d.id]['verdict']} |"
        for n, d in enumerate(docs, 1)
    ]
    lines += [
        "",
        "## Limitations",
        "",
        '- Without an oracle, "no longer produced" means these prompts and attacks no longer bring the '
        "records back; it does not prove the information is gone from the weights.",
        "- The membership test compares the records with look-alikes whose names and numbers were "
        "replaced; an AUC well below 0.5 after unlearning means the records became *less* likely than "
        "text never seen, which itself reveals them.",
        "",
        f"Made with obliviate {__version__}" + (f" (commit {git_commit()})" if git_commit() else "") + ".",
        "",
    ]
    return "\n".join(lines)
