"""`obliviate eval` end to end against the official SemEval-2025 script's loop, on LUME rows.

The rows are issue #20's: the first 2 documents per task of LUME's validation split (20 forget +
20 retain documents, their prompts) and the split's 34 + 34 MIA documents, scored on a target that
memorized the 40 (the default preset's recipe on those rows, built once and cached). Both sides load
the model in bf16 and compute what the official script computes: every prompt's greedy generation
(256 new tokens), the 12 per-task terms and their harmonic mean, and the MIA AUC of the documents'
mean NLL.

- official: a faithful reimplementation of the script's loops: HF `generate` one prompt at a time,
  then `model(input_ids, labels=input_ids).loss` one document at a time, sklearn's AUC;
- engine: what `obliviate eval` runs for the same numbers (`eval/protocols/lume.py`): the batched
  generation engine and the likelihood pass (`eval/passes.token_statistics`) through an `HFSubject`,
  no pass cache. Its utility test (not part of the official script) is timed apart.

Runs alternate (`--repeats` of each), each from loading the model; medians are printed with every
run, then whether every score is identical. The official loop's time moves by a tenth from one
hour to the next on a shared machine, so one set's ratio is a noisy figure: `--record FILE` adds
this set's run pairs (each official run and the engine run after it) to FILE and prints the ratio
of the medians over every pair recorded there, with a 95% bootstrap interval over the pairs.

    python perf/eval_end_to_end.py --data ../shared/data/lume --repeats 3 --record e2e_runs.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import auc, roc_curve

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from obliviate.atomic import write_json_atomic  # noqa: E402
from obliviate.data.records import Split  # noqa: E402
from obliviate.eval.evaluate import known_qa_ids, target_perplexity  # noqa: E402
from obliviate.eval.metrics import lume, utility  # noqa: E402
from obliviate.eval.passes import reference_generate  # noqa: E402
from obliviate.eval.protocols.lume import generation_items, mia_block  # noqa: E402
from obliviate.eval.uncertainty import interval  # noqa: E402
from obliviate.models import load_model  # noqa: E402
from obliviate.presets import load_run_benchmark, resolve_config  # noqa: E402
from obliviate.subjects.hf import HFSubject  # noqa: E402
from obliviate.targets import build_target  # noqa: E402


def official(model_dir: Path, split, max_new_tokens: int) -> tuple[dict, dict]:
    """The official script's computation; (scores, seconds of each part)."""
    seconds, start = {}, time.perf_counter()
    model, tokenizer = load_model(model_dir, dtype=torch.bfloat16)
    seconds["load"] = time.perf_counter() - start
    sides = [
        (side, doc, p) for side in ("forget", "retain") for doc in getattr(split, side) for p in doc.prompts
    ]
    t = time.perf_counter()
    generations = reference_generate(model, tokenizer, [p.input for _, _, p in sides], max_new_tokens)
    seconds["generation"] = time.perf_counter() - t
    t = time.perf_counter()
    losses = []
    with torch.no_grad():
        for doc in (*split.member, *split.nonmember):
            ids = torch.tensor([tokenizer(doc.text).input_ids])
            losses.append(model(input_ids=ids, labels=ids).loss.item())
    seconds["likelihood"] = time.perf_counter() - t
    items: dict[str, list] = {"forget": [], "retain": []}
    for (side, doc, p), text in zip(sides, generations, strict=True):
        metric = lume.regurgitation if p.kind == "sc" else lume.knowledge
        items[side].append({"task": doc.task, "kind": p.kind, "score": metric(p.output, text)})
    labels = [1] * len(split.member) + [0] * len(split.nonmember)
    fpr, tpr, _ = roc_curve(labels, -np.array(losses))
    seconds["total"] = time.perf_counter() - start
    return scores(items, auc(fpr, tpr)), seconds


def engine(model_dir: Path, split, cfg) -> tuple[dict, dict]:
    """What `obliviate eval` runs for the same numbers; (scores, seconds of each part)."""
    seconds, start = {}, time.perf_counter()
    subject = HFSubject(model_dir, dtype="bf16")
    subject.hf_model()
    seconds["load"] = time.perf_counter() - start
    t = time.perf_counter()
    items = generation_items(subject, split, cfg.eval)
    seconds["generation"] = time.perf_counter() - t
    t = time.perf_counter()
    mia = mia_block(subject, split, cfg.eval, None)
    seconds["likelihood"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - start
    return scores(items, mia["mia/loss/auc"]), seconds


def scores(items: dict, auc_value: float) -> dict:
    forget, retain = lume.per_task_means(items["forget"]), lume.per_task_means(items["retain"])
    terms = {
        f"{side}/{task}/{kind}": v
        for side, means in (("forget", forget), ("retain", retain))
        for task, by_kind in means.items()
        for kind, v in by_kind.items()
    }
    return {**terms, "harmonic mean": lume.task_aggregate(forget, retain), "MIA AUC": auc_value}


def recorded_pairs(path: Path) -> list[dict]:
    """The run pairs kept in `path` (none if it does not exist yet)."""
    if not path.exists():
        return []
    try:
        pairs = json.loads(path.read_text())
        if not isinstance(pairs, list):
            raise ValueError("not a list of run pairs")
        for i, pair in enumerate(pairs):
            if not (
                isinstance(pair, dict) and all(isinstance(pair.get(k), float) for k in ("official", "engine"))
            ):
                raise ValueError(f"pair {i} needs the seconds 'official' and 'engine'")
    except ValueError as err:
        raise SystemExit(f"{path}: {err}") from None
    return pairs


def pooled_ratio(pairs: list[dict], resamples: int = 10_000, seed: int = 0) -> tuple[float, list[float]]:
    """median(official) / median(engine) over the pairs, and its 95% bootstrap interval (pairs
    resampled whole: a pair's two runs share their moment of the machine)."""
    official = np.array([p["official"] for p in pairs])
    engine = np.array([p["engine"] for p in pairs])
    draws = np.random.default_rng(seed).integers(0, len(pairs), (resamples, len(pairs)))
    ratios = np.median(official[draws], axis=1) / np.median(engine[draws], axis=1)
    return float(np.median(official) / np.median(engine)), interval(ratios, 0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="LUME directory (../shared/data/lume)")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/obliviate"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--record", type=Path, help="JSON file of run pairs to add to and pool over")
    args = parser.parse_args()
    earlier = recorded_pairs(args.record) if args.record else []  # a bad file fails before the runs
    cfg = resolve_config(
        "default",
        [
            "data_format=lume",
            "docs_per_task=2",
            "split=validation",
            "eval.dtype=bf16",
            f"eval.max_new_tokens={args.max_new_tokens}",
        ],
        data=args.data,
        cache_dir=args.cache_dir,
    )
    benchmark = load_run_benchmark(cfg)
    model_dir = build_target(cfg, benchmark, "target") / "model"
    # The subset keeps the members of its own documents only; the rows score all 34 + 34.
    everything = load_run_benchmark(cfg.model_copy(update={"docs_per_task": None})).split("validation")
    split = replace(benchmark.split("validation"), member=everything.member, nonmember=everything.nonmember)
    warm_up = Split(split.forget[:1], split.retain[:1], split.member[:1], split.nonmember[:1])
    official(model_dir, warm_up, args.max_new_tokens)  # untimed: the engine may build its kernel
    engine(model_dir, warm_up, cfg)

    runs: dict[str, list] = {"official": [], "engine": []}
    for _ in range(args.repeats):  # alternating: both see the same moments of the machine
        runs["official"].append(official(model_dir, split, args.max_new_tokens))
        runs["engine"].append(engine(model_dir, split, cfg))
    subject, t = HFSubject(model_dir, dtype="bf16"), time.perf_counter()
    known, ppl = known_qa_ids(subject, cfg.eval), target_perplexity(subject, cfg.eval)
    utility.evaluate_utility(subject, cfg.eval.utility, known_ids=known, target_ppl=ppl)
    utility_s = time.perf_counter() - t  # the base's known items and the target's perplexity included

    prompts = sum(len(d.prompts) for d in (*split.forget, *split.retain))
    documents = len(split.member) + len(split.nonmember)
    print(
        f"{len(split.forget)} + {len(split.retain)} documents, {prompts} prompts, {documents} MIA documents; "
        f"{args.max_new_tokens} new tokens, bf16, {torch.get_num_threads()} threads"
    )
    for name, results in runs.items():
        parts = {part: statistics.median(s[part] for _, s in results) for part in results[0][1]}
        listed = ", ".join(f"{s['total']:.1f}" for _, s in results)
        print(
            f"{name:<9} "
            + "  ".join(f"{part} {v:6.1f} s" for part, v in parts.items())
            + f"   (totals: {listed})"
        )
    official_s = statistics.median(s["total"] for _, s in runs["official"])
    engine_s = statistics.median(s["total"] for _, s in runs["engine"])
    print(f"end to end: {official_s / engine_s:.2f}x faster (medians of {args.repeats})")
    print(f"engine's utility test (not in the official script), one run: {utility_s:.1f} s")
    if args.record:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
        pairs = earlier + [
            {
                "when": when,
                "commit": commit.stdout.strip(),
                "official": o[1]["total"],
                "engine": e[1]["total"],
            }
            for o, e in zip(runs["official"], runs["engine"], strict=True)
        ]
        write_json_atomic(args.record, pairs)
        ratio, (low, high) = pooled_ratio(pairs)
        pooled = f"{ratio:.2f}x faster, 95% interval [{low:.2f}, {high:.2f}]"
        print(f"over the {len(pairs)} run pairs in {args.record}: {pooled}")
    reference = runs["official"][0][0]
    identical = all(r[0] == reference for rs in runs.values() for r in rs)
    print(f"every score identical in every run of both: {identical}")
    for key, value in reference.items():
        print(f"  {key:<36} {value:.6f}  engine {runs['engine'][0][0][key]:.6f}")


if __name__ == "__main__":
    main()
