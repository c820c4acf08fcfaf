"""Bootstrap uncertainty of a LUME result, from its saved per-item outputs (no model is loaded).

    draws = bootstrap_draws(result, BootstrapConfig())     # metric -> (resamples,) array
    intervals(draws, 0.95)                                  # metric -> [low, high]
    paired_difference(draws_a, draws_b, "final", 0.95)     # a - b with its interval
    rank_ranges({"gd": draws_gd, ...}, "final", 0.95)      # row -> (best rank, worst rank)

The units resampled are the benchmark's: the documents within each (side, task) for the LUME terms
(a document's prompts move together), the member and the non-member documents for the MIA AUCs, and
the known QA items for the offline utility. Every resample recomputes the whole aggregate from the
resampled units (per-task means, the harmonic mean with its forget inversion, each AUC, the final
score), so an interval shows how much the number depends on which documents the split happens to hold.

Resamples are drawn per group from a generator seeded by (seed, the group's name, its unit ids): two
rows evaluated on the same items get the same resamples, which makes their difference a paired
bootstrap. The ppl and MMLU utilities have no saved units and enter every resample as their point value.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

from obliviate.eval.config import BootstrapConfig
from obliviate.eval.metrics import mia
from obliviate.eval.metrics.table import HEADLINES, protocol_name

_PROMPT_SUFFIX = re.compile(r"(sc|qa)\d+$")
_KIND_TO_METRIC = {"sc": "regurgitation", "qa": "knowledge"}


def document_of(item: Mapping) -> str:
    """The document a prompt item belongs to: its `document` field, or (results saved before it was
    kept) its id without LUME's `sc<n>` / `qa<n>` suffix."""
    return item.get("document") or _PROMPT_SUFFIX.sub("", item["id"])


def resample_counts(group: str, units: Sequence[str], cfg: BootstrapConfig) -> np.ndarray:
    """(resamples, len(units)) counts: how often each unit is drawn in each resample, with replacement.

    Seeded by (seed, group, units), so the same units give the same counts in every row."""
    units = list(units)
    if not units:
        raise ValueError(f"bootstrap group {group!r} has no units")
    digest = zlib.crc32("\n".join([group, *units]).encode("utf-8"))
    rng = np.random.default_rng([cfg.seed, digest])
    n = len(units)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=cfg.resamples)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def harmonic_mean_rows(terms: np.ndarray) -> np.ndarray:
    """Per row of (resamples, terms), `statistics.harmonic_mean` of its non-NaN terms: 0 when any is 0."""
    present = ~np.isnan(terms)
    with np.errstate(divide="ignore"):
        inverse = np.where(present, 1.0 / np.where(present, terms, 1.0), 0.0)
    count = present.sum(axis=1)
    has_zero = (np.where(present, terms, 1.0) == 0).any(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, count / inverse.sum(axis=1), np.nan)
    return np.where(has_zero, 0.0, mean)


def _lume_draws(items: Mapping[str, Sequence[Mapping]], cfg: BootstrapConfig) -> dict[str, np.ndarray]:
    """Side means, per-task terms and the task aggregate over resampled documents."""
    out: dict[str, np.ndarray] = {}
    terms = []
    side_sums: dict[str, list[np.ndarray]] = {}
    for side in ("forget", "retain"):
        by_task: dict[str, dict[str, list[Mapping]]] = {}
        for item in items.get(side, []):
            by_task.setdefault(item["task"], {}).setdefault(document_of(item), []).append(item)
        for task in sorted(by_task):
            documents = sorted(by_task[task])
            counts = resample_counts(f"{side}/{task}", documents, cfg)  # (B, D)
            for kind, metric in _KIND_TO_METRIC.items():
                scores = [
                    [float(it["score"]) for it in by_task[task][d] if it["kind"] == kind] for d in documents
                ]
                if not any(scores):
                    continue
                total = counts @ np.array([sum(s) for s in scores])  # (B,)
                number = counts @ np.array([len(s) for s in scores], dtype=float)  # (B,)
                mean = _ratio(total, number)
                terms.append(1.0 - mean if side == "forget" else mean)
                sums = side_sums.setdefault(f"{metric}/{side}", [np.zeros_like(total), np.zeros_like(total)])
                sums[0] += total
                sums[1] += number
    for key, (total, number) in side_sums.items():
        out[key] = _ratio(total, number)
    if terms:
        out["task_aggregate"] = harmonic_mean_rows(np.stack(terms, axis=1))
    return out


def auc_draws(
    member: Sequence[float],
    nonmember: Sequence[float],
    member_counts: np.ndarray,
    nonmember_counts: np.ndarray,
) -> np.ndarray:
    """ROC AUC (members = 1, ties 1/2, as `mia.auc`) of each resample of the member and non-member scores."""
    m = np.asarray(member, dtype=np.float64)[:, None]
    n = np.asarray(nonmember, dtype=np.float64)[None, :]
    wins = (m > n) + 0.5 * (m == n)  # (M, N)
    pairs = member_counts.sum(axis=1) * nonmember_counts.sum(axis=1)  # (B,)
    return np.einsum("bm,mn,bn->b", member_counts, wins, nonmember_counts) / pairs


def _mia_draws(mia_items: Mapping, cfg: BootstrapConfig) -> dict[str, np.ndarray]:
    member_counts = resample_counts("mia/member", mia_items["member_ids"], cfg)
    nonmember_counts = resample_counts("mia/nonmember", mia_items["nonmember_ids"], cfg)
    out = {}
    for attack, scores in mia_items.items():
        if attack in ("member_ids", "nonmember_ids"):
            continue
        auc = auc_draws(scores["member"], scores["nonmember"], member_counts, nonmember_counts)
        out[f"mia/{attack}/auc"] = auc
        out[f"mia/{attack}/score"] = mia.lume_mia_score(auc)
    if "mia/loss/score" in out:
        out["mia"] = out["mia/loss/score"]  # the official attack
    return out


def bootstrap_draws(result: Mapping, cfg: BootstrapConfig) -> dict[str, np.ndarray]:
    """Every resampled metric of a saved result, by its protocol's `draws`: metric key ->
    (cfg.resamples,) array."""
    if protocol_name(result) == "lume":  # no model library imported: a report reads old results
        return lume_draws(result, cfg)
    from obliviate.eval.protocols import protocol_of  # the protocols import this module

    return protocol_of(result).draws(result, cfg)


def lume_draws(result: Mapping, cfg: BootstrapConfig) -> dict[str, np.ndarray]:
    """Every resampled metric of a saved LUME result: metric key -> (cfg.resamples,) array.

    Keys: the four side means, `task_aggregate`, `mia` and `mia/<attack>/auc|score`, `utility` (and
    `utility/qa_fraction` for the offline kind) and `final`; a metric the result lacks is absent."""
    out = _lume_draws(result.get("items") or {}, cfg)
    if result.get("mia_items"):
        out.update(_mia_draws(result["mia_items"], cfg))
    utility_items = result.get("utility_items") or []
    if result.get("utility/kind") == "offline" and utility_items:
        counts = resample_counts("utility", [it["id"] for it in utility_items], cfg)
        correct = np.array([float(it["correct"]) for it in utility_items])
        out["utility"] = out["utility/qa_fraction"] = counts @ correct / len(utility_items)
    elif result.get("utility") is not None:  # ppl, MMLU: no saved units
        out["utility"] = np.full(cfg.resamples, float(result["utility"]))
    if all(k in out for k in ("task_aggregate", "mia", "utility")):
        out["final"] = (out["task_aggregate"] + out["mia"] + out["utility"]) / 3.0
    return out


def interval(draws: np.ndarray, level: float) -> list[float]:
    """The percentile interval [low, high] holding `level` of the draws (NaN draws left out)."""
    tail = (1.0 - level) / 2.0
    low, high = np.nanquantile(draws, [tail, 1.0 - tail])
    return [float(low), float(high)]


def intervals(draws: Mapping[str, np.ndarray], level: float) -> dict[str, list[float]]:
    return {key: interval(values, level) for key, values in draws.items()}


def add_intervals(result: dict, draws, cfg: BootstrapConfig) -> None:
    """A protocol's last step: `result["intervals"]` from its `draws(result, cfg)`, and the settings."""
    result["intervals"] = intervals(draws(result, cfg), cfg.level)
    result["bootstrap"] = cfg.model_dump()


def units_of(result: Mapping) -> dict[str, list[str]]:
    """The resampled units of a result, per group: rows can be paired only when these agree."""
    groups: dict[str, list[str]] = {}
    if result.get("protocol", "lume") != "lume":  # TOFU, MUSE: per question set, item ids
        for name, rows in (result.get("items") or {}).items():
            if isinstance(rows, list):
                groups[name] = [row["id"] for row in rows]
            else:  # MUSE's privleak scores: {"forget_ids": [...], "holdout_ids": [...], ...}
                groups.update({f"{name}/{k}": list(v) for k, v in rows.items() if k.endswith("_ids")})
        return {group: sorted(units) for group, units in groups.items()}
    for side, side_items in (result.get("items") or {}).items():
        for item in side_items:
            groups.setdefault(f"{side}/{item['task']}", []).append(f"{item['id']}@{document_of(item)}")
    mia_items = result.get("mia_items") or {}
    for role in ("member", "nonmember"):
        if f"{role}_ids" in mia_items:
            groups[f"mia/{role}"] = list(mia_items[f"{role}_ids"])
    if result.get("utility/kind") == "offline":
        groups["utility"] = [it["id"] for it in result.get("utility_items") or []]
    return {group: sorted(units) for group, units in groups.items()}


def require_paired(a: Mapping, b: Mapping) -> None:
    """A one-line error unless results `a` and `b` were evaluated on the same items."""
    units_a, units_b = units_of(a), units_of(b)
    for group in sorted(set(units_a) | set(units_b)):
        if units_a.get(group) != units_b.get(group):
            raise ValueError(
                f"{a.get('name')} and {b.get('name')} were not evaluated on the same items ({group} "
                "differs): a paired comparison needs the same benchmark, split and settings"
            )


def paired_difference(
    draws_a: Mapping[str, np.ndarray], draws_b: Mapping[str, np.ndarray], metric: str, level: float
) -> list[float]:
    """The interval of `a - b` on `metric` over the shared resamples (see `require_paired`)."""
    return interval(draws_a[metric] - draws_b[metric], level)


def compare(a: Mapping, b: Mapping, metrics: Sequence[str], cfg: BootstrapConfig) -> list[dict]:
    """`a - b` on each metric both results hold, with its paired interval and whether it excludes 0."""
    require_paired(a, b)
    draws_a, draws_b = bootstrap_draws(a, cfg), bootstrap_draws(b, cfg)
    rows = []
    for metric in metrics:
        if (
            metric in draws_a
            and metric in draws_b
            and a.get(metric) is not None
            and b.get(metric) is not None
        ):
            low, high = paired_difference(draws_a, draws_b, metric, cfg.level)
            difference = float(a[metric]) - float(b[metric])
            rows.append(
                {
                    "metric": metric,
                    "a": a[metric],
                    "b": b[metric],
                    "difference": difference,
                    "interval": [low, high],
                    "differs": low > 0 or high < 0,
                }
            )
    return rows


def rank_ranges(
    draws: Mapping[str, Mapping[str, np.ndarray]], metric: str, level: float, higher_is_better: bool = True
) -> dict[str, tuple[int, int]]:
    """Each row's (best, worst) rank: 1 + the rows surely better, and n - the rows surely worse, where
    "surely" means the paired interval of the difference excludes 0. Rows without the metric are left out."""
    rows = [name for name, d in draws.items() if metric in d]
    sign = 1.0 if higher_is_better else -1.0
    ranks = {}
    for name in rows:
        better = worse = 0
        for other in rows:
            if other != name:
                low, high = interval(sign * (draws[other][metric] - draws[name][metric]), level)
                better += low > 0
                worse += high < 0
        ranks[name] = (1 + better, len(rows) - worse)
    return ranks


def rank_rows(results: list[dict], cfg: BootstrapConfig) -> dict[str, list[int]]:
    """Each row's rank range on its protocol's headline score (LUME: final) by paired bootstrap
    ({} when the rows were not evaluated on the same items, or the protocol has no headline): rows
    whose difference's interval includes 0 share a range."""
    headline = HEADLINES[protocol_name(results[0])] if results else None
    if headline is None:
        return {}
    try:
        for other in results[1:]:
            require_paired(results[0], other)
    except ValueError:
        return {}
    draws = {r["name"]: bootstrap_draws(r, cfg) for r in results}
    ranks = rank_ranges(draws, headline, cfg.level, True)
    return {name: list(rank) for name, rank in ranks.items()}


def seed_summary(runs: Sequence[Mapping], cfg: BootstrapConfig, metric: str = "final") -> dict:
    """One method run with several seeds on the same target: the per-seed values, their mean and
    sample standard deviation (which run), and the bootstrap interval of the mean (which documents;
    the resamples are shared, so each resample averages the seeds' values on the same documents)."""
    values = [float(r[metric]) for r in runs]
    for other in runs[1:]:
        require_paired(runs[0], other)
    mean_draws = np.mean([bootstrap_draws(r, cfg)[metric] for r in runs], axis=0)
    return {
        "metric": metric,
        "seeds": len(values),
        "values": values,
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "interval": interval(mean_draws, cfg.level),
    }
