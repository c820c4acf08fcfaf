"""obliviate: LLM unlearning — methods, LUME-style evaluation, retrain oracles.

The data flows one way: benchmark -> target -> method -> unlearned model (or wrapped subject) ->
evaluation -> report (`data/`, `targets.py`, `methods/` + `unlearn.py`, `subjects/`, `eval/`,
`rows.py` + `leaderboard.py` + `runs.py`); `engine.py` is the one training loop under all of them.
The command line is `obliviate` (see `obliviate --help`); docs/architecture.md maps the modules.
"""

__version__ = "0.1.0"
