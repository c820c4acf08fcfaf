"""obliviate: LLM unlearning — methods, LUME-style evaluation, retrain oracles.

The data flows one way: benchmark -> target -> method -> unlearned model -> evaluation -> report
(`perf/`, `targets.py`, `methods/` + `unlearn.py`, `eval/`, `bench.py`); `engine.py` is the one
training loop under all of them. The command line is `obliviate` (see `obliviate --help`).
"""

__version__ = "0.1.0"
