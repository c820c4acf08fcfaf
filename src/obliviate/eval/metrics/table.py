"""The metric table: every number an evaluation result holds, what it means, and which way is
better. The terminal table, the Markdown leaderboard and later reports read their columns,
headers and arrows from here; nothing else hard-codes them.

Keys are `family` for a headline number and `family/qualifier` for its parts: `regurgitation/forget`,
`mia/loss/auc`, `utility/ppl_ratio`. `higher_is_better` is None where neither direction is better
(an MIA AUC: 0.5 is best, which its `score` rewards). `reads` names what a metric is computed from:
the split's `forget` / `retain` prompts, its `member` / `nonmember` documents, or the `utility` set.
"""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.eval.metrics.mia import ATTACKS


@dataclass(frozen=True)
class Metric:
    key: str
    header: str  # short column header, without the arrow
    description: str
    higher_is_better: bool | None
    reads: tuple[str, ...]

    @property
    def column(self) -> str:
        """The column header: `↓` marks a metric that is better low."""
        return self.header + (" ↓" if self.higher_is_better is False else "")


_LUME = ("forget", "retain")
_MIA = ("member", "nonmember")
_ALL = (*_LUME, *_MIA, "utility")
_TOFU_SETS = (("forget", False), ("retain", True), ("real_authors", True), ("world_facts", True))

METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("final", "final", "LUME's final score: mean(task aggregate, MIA, utility)", True, _ALL),
        Metric(
            "task_aggregate",
            "task agg",
            "harmonic mean of the per-task regurgitation and knowledge values, forget ones as 1 - value",
            True,
            _LUME,
        ),
        Metric(
            "regurgitation/forget",
            "forget regurg",
            "ROUGE-L recall of greedy continuations of the forget documents' sc prompts",
            False,
            ("forget",),
        ),
        Metric(
            "knowledge/forget",
            "forget knowl",
            "exact match of greedy answers to the forget documents' qa prompts",
            False,
            ("forget",),
        ),
        Metric(
            "regurgitation/retain",
            "retain regurg",
            "ROUGE-L recall of greedy continuations of the retain documents' sc prompts",
            True,
            ("retain",),
        ),
        Metric(
            "knowledge/retain",
            "retain knowl",
            "exact match of greedy answers to the retain documents' qa prompts",
            True,
            ("retain",),
        ),
        Metric("mia", "MIA", "LUME's MIA score: 1 - 2|AUC - 0.5| of the loss attack", True, _MIA),
        Metric(
            "utility",
            "utility",
            "the utility that enters the final score (see utility/kind)",
            True,
            ("utility",),
        ),
        Metric(
            "utility/qa_fraction",
            "QA kept",
            "fraction of the general-knowledge QA items the base model answers that this one still does",
            True,
            ("utility",),
        ),
        Metric("utility/mmlu", "MMLU", "MMLU accuracy through lm-eval", True, ("utility",)),
        Metric("utility/ppl", "ppl", "perplexity on the reference text", False, ("utility",)),
        Metric(
            "utility/ppl_ratio",
            "ppl ratio",
            "perplexity over the target's on the reference text",
            False,
            ("utility",),
        ),
        # TOFU (eval/protocols/tofu.py)
        Metric(
            "forget_quality",
            "forget quality",
            "TOFU: p-value of the KS test between this model's and the retrain oracle's forget truth "
            "ratios (1: indistinguishable from the oracle)",
            True,
            ("forget",),
        ),
        Metric(
            "model_utility",
            "model utility",
            "TOFU: harmonic mean of probability, ROUGE and truth ratio on retain, real authors, world facts",
            True,
            ("retain", "real_authors", "world_facts"),
        ),
        *(
            metric
            for side, better in _TOFU_SETS
            for metric in (
                Metric(
                    f"{side}/prob",
                    f"{side.replace('_', ' ')} prob",
                    f"TOFU: mean length-normalised answer probability on the {side} questions"
                    + (" (normalised over the options)" if side in ("real_authors", "world_facts") else ""),
                    better,
                    (side,),
                ),
                Metric(
                    f"{side}/rouge",
                    f"{side.replace('_', ' ')} ROUGE",
                    f"TOFU: ROUGE-L recall of greedy answers to the {side} questions",
                    better,
                    (side,),
                ),
                Metric(
                    f"{side}/truth_ratio",
                    f"{side.replace('_', ' ')} TR",
                    "TOFU: mean min(TR, 1/TR) of the forget questions (1: true and wrong answers alike)"
                    if side == "forget"
                    else f"TOFU: mean max(0, 1 - TR) of the {side} questions (1: the true answer likelier)",
                    None if side == "forget" else True,
                    (side,),
                ),
            )
        ),
        Metric(
            "privleak",
            "PrivLeak",
            "(AUC - oracle's AUC) / oracle's AUC × 100 of Min-40% on forget vs holdout: 0 is best, "
            "-100 a model that memorised the forget set, large positive over-unlearning",
            None,
            ("forget", "holdout"),
        ),
        # MUSE (eval/protocols/muse.py)
        Metric(
            "verbmem/forget",
            "VerbMem",
            "MUSE: ROUGE-L F1 × 100 of greedy continuations of forget prompts (verbatim memorisation)",
            False,
            ("verbmem",),
        ),
        Metric(
            "knowmem/forget",
            "KnowMem forget",
            "MUSE: ROUGE-L F1 × 100 of in-context answers to forget questions (knowledge memorisation)",
            False,
            ("knowmem_forget",),
        ),
        Metric(
            "knowmem/retain",
            "KnowMem retain",
            "MUSE: ROUGE-L F1 × 100 of in-context answers to retain questions (utility preservation)",
            True,
            ("knowmem_retain",),
        ),
        *(
            metric
            for attack, what in ATTACKS.items()
            for metric in (
                Metric(f"mia/{attack}/auc", f"{attack} AUC", f"ROC AUC, members = 1: {what}", None, _MIA),
                Metric(f"mia/{attack}/score", f"{attack} MIA", f"1 - 2|AUC - 0.5| of: {what}", True, _MIA),
            )
        ),
    )
}

# The columns of every leaderboard, in order.
LEADERBOARD = (
    "final",
    "task_aggregate",
    "regurgitation/forget",
    "knowledge/forget",
    "regurgitation/retain",
    "knowledge/retain",
    "mia",
    "utility",
)


# Each protocol's columns and the score it ranks rows by (None: rows keep their order); the
# protocol modules (`eval/protocols/`) read these, and so can a report that loads no model.
PROTOCOL_COLUMNS = {
    "lume": LEADERBOARD,
    "tofu": (
        "forget_quality",
        "model_utility",
        "forget/rouge",
        "forget/prob",
        "forget/truth_ratio",
        "retain/rouge",
        "retain/prob",
        "retain/truth_ratio",
        "privleak",
    ),
    "muse": ("verbmem/forget", "knowmem/forget", "knowmem/retain", "privleak"),
}
HEADLINES = {"lume": "final", "tofu": None, "muse": None}  # TOFU, MUSE: no single score


def protocol_name(row_or_result) -> str:
    """The protocol of a saved result or leaderboard row (saved before protocols: LUME)."""
    name = row_or_result.get("protocol", "lume")
    if name not in PROTOCOL_COLUMNS:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOL_COLUMNS)}")
    return name


def columns_of(rows) -> tuple[str, ...]:
    """The metric columns of leaderboard rows or results (their protocol's)."""
    rows = list(rows)
    return PROTOCOL_COLUMNS[protocol_name(rows[0]) if rows else "lume"]


def metric(key: str) -> Metric:
    if key not in METRICS:
        raise KeyError(f"unknown metric {key!r}; known: {', '.join(METRICS)}")
    return METRICS[key]


# cost columns: key -> header
COST_COLUMNS = {
    "train_seconds": "wall s",
    "peak_rss_mb": "peak MB",
    "parameters_changed": "params changed",
    "serve_overhead": "serve ×",  # inference-time rows: generation time over the plain target's
    "retain_flagged": "retain flagged",  # the guardrail: share of retain prompts it flags
}


def fmt(value: object, interval: list[float] | None = None) -> str:
    """`0.706`, or with its interval `0.706 [0.330, 0.746]`; `-` for a missing value."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")
    return str(value)


def fmt_metric(row: dict, key: str) -> str:
    return fmt(row.get(key), (row.get("intervals") or {}).get(key))


def fmt_rank(row: dict) -> str:
    rank = row.get("rank")
    return format_rank(*rank) if rank else "-"


def fmt_cost(key: str, value: object) -> str:
    if value is None:
        return "-"
    if key == "parameters_changed":
        return f"{value / 1e6:.2f}M" if value >= 1e5 else str(value)
    if key == "serve_overhead":
        return f"{value:.2f}"
    if key == "retain_flagged":
        return f"{value:.0%}"
    return f"{value:.0f}"


def format_rank(best: int, worst: int) -> str:
    """A rank range: `2`, or `1–3` for a row the paired bootstrap cannot place more precisely."""
    return str(best) if best == worst else f"{best}–{worst}"


def seeds_table(summaries: dict[str, dict], level: float) -> tuple[list[str], list[list[str]]]:
    """(header, cells) of the seeds table (`uncertainty.seed_summary` per method): the final score
    of each seed, their mean and spread, and the bootstrap interval of the mean (they answer
    different questions: which run, which documents)."""
    header = ["method", "seeds", "final per seed", "mean", "seed std", f"bootstrap {level:.0%} of the mean"]
    rows = []
    for method, s in summaries.items():
        low, high = s["interval"]
        values = ", ".join(f"{v:.3f}" for v in s["values"])
        rows.append(
            [
                method,
                str(s["seeds"]),
                values,
                f"{s['mean']:.3f}",
                f"{s['std']:.3f}",
                f"[{low:.3f}, {high:.3f}]",
            ]
        )
    return header, rows
