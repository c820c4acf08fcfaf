"""Protocols: a benchmark's way of turning a subject's passes into its metrics.

A protocol is a module with

    NAME                                  # the name a `Benchmark.protocol` gives
    run(subject, split, cfg, baseline) -> (metrics: dict, timings: dict)
    draws(result, bootstrap_cfg) -> {metric: (resamples,) array}   # from a saved result alone
    COLUMNS                               # the leaderboard's metric columns, in order
    HEADLINE                              # the metric rows are sorted and ranked by, or None

`run` asks the subject for passes (`obliviate.subjects`) and computes its metrics with the pure
functions of `eval/metrics/`, keeping per-item values so that `draws` can resample them. The
generic evaluation (`eval/evaluate.py`) adds what every result carries (names, fingerprints,
settings, versions). Adding a benchmark protocol: one file here and its test.
"""

from obliviate.eval.protocols import lume, muse, tofu

PROTOCOLS = {module.NAME: module for module in (lume, tofu, muse)}


def protocol_of(result_or_name) -> object:
    """The protocol module of a name or of a saved result (results before protocols: LUME)."""
    name = result_or_name if isinstance(result_or_name, str) else result_or_name.get("protocol", "lume")
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
