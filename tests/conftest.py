"""Shared fixtures: an offline environment, a tiny random Llama, and the smoke target built once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(min(2, os.cpu_count() or 1))

SHARED_LUME = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lume"


def tiny_llama(seed: int = 0, vocab: int = 64, hidden: int = 32, layers: int = 2):
    """A two-layer random Llama with no tokenizer, for engine tests on random token ids."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(config)


def random_examples(n: int, length: int, vocab: int = 64, seed: int = 0):
    """`n` equal-length examples of random tokens (every token a label)."""
    from obliviate.training_data import Example

    g = torch.Generator().manual_seed(seed)
    rows = torch.randint(3, vocab, (n, length), generator=g).tolist()
    return [Example(tuple(r), tuple(r)) for r in rows]


def lume_means(model_dir: Path, benchmark, split: str = "train", max_new_tokens: int = 128) -> dict:
    """The four LUME means (regurgitation / knowledge on forget / retain) of a saved model."""
    from obliviate.eval.config import EvalConfig
    from obliviate.eval.protocols.lume import generation_items, side_means
    from obliviate.subjects import HFSubject

    cfg = EvalConfig(max_new_tokens=max_new_tokens)
    return side_means(generation_items(HFSubject(model_dir), benchmark.split(split), cfg))


@pytest.fixture(scope="session")
def smoke_cfg(tmp_path_factory):
    from obliviate.presets import resolve_config

    root = tmp_path_factory.mktemp("smoke")
    return resolve_config(
        "smoke",
        ["target_train.progress=false", "unlearn_train.progress=false"],
        cache_dir=root / "cache",
        out_dir=root / "runs",
    )


@pytest.fixture(scope="session")
def smoke_benchmark(smoke_cfg):
    from obliviate.presets import load_run_benchmark

    return load_run_benchmark(smoke_cfg)


@pytest.fixture(scope="session")
def smoke_target(smoke_cfg, smoke_benchmark):
    from obliviate.targets import build_target

    return build_target(smoke_cfg, smoke_benchmark, "target")


@pytest.fixture(scope="session")
def smoke_oracle(smoke_cfg, smoke_benchmark):
    from obliviate.targets import build_target

    return build_target(smoke_cfg, smoke_benchmark, "oracle")


def target_or_base(which: str, cfg, benchmark, target_dir: Path):
    """(model, tokenizer) of the smoke target (stops at EOS) or the random base (rambles to the limit)."""
    from obliviate.models import load_base, load_model

    if which == "target":
        return load_model(target_dir / "model")
    model, tokenizer, _ = load_base(cfg.model, cfg.cache_dir, benchmark.texts())
    return model, tokenizer


def mean_nll(model, tokenizer, docs, max_length) -> float:
    """Pooled NLL of the documents' training answers under `model`."""
    from obliviate.numerics import nll
    from obliviate.training_data import collate, tokenize_documents

    batch = collate(tokenize_documents(tokenizer, docs, max_length), tokenizer.pad_token_id)
    with torch.no_grad():
        return nll(model, batch).item()


@pytest.fixture(scope="session")
def target_nlls(smoke_cfg, smoke_benchmark, smoke_target):
    """The smoke target's mean NLL on the forget and on the retain documents of the smoke split."""
    from obliviate.targets import load_target

    model, tokenizer = load_target(smoke_target)
    split = smoke_benchmark.split(smoke_cfg.split)
    return {
        k: mean_nll(model, tokenizer, getattr(split, k), smoke_cfg.max_length) for k in ("forget", "retain")
    }


@pytest.fixture(scope="session")
def smoke_bench(smoke_cfg, smoke_target, smoke_oracle):
    """(run directory, CLI result) of one smoke bench with the base row and gd, shared by the tests
    of the command line and of its report."""
    from typer.testing import CliRunner

    from obliviate.cli import app

    args = ["bench", "--preset", "smoke", "--methods", "gd,oracle", "--base"]
    args += ["--cache-dir", str(smoke_cfg.cache_dir), "--out-dir", str(smoke_cfg.out_dir)]
    args += ["--set", "target_train.progress=false", "--set", "unlearn_train.progress=false"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return latest_run(smoke_cfg.out_dir, "bench"), result


def latest_run(out_dir: Path, command: str) -> Path:
    """The directory of the newest run of `command` under `out_dir` (`obliviate.runs`)."""
    from obliviate.runs import list_runs

    found = [r for r in list_runs(out_dir) if r["command"] == command]
    assert found, f"no {command} run under {out_dir}"
    return Path(found[0]["dir"])
