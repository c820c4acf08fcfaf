"""Targets and oracles on the smoke preset: memorization, the oracle's ignorance, the cache."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from obliviate import targets as targets_module
from obliviate.data.synthetic import SyntheticConfig, generate
from obliviate.targets import build_target, target_dir, training_documents
from tests.conftest import lume_means


def test_smoke_target_memorizes_forget_and_retain(smoke_cfg, smoke_benchmark, smoke_target):
    scores = lume_means(smoke_target / "model", smoke_benchmark)
    assert scores["regurgitation/forget"] >= 0.9
    assert scores["regurgitation/retain"] >= 0.9
    assert scores["knowledge/forget"] >= 0.6


def test_oracle_never_saw_the_forget_set(smoke_cfg, smoke_benchmark, smoke_target, smoke_oracle):
    assert smoke_oracle != smoke_target
    meta = json.loads((smoke_oracle / "target.json").read_text())
    assert meta["kind"] == "oracle"
    assert meta["documents"] == len(smoke_benchmark.all_documents("retain"))
    forget_ids = {d.id for d in smoke_benchmark.all_documents("forget")}
    assert not forget_ids & {d.id for d in training_documents(smoke_cfg, smoke_benchmark, "oracle")}
    scores = lume_means(smoke_oracle / "model", smoke_benchmark)
    assert scores["regurgitation/retain"] >= 0.9
    assert scores["regurgitation/forget"] < 0.6  # it can only guess the style, not the text


def test_cache_hit_reuses_and_a_changed_input_misses(smoke_cfg, smoke_benchmark, smoke_target, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a cached target was retrained")

    monkeypatch.setattr(targets_module, "train", no_training)
    assert build_target(smoke_cfg, smoke_benchmark, "target") == smoke_target  # hit: no training
    fingerprint = json.loads((smoke_target / "target.json").read_text())["base_fingerprint"]
    changed_lr = smoke_cfg.model_copy(
        update={"target_train": smoke_cfg.target_train.model_copy(update={"lr": 1e-3})}
    )
    assert target_dir(changed_lr, smoke_benchmark, fingerprint, "target") != smoke_target
    changed_progress = smoke_cfg.model_copy(
        update={"target_train": smoke_cfg.target_train.model_copy(update={"progress": True})}
    )
    assert target_dir(changed_progress, smoke_benchmark, fingerprint, "target") == smoke_target
    with pytest.raises(AssertionError, match="retrained"):  # a miss really trains
        build_target(changed_lr, smoke_benchmark, "target")


def test_key_follows_the_documents_trained_on(smoke_cfg):
    """Non-members (and, with target_splits=evaluated, other splits) change no target's key; a
    document trained on does."""
    bench = generate(SyntheticConfig(docs_per_task=1))
    test, validation = bench.splits["test"], bench.splits["validation"]
    more_nonmembers = replace(
        bench, splits={**bench.splits, "test": replace(test, nonmember=test.nonmember + validation.nonmember)}
    )
    assert more_nonmembers.fingerprint() != bench.fingerprint()
    test_only = smoke_cfg.model_copy(update={"split": "test", "target_splits": "evaluated"})
    other_train = replace(bench, splits={**bench.splits, "train": validation})
    other_test_doc = replace(bench, splits={**bench.splits, "test": replace(test, retain=test.forget)})
    for kind in ("target", "oracle"):
        key = target_dir(smoke_cfg, bench, "base", kind)
        assert target_dir(smoke_cfg, more_nonmembers, "base", kind) == key
        assert target_dir(smoke_cfg, other_train, "base", kind) != key  # every split trains
        test_key = target_dir(test_only, bench, "base", kind)
        assert test_key != key
        assert target_dir(test_only, other_train, "base", kind) == test_key
        assert target_dir(test_only, other_test_doc, "base", kind) != test_key
    assert {d.id for d in training_documents(test_only, bench, "target")} == {
        d.id for d in (*test.forget, *test.retain)
    }
    assert training_documents(test_only, bench, "oracle") == test.retain


def test_smoke_lora_target_memorizes_and_keeps_its_adapter(smoke_cfg, smoke_benchmark):
    from peft import PeftConfig

    from obliviate.presets import resolve_config

    overrides = ["target_train.progress=false"]
    lora = resolve_config("smoke-lora", overrides, cache_dir=smoke_cfg.cache_dir, out_dir=smoke_cfg.out_dir)
    assert lora.target_params.mode == "lora"
    path = build_target(lora, smoke_benchmark, "target")
    scores = lume_means(path / "model", smoke_benchmark)  # the merged model: adapter and base as one
    assert scores["regurgitation/forget"] >= 0.9
    assert scores["regurgitation/retain"] >= 0.9
    adapter = PeftConfig.from_pretrained(path / "adapter")
    assert adapter.r == lora.target_params.lora_rank
    from safetensors import safe_open

    meta = json.loads((path / "target.json").read_text())
    with safe_open(str(path / "adapter" / "adapter_model.safetensors"), "pt") as saved:
        saved_lora = sum(math.prod(saved.get_slice(k).get_shape()) for k in saved.keys() if "lora_" in k)
    assert meta["trainable_parameters"] == saved_lora  # what was trained is what was saved
    assert not (path.with_name(path.name + ".partial")).exists()


CONCURRENT_BUILD = """
import sys, time
from pathlib import Path
from obliviate import targets
from obliviate.presets import load_run_benchmark, resolve_config

root, me, other = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
train = targets.train

def train_and_record(*args, **kwargs):
    with open(root / "trained", "a") as f:
        f.write(me + "\\n")
    return train(*args, **kwargs)

targets.train = train_and_record
overrides = ["target_train.max_steps=4", "target_train.checkpoint_every=1", "target_train.progress=false"]
cfg = resolve_config("smoke", overrides, cache_dir=root / "cache", out_dir=root / "runs")
benchmark = load_run_benchmark(cfg)
(root / me).touch()
while not (root / other).exists():  # start both builds at the same moment
    time.sleep(0.01)
print(targets.build_target(cfg, benchmark, "target"))
"""


def test_two_processes_building_one_target_train_it_once(tmp_path):
    script = tmp_path / "build.py"
    script.write_text(CONCURRENT_BUILD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), me, other],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    built = {Path(out.strip().splitlines()[-1]) for out, _ in outputs}
    assert len(built) == 1  # both return the same directory
    final = built.pop()
    assert (final / "target.json").is_file() and (final / "model" / "config.json").is_file()
    assert not final.with_name(final.name + ".partial").exists()
    assert len((tmp_path / "trained").read_text().split()) == 1  # trained once, reused once
    waits = [line for _, err in outputs for line in err.splitlines() if line.startswith("waiting for")]
    # the one that did not train waited for the target's lock (and either may have waited for the base's)
    lock = final.with_name(f".{final.name}.lock")
    assert f"waiting for {lock}: another process is building {final.name}" in waits
