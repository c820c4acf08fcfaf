"""Erase on the reviews task (`erase/task.py`) against both references, per request kind and size.

For each request (kind x size, size a fraction of D taken from the poisoned rows) the target's
adapter is edited once per variant and compared with retraining from scratch on D′ with the
target's recipe (first reference) and warm-start L-BFGS to convergence on the edited objective
(second). Columns: test accuracy, NLL of the true label and accuracy on the rows the poison hits
(positive reviews with the sign-off) of original / erase / scratch / warm; the fraction of the
original-to-scratch gap the edit closes on accuracy and NLL; cosine of merged ΔW and the KL gap
closed (test inputs) against each reference; seconds of the edit and of each reference.

    python perf/erase_task.py --preset smoke                 # tiny Llama (base pretrained on clean reviews)
    python perf/erase_task.py --preset default --sizes 0.01,0.05,0.1 --json runs/erase_task.json
    python perf/erase_task.py --variant "gn:curvature=gn" --set reviews.train_size=1000
    python perf/erase_task.py --sizes 0.01,0.05,0.1 --warm-sizes 0.1   # the costly warm reference on 10% only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from obliviate.config import parse_override  # noqa: E402
from obliviate.erase.compare import function_closeness, merged_deltas, weight_closeness  # noqa: E402
from obliviate.erase.task import EraseTaskConfig, TaskSetup, smoke_task_config, task_requests  # noqa: E402
from obliviate.erase.update import newton_update  # noqa: E402


def with_overrides(model, overrides: list[str]):
    """`model` with dotted `key=value` overrides applied, validated (unknown fields are errors)."""
    data = model.model_dump()
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                raise SystemExit(f"--set {text!r}: unknown section {key!r}")
            node = node[key]
        node[path[-1]] = value
    return type(model).model_validate(data)


def gap_closed(original: float, erased: float, reference: float) -> float | None:
    """(erased − original) / (reference − original): 1 = the edit lands on the reference."""
    gap = reference - original
    return None if abs(gap) < 1e-12 else (erased - original) / gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("smoke", "default"), default="default")
    parser.add_argument("--kinds", default="removal,query,response")
    parser.add_argument("--sizes", default="0.01,0.05,0.1", help="request sizes, fractions of D")
    parser.add_argument("--variant", action="append", default=[], help='"name:key=value,..." erase overrides')
    parser.add_argument("--no-warm", action="store_true", help="skip the warm-start reference")
    parser.add_argument(
        "--warm-sizes", default=None, help="the sizes of --sizes that get the warm reference (default: all)"
    )
    parser.add_argument("--kl-rows", type=int, default=200, help="test rows for the KL gap")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="task config override")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/obliviate"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    cfg = with_overrides(smoke_task_config() if args.preset == "smoke" else EraseTaskConfig(), args.overrides)
    variants = {"default": cfg.erase}
    for text in args.variant:
        name, _, fields = text.partition(":")
        variants[name] = with_overrides(cfg.erase, [f for f in fields.split(",") if f])
    print(cfg.model_dump_json(), flush=True)
    setup = TaskSetup.build(cfg, args.cache_dir)
    n = len(setup.data)
    print(
        f"target: {n} rows, {setup.theta_hat.numel()} adapter parameters, {setup.train_seconds:.0f} s",
        flush=True,
    )
    original = setup.label_metrics(setup.theta_hat)
    print("target " + json.dumps(original), flush=True)
    kl_rows = setup.tokenize([(r.prompt, r.true_label) for r in setup.task.test[: args.kl_rows]])
    target_deltas = merged_deltas(setup.objective.model)
    pad = setup.tokenizer.pad_token_id

    def deltas(theta):
        setup.objective.load(theta)
        out = merged_deltas(setup.objective.model)
        setup.objective.load(setup.theta_hat)
        return out

    def logits_of(theta):
        return lambda batch: setup.objective.logits(theta, batch)

    warm_sizes = None if args.warm_sizes is None else {float(s) for s in args.warm_sizes.split(",")}
    rows = []
    for kind in args.kinds.split(","):
        for fraction in (float(s) for s in args.sizes.split(",")):
            size = max(1, round(fraction * n))
            edits = task_requests(setup.task, kind, size)
            new_data, removed, added = setup.request_data(edits)
            references = {}
            theta, seconds = setup.scratch(new_data)
            references["scratch"] = (theta, seconds, setup.label_metrics(theta), deltas(theta))
            if not args.no_warm and (warm_sizes is None or fraction in warm_sizes):
                theta, info = setup.converge_warm(new_data)
                references["warm"] = (theta, info["seconds"], setup.label_metrics(theta), deltas(theta))
                print(f"{kind} {size}: warm {json.dumps(info)}", flush=True)
            for name, erase_cfg in variants.items():
                start = time.perf_counter()
                result = newton_update(
                    setup.objective, setup.theta_hat, setup.data, new_data, removed, added, erase_cfg
                )
                erase_seconds = time.perf_counter() - start
                erased = setup.label_metrics(result.theta)
                row = {
                    "kind": kind,
                    "rows": size,
                    "percent": round(100 * size / n, 1),
                    "variant": name,
                    "erase_s": round(erase_seconds, 1),
                    "products": sum(s["iterations"] for s in result.steps),
                    "residual": result.steps[-1]["relative_residual"],
                    "original": original,
                    "erased": erased,
                }
                erased_deltas = deltas(result.theta)
                for ref, (theta, seconds, metrics, ref_deltas) in references.items():
                    kl = function_closeness(
                        logits_of(theta),
                        logits_of(result.theta),
                        logits_of(setup.theta_hat),
                        removed,
                        kl_rows,
                        pad,
                    )
                    row[ref] = {
                        **metrics,
                        "seconds": round(seconds, 1),
                        "speedup": round(seconds / max(erase_seconds, 1e-9), 1),
                        "acc_gap_closed": gap_closed(
                            original["accuracy"], erased["accuracy"], metrics["accuracy"]
                        ),
                        "nll_gap_closed": gap_closed(original["nll"], erased["nll"], metrics["nll"]),
                        "cos_dw": weight_closeness(target_deltas, erased_deltas, ref_deltas)["cosine"],
                        "kl_gap_closed_test": kl.get("kl_gap_closed/retain"),
                        "kl_gap_closed_request": kl.get("kl_gap_closed/forget"),
                    }
                rows.append(row)
                print(json.dumps(row), flush=True)
    print_table(rows, list(dict.fromkeys(ref for row in rows for ref in ("scratch", "warm") if ref in row)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"config": cfg.model_dump(mode="json"), "rows": rows}, indent=2))


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def print_table(rows: list[dict], references: list[str]) -> None:
    head = ["request", "variant", "erase s", "products", "acc orig / erase", "poison-hit acc orig / erase"]
    for ref in references:
        head += [
            f"{ref} acc",
            f"{ref} poison-hit acc",
            f"{ref} s",
            "speed-up",
            "acc gap closed",
            "NLL gap closed",
        ]
        head += ["cos ΔW", "KL gap closed (test)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        o, e = row["original"], row["erased"]
        cells = [
            f"{row['kind']} {row['rows']} ({row['percent']}%)",
            row["variant"],
            row["erase_s"],
            row["products"],
        ]
        cells += [f"{o['accuracy']:.3f} / {e['accuracy']:.3f}"]
        cells += [f"{_fmt(o['poison_target_accuracy'])} / {_fmt(e['poison_target_accuracy'])}"]
        for ref in references:
            if ref not in row:  # this request was not given this reference
                cells += [None] * 8
                continue
            r = row[ref]
            cells += [r["accuracy"], r["poison_target_accuracy"], r["seconds"], f"{r['speedup']}x"]
            cells += [r["acc_gap_closed"], r["nll_gap_closed"], r["cos_dw"], r["kl_gap_closed_test"]]
        print("| " + " | ".join(_fmt(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
