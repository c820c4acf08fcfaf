"""obliviate: LLM unlearning — methods, LUME-style evaluation, retrain oracles.

The data flows one way: benchmark -> target -> method -> unlearned model (or wrapped subject) ->
attacks -> evaluation -> report (`data/`, `targets.py`, `methods/` + `unlearn.py`, `subjects/`,
`attacks/`, `eval/`, `rows.py` + `leaderboard.py` + `runs.py`); `engine.py` is the one training
loop under all of them. The command line is `obliviate` (see `obliviate --help`);
docs/architecture.md maps the modules.
"""

import logging

__version__ = "0.1.0"

# peft imports bitsandbytes, whose CPU backend warns that an optional matmul kernel (downloaded from
# the hub) is missing; the quantization attacks only quantize and dequantize weights, never use it
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
