"""Presets: the run config of each embedded benchmark, with command-line overrides.

Resolution order: code defaults -> preset -> `--set section.field=value` overrides -> the few
typed options of each command (`--model`, `--data`). The resolved config is printed and saved.

- `smoke`: tiny random Llama on a few synthetic documents; memorizes in well under a minute.
- `default`: SmolLM2-135M-Instruct on a small synthetic benchmark; what `make demo` runs.
- `smoke-lora`, `default-lora`: the same with a LoRA target trained by a recipe that memorizes as the
  full target does (a LoRA target on the full recipe learns little), for `obliviate erase` and
  bench's `erase` row.
- `tofu-smoke`, `tofu-default`, `muse-smoke`, `muse-default`: the same models and recipes on the
  embedded TOFU and MUSE look-alikes (`data/synthetic_tofu.py`, `data/synthetic_muse.py`).
- real LUME: `--data ../shared/data/lume --model <hf id or dir>` on either preset.
"""

from __future__ import annotations

from obliviate.config import RunConfig, parse_override
from obliviate.data.records import Benchmark, subset_benchmark
from obliviate.data.synthetic import SyntheticConfig
from obliviate.data.synthetic import generate as generate_synthetic
from obliviate.engine import TrainConfig
from obliviate.erase.config import RECOMMENDED
from obliviate.eval.config import EvalConfig
from obliviate.models import BaseSpec, TinyConfig
from obliviate.params import PROJECTIONS


def _smoke() -> RunConfig:
    return RunConfig(
        preset="smoke",
        model=BaseSpec(
            name="tiny",
            tiny=TinyConfig(
                vocab_size=1024,
                hidden_size=128,
                num_layers=2,
                num_heads=4,
                intermediate_size=384,
                max_length=256,
            ),
        ),
        synthetic=SyntheticConfig(docs_per_task=1),
        max_length=256,
        target_train=TrainConfig(lr=3e-3, epochs=60, batch_size=8, warmup_ratio=0.05, scheduler="cosine"),
        unlearn_train=TrainConfig(lr=1e-3, epochs=5, batch_size=4, scheduler="constant"),
        eval=EvalConfig(max_new_tokens=128, utility={"kind": "ppl", "text_chars": 4000}),
        # RMU's few trainable matrices need a larger step, and the random tiny model's activations
        # a larger steering norm, to move in 5 epochs
        methods={"rmu": {"steering_coeff": 100.0, "lr": 1e-2}},
    )


def _default() -> RunConfig:
    # Sized for `make demo` on a 2-core CPU, where SmolLM2-135M full fine-tuning runs at ~150-300
    # tokens/s: 4 documents per task and side in the evaluated split, and only that split trained
    # (24 documents x 8 epochs for the target, half of that for the oracle). MIA non-members are
    # never trained on, so 4 per member cost a likelihood pass each and narrow the MIA interval.
    # Unlearning runs 2 epochs. With 3 documents per task and side (and undial as a 4th method) the
    # demo took 15.0 min and its best method did not separate from SUGD at 95%; with 4 it does, in
    # 14.5 min (README, "Leaderboard").
    return RunConfig(
        preset="default",
        model=BaseSpec(name="smollm2-135m"),
        synthetic=SyntheticConfig(docs_per_task=4, nonmembers_per_split=48),
        max_length=256,
        target_splits="evaluated",
        target_train=TrainConfig(
            lr=5e-4, epochs=8, batch_size=8, warmup_ratio=0.05, scheduler="cosine", checkpoint_every=50
        ),
        unlearn_train=TrainConfig(lr=2e-5, epochs=2, batch_size=8, scheduler="constant"),
        # bf16 weights, as the official script loads them: evaluation ~1.7x faster than fp32 here.
        eval=EvalConfig(max_new_tokens=128, dtype="bf16", utility={"qa_max_items": 100, "text_chars": 8000}),
        # Learning rates chosen by `obliviate sweep` on the validation split of the previous synthetic
        # benchmark, at 4 epochs (docs/methods.md, "Tuning"); not re-swept since. At 2 epochs gd's
        # step is doubled and SUGD's chunks run 1 epoch at twice its rate (the same lr x steps): gd at
        # 1e-4 x 2 epochs stayed near the target (final 0.21), and SUGD at 2 epochs cost ~200 s.
        # A split's forget set is ~40 examples here (LUME train: 1112), so SUGD gets chunks of 8.
        methods={
            "ga": {"lr": 4e-5},
            "gd": {"lr": 2e-4},
            "kl": {"lr": 5e-5},
            "npo": {"lr": 1e-4},
            "simnpo": {"lr": 5e-5},
            "idk": {"lr": 1e-4},
            "idkdpo": {"lr": 1e-4},
            "rmu": {"steering_coeff": 100.0, "lr": 2e-2, "epochs": 12},  # activations' norm ~126 here
            "undial": {"lr": 5e-5},
            "sugd": {"chunk_size": 8, "epochs": 1, "lr": 2e-4},
        },
        # ULD's assistant (8 of SmolLM2's 30 layers) needs a larger step than the paper's 1e-3 to
        # learn ~20 forget answers in 60 steps (forget NLL ~19 -> ~6 here)
        inference={"uld": {"lr": 3e-3, "epochs": 20}},
    )


def _variant(base: RunConfig, preset: str, data_format: str, **sections: object) -> RunConfig:
    """`base` with another name, data format, and some fields (or fields of its sections) replaced."""
    data = base.model_dump()
    data.update(preset=preset, data_format=data_format, split="train")  # one split, "train"
    for section, fields in sections.items():
        if not isinstance(fields, dict):
            data[section] = fields
            continue
        for path, value in fields.items():
            node = data[section]
            *parents, last = path.split(".")
            for part in parents:
                node = node[part]
            node[last] = value
    return RunConfig.model_validate(data)


def _tofu_smoke() -> RunConfig:
    # 4 authors x 20 questions (~2.5k tokens): the tiny model memorizes them as it does smoke's.
    return _variant(
        _smoke(),
        "tofu-smoke",
        "tofu",
        synthetic_tofu={
            "authors": 4,
            "forget_authors": 1,
            "retain_eval": 20,
            "real_authors": 10,
            "world_facts": 10,
            "holdout_authors": 1,
        },
        eval={"tofu.max_new_tokens": 48},
    )


def _tofu_default() -> RunConfig:
    # SmolLM2-135M on 8 authors x 20 questions (1 to forget: 12.5%, near TOFU's forget10), ~6.5k tokens
    # an epoch: fine-tuning runs at ~150 tokens/s on a 2-core AVX2 CPU, so target + oracle take ~7 min.
    # lr 1e-4, not the default's 3e-4: it memorizes the answers as well (forget prob 0.91) and keeps
    # more of what the base knew of real authors (ROUGE 0.21 vs 0.0; base 0.40), which model utility reads.
    return _variant(
        _default(),
        "tofu-default",
        "tofu",
        synthetic_tofu={"authors": 8, "forget_authors": 1, "retain_eval": 20, "holdout_authors": 1},
        target_train={"epochs": 5, "lr": 1e-4},
        eval={"tofu.max_new_tokens": 64},
    )


def _muse_smoke() -> RunConfig:
    return _variant(
        _smoke(),
        "muse-smoke",
        "muse",
        max_length=512,  # an article with its key facts: ~400 of the tiny tokenizer's tokens
        model={"tiny.max_length": 512},
        synthetic_muse={"forget_articles": 3, "retain_articles": 4, "holdout_articles": 3, "icl_examples": 2},
        eval={"muse.verbmem_tokens": 48, "muse.knowmem_tokens": 16},
    )


def _muse_default() -> RunConfig:
    # SmolLM2-135M on 6 forget and 8 retain fictitious news articles (+ one more on each side for the
    # in-context examples), ~350 tokens each with their key facts (max_length 512 keeps them whole).
    return _variant(
        _default(),
        "muse-default",
        "muse",
        max_length=512,
        synthetic_muse={"forget_articles": 6, "retain_articles": 8, "holdout_articles": 6, "icl_examples": 6},
    )


def _lora(base: RunConfig, preset: str, rank: int, targets: tuple[str, ...], **train: object) -> RunConfig:
    """`base` with a LoRA target (alpha = 2 x rank) trained by its own recipe, and the edit of
    `obliviate erase` / bench's `erase` row set as docs/erase.md recommends."""
    params = base.target_params.model_copy(
        update={"mode": "lora", "lora_rank": rank, "lora_alpha": 2.0 * rank, "lora_targets": targets}
    )
    erase = RECOMMENDED.model_copy(update={"line_search": True})  # a guard against overshoot
    return base.model_copy(
        update={
            "preset": preset,
            "target_params": params,
            "target_train": base.target_train.model_copy(update=train),
            "erase": erase,
        }
    )


def _smoke_lora() -> RunConfig:
    # The random tiny base has no features an adapter on the projections alone can use (loss ~6.8
    # after 60 epochs at lr 1e-2): the output layer gets one too. lr 3e-3 stalls (loss 4.1 after 60
    # epochs); 1e-3 x 100 epochs memorizes (41 s on 2 cores).
    return _lora(_smoke(), "smoke-lora", 64, (*PROJECTIONS, "lm_head"), lr=1e-3, epochs=100)


def _default_lora() -> RunConfig:
    # The default preset's recipe (lr 3e-4, 7 epochs, r 8) leaves a LoRA target at the base model's
    # forget regurgitation (0.16); r 32, lr 2e-3, 10 epochs reaches 0.95 (split=test) in 395 s
    # (both measured on the previous default benchmark: 2 documents per task and side, all splits).
    return _lora(_default(), "default-lora", 32, PROJECTIONS, lr=2e-3, epochs=10)


PRESETS = {
    "smoke": _smoke,
    "default": _default,
    "smoke-lora": _smoke_lora,
    "default-lora": _default_lora,
    "tofu-smoke": _tofu_smoke,
    "tofu-default": _tofu_default,
    "muse-smoke": _muse_smoke,
    "muse-default": _muse_default,
}


def resolve_config(preset: str, overrides: list[str] = (), **options: object) -> RunConfig:
    """Preset -> dotted `--set` overrides -> typed options (those not None). Validates the result."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    data = PRESETS[preset]().model_dump()
    for text in overrides:
        path, value = parse_override(text)
        # Sections that start empty take any field here; the model's validation names a wrong one:
        # `unlearn_params` (None until set), `methods.<method>.<field>`, `inference.<method>.<field>`.
        open_section = path[0] == "unlearn_params" or (path[0] in ("methods", "inference") and len(path) == 3)
        node = data
        for part in path[:-1]:
            if open_section and isinstance(node, dict) and node.get(part) is None:
                node[part] = {}
            if not isinstance(node, dict) or part not in node:
                raise ValueError(f"--set {text!r}: unknown section {part!r}")
            node = node[part]
        if not isinstance(node, dict) or (path[-1] not in node and not open_section):
            raise ValueError(f"--set {text!r}: unknown field {path[-1]!r}")
        node[path[-1]] = value
    for key, value in options.items():
        if value is None:
            continue
        if key == "model":
            data["model"]["name"] = value
        else:
            data[key] = value
    return RunConfig.model_validate(data)


def load_run_benchmark(cfg: RunConfig) -> Benchmark:
    """The benchmark a run config names: a data directory (read as `data_format` says), or the
    synthetic generator of that format."""
    if cfg.data is not None:
        from obliviate.data import load_benchmark

        benchmark = load_benchmark(cfg.data, format=cfg.data_format, tofu_forget=cfg.tofu_forget)
        if cfg.docs_per_task and benchmark.protocol != "lume":
            raise ValueError(
                f"docs_per_task slices LUME's tasks; a {benchmark.protocol} benchmark's question sets "
                "would keep questions on documents it drops (leave docs_per_task unset)"
            )
        return subset_benchmark(benchmark, cfg.docs_per_task) if cfg.docs_per_task else benchmark
    if cfg.data_format == "tofu":
        from obliviate.data.synthetic_tofu import generate_tofu

        return generate_tofu(cfg.synthetic_tofu)
    if cfg.data_format == "muse":
        from obliviate.data.synthetic_muse import generate_muse

        return generate_muse(cfg.synthetic_muse)
    if cfg.data_format == "jsonl":
        raise ValueError("data_format=jsonl reads your own files: give --data DIR")
    return generate_synthetic(cfg.synthetic)
