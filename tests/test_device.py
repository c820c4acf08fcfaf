"""Device selection: CUDA when present, else the CPU; an unavailable device is one clear error."""

from __future__ import annotations

import pytest
import torch

from obliviate.device import model_device, pick_device, place
from obliviate.eval.config import EvalConfig
from obliviate.subjects import load_subject


def test_auto_takes_cuda_only_when_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")
    assert pick_device("cuda:1") == torch.device("cuda:1")
    assert pick_device("CPU") == torch.device("cpu")


def test_unavailable_or_unknown_devices_are_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA device is available"):
        pick_device("cuda")
    with pytest.raises(ValueError, match="expected one of auto, cpu"):
        pick_device("tpu")
    with pytest.raises(ValueError, match="device"):
        EvalConfig(device="gpu0")


def test_place_and_the_subject_follow_the_choice(monkeypatch, tmp_path):
    model = torch.nn.Linear(2, 2)
    assert place(model, "cpu") is model and model_device(model) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    subject = load_subject(tmp_path, EvalConfig(dtype="bf16"))  # loads nothing until a pass
    assert subject.device == torch.device("cpu") and subject.dtype == "bf16"
    assert subject.numerics == "one-at-a-time"
    assert load_subject(tmp_path, EvalConfig()).dtype == "fp32"  # auto on a CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    on_gpu = load_subject(tmp_path, EvalConfig())  # nothing is loaded, so no GPU is touched
    assert (on_gpu.device.type, on_gpu.dtype, on_gpu.numerics) == ("cuda", "bf16", "batched")


def test_a_gpu_that_emulates_bf16_is_not_native(monkeypatch):
    from obliviate.device import native_bf16

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    # a pre-Ampere GPU: bf16 only through the emulation torch counts in by default
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert native_bf16() is False
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert native_bf16() is True


def test_rows_are_attacked_in_turn_where_a_gpu_is_present(monkeypatch, tmp_path):
    """Forked workers cannot use CUDA once the parent did, even with the attacks on the CPU."""
    from types import SimpleNamespace

    from obliviate.config import RunConfig
    from obliviate.rows import attack_workers

    cfg = RunConfig.model_validate({"eval": {"device": "cpu"}, "attacks": {"workers": 2}})
    ev = SimpleNamespace(cfg=cfg, points={"target": tmp_path})
    monkeypatch.setattr("obliviate.workers.fork_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert attack_workers(ev, rows=3) == 2
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert attack_workers(ev, rows=3) == 1


def test_bf16_on_a_cpu_without_native_bf16_warns(tmp_path, monkeypatch):
    import warnings

    import obliviate.subjects as subjects

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(subjects, "native_bf16", lambda: False)
    with pytest.warns(UserWarning, match="emulated, ~15x slower than fp32"):
        load_subject(tmp_path, EvalConfig(dtype="bf16"))
    monkeypatch.setattr(subjects, "native_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # native bf16, or fp32: no warning
        load_subject(tmp_path, EvalConfig(dtype="bf16"))
        monkeypatch.setattr(subjects, "native_bf16", lambda: False)
        load_subject(tmp_path, EvalConfig(dtype="fp32"))
