"""Protocols: a benchmark's way of turning a subject's passes into its metrics.

A protocol is a module with `NAME` and

    run(subject, split, cfg, baseline) -> (metrics: dict, timings: dict)

that asks the subject for passes (`obliviate.subjects`) and computes its metrics with the pure
functions of `eval/metrics/`. The generic evaluation (`eval/evaluate.py`) adds what every result
carries (names, fingerprints, settings, versions). Adding a benchmark protocol: one file here
and its test.
"""

from obliviate.eval.protocols import lume

PROTOCOLS = {lume.NAME: lume}
