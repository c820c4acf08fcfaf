"""obliviate: LLM unlearning — methods, LUME-style evaluation, retrain oracles.

The data flows one way: benchmark -> target -> method -> unlearned model (or wrapped subject) ->
attacks -> evaluation -> report (`data/`, `targets.py`, `methods/` + `unlearn.py`, `subjects/`,
`attacks/`, `eval/`, `rows.py` + `leaderboard.py` + `runs.py`); `engine.py` is the one training
loop under all of them. The command line is `obliviate` (see `obliviate --help`);
docs/architecture.md maps the modules; the Python API is `obliviate.run_config`, `load_benchmark`,
`build_target`, `run_unlearning`, `evaluate`, `attack`, `bench`, `write_report` and `forget` (`api.py`).
"""

import logging

__version__ = "0.1.0"

# peft imports bitsandbytes, whose CPU backend warns that an optional matmul kernel (downloaded from
# the hub) is missing; the quantization attacks only quantize and dequantize weights, never use it
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

# The Python API (`obliviate.api`), loaded on first use: `import obliviate` stays light (no torch),
# which keeps the command line quick to start.
API = (
    "ForgetConfig",
    "ForgetResult",
    "attack",
    "bench",
    "build_target",
    "evaluate",
    "forget",
    "load_benchmark",
    "run_config",
    "run_unlearning",
    "write_report",
)


def __getattr__(name: str):
    if name in API:
        from obliviate import api

        return getattr(api, name)
    raise AttributeError(f"module 'obliviate' has no attribute {name!r}")
