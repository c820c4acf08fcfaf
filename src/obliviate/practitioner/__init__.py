"""`obliviate forget`: remove records from your own model, verify it without an oracle, and get the
model back with a report and a model card. No benchmark: the given model is the target.

    result = forget("my-model/", "forget.jsonl", "my-model-forgot/")
    result.verdicts        # record id -> before / after / under each attack, and the verdict

1. The records (`records.py`) are asked back from the model; those it does not produce are reported
   before any training and left out (nothing to unlearn; `keep_unproduced` trains on them anyway).
2. The retain set is the user's file, or the model's own answers to this project's general prompts
   that are unrelated to the records (`retain_bank.py`); held-out answers are kept for the check.
3. The method (default: gradient difference with the KL retain term, full fine-tuning up to
   `lora_above` parameters, LoRA above) runs through `obliviate.unlearn` for `steps` optimizer steps.
4. The model before and after are evaluated like any bench row, split `verify`: the records' prompts,
   the held-out answers, utility, and a membership test of the records against look-alikes
   (`records.look_alikes`, or the user's); then attacked (`attacks`). `verify.py` turns that into a
   verdict per record; `card.py` writes the model card.

Output directory: `model/` (the edited model, merged), `adapter/` (LoRA runs), `report.html`,
`verification.json` (per-record recalls and verdicts, with the records' ids) and `README.md` (the
model card: hashes, never the records' text). It is written whole or not at all.
"""

from __future__ import annotations

import math
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator

from obliviate.config_base import StrictModel

# Evaluation settings of a forget run under the user's own: weights in the CPU's or GPU's own dtype
# (the default preset's bf16 copies LUME's official script, which a user's model need not), and
# short generations (a record is asked back from its start; 64 tokens cover its reference).
FORGET_EVAL = ("eval.dtype=auto", "eval.max_new_tokens=64")


# LoRA trains a low-rank update of few parameters: it needs a larger step than full fine-tuning.
LORA_LR_FACTOR = 10.0


class ForgetConfig(StrictModel):
    """Settings of `obliviate forget` (`--set forget.<field>=value`)."""

    method: str = Field("gd", description="unlearning method (gd: the toolkit's best measured on SmolLM2)")
    retain_loss: str = Field("kl", description="retain term: kl (keeps the model's own distribution) or nll")
    lr: float | None = Field(
        None, gt=0, description="learning rate (None: the preset's for the method; x10 for LoRA)"
    )
    steps: int = Field(60, ge=1, description="at most this many optimizer steps (epochs follow from it)")
    check_every: int = Field(
        1, ge=1, description="ask the records back every this many steps; stop once none is produced"
    )
    batch_size: int = Field(4, ge=1, description="records per step (each with a retain example)")
    lora_above: int = Field(
        1_000_000_000,
        ge=0,
        description="train a LoRA adapter instead of every weight above this many parameters",
    )
    produced_threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="a record is produced when a generation recalls this share of it (ROUGE-L)",
    )
    keep_unproduced: bool = Field(False, description="also train on records the model does not produce")
    retain_items: int = Field(48, ge=1, description="automatic retain set: general answers trained on")
    check_items: int = Field(32, ge=1, description="general answers held out to check the model keeps them")
    answer_tokens: int = Field(32, ge=1, description="greedy tokens of each general answer")
    related: str = Field(
        "embedding", pattern="^(embedding|overlap)$", description="how relatedness is measured"
    )
    related_threshold: float = Field(
        0.5, gt=0, le=1, description="general prompts this similar to a record are dropped"
    )
    retain_tolerance: float = Field(
        0.1,
        ge=0,
        le=1,
        description="your retain records' mean recall may fall this much before the check fails",
    )
    # The model's own 32-token answers are brittle: SmolLM2-135M quantized to 8 bits (RTN) keeps a
    # mean recall of 0.77 of them, to 4 bits 0.25 (README, "Forget records from your own model").
    held_out_tolerance: float = Field(
        0.4, ge=0, le=1, description="without retain records: the held-out answers' recall may fall this much"
    )
    attacks: tuple[str, ...] = Field(
        ("quant4", "probes"), description="attacks run on the model before and after"
    )
    seed: int = Field(0, description="retain split, look-alikes, example order")

    @field_validator("attacks")
    @classmethod
    def _known_attacks(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        from obliviate.attacks.run import ATTACKS, parse_attacks

        if names:
            parse_attacks(",".join(names))
        trained = [n for n in names if not ATTACKS[n].held_out]
        if trained:
            raise ValueError(f"{trained[0]} asks the records it trains on: every record would come back")
        return names


@dataclass
class ForgetResult:
    out: Path
    verification: dict
    run_dir: Path

    @property
    def verdicts(self) -> dict[str, dict]:
        return self.verification["records"]


def given_target(cfg, adapter: Path | None = None) -> Path:
    """The user's model as a target directory `<cache>/targets/given-<fingerprint>/` whose `model`
    is a link to the model directory, or the model with its adapter merged, or (a hub id) a saved
    copy."""
    from obliviate.atomic import publish_dir, temporary_dir, write_json_atomic
    from obliviate.keys import content_key
    from obliviate.locks import build_lock
    from obliviate.models import dir_fingerprint, load_model, resolve_base

    path, fingerprint = resolve_base(cfg.model, cfg.cache_dir)
    if adapter is not None:
        if not (Path(adapter) / "adapter_config.json").is_file():
            raise ValueError(f"{adapter}: not a LoRA adapter directory (no adapter_config.json)")
        fingerprint = content_key({"model": fingerprint, "adapter": dir_fingerprint(Path(adapter))})
    final = cfg.cache_dir / "targets" / f"given-{fingerprint}"
    with build_lock(final):
        linked = final / "model"
        # a linked model must still be the given directory (a moved or copied model keeps its
        # fingerprint, and the old path may since hold other weights)
        if (final / "target.json").is_file() and (
            not linked.is_symlink() or linked.resolve() == Path(path).resolve()
        ):
            return final
        tmp = temporary_dir(final)
        if adapter is None and Path(path).is_dir():
            (tmp / "model").symlink_to(Path(path).resolve(), target_is_directory=True)
        else:
            from obliviate.engine import save_model

            model, tokenizer = load_model(path, trust_remote_code=cfg.model.trust_remote_code)
            if adapter is not None:
                from peft import PeftModel

                from obliviate.params import untie_adapted_embeddings

                model = PeftModel.from_pretrained(model, str(adapter))
                untie_adapted_embeddings(model)
                model = model.merge_and_unload()
            save_model(model, tokenizer, tmp / "model", "given model")
        meta = {
            "kind": "given",
            "model": str(path),
            "adapter": str(adapter) if adapter else None,
            "key": fingerprint,
        }
        write_json_atomic(tmp / "target.json", meta)
        return publish_dir(tmp, final)


def forget(
    model: str | Path,
    forget_file: str | Path,
    out: str | Path,
    *,
    adapter: str | Path | None = None,
    retain_file: str | Path | None = None,
    look_alikes_file: str | Path | None = None,
    settings: ForgetConfig | None = None,
    cfg=None,
    method_overrides: dict | None = None,
    log: Callable[[str], None] = print,
) -> ForgetResult:
    """Remove the records of `forget_file` from `model` (a directory, a hub id, or a toolkit model
    name; with `adapter`, its LoRA adapter merged first) and write the edited model, its report,
    verification and model card into `out` (a new directory, or one this function wrote before).

    `cfg` is a run config (`obliviate.run_config("default")` with `FORGET_EVAL` when None): its
    evaluation settings, cache and run directories are used, its model replaced by `model`.

        >>> result = forget("runs/unlearn/gd-1a2b/model", "forget.jsonl", "forgot/")
        >>> {v["verdict"] for v in result.verdicts.values()}
        {'no longer produced'}
    """
    from obliviate.data.records import Benchmark, DataError, MiaDocument, Split
    from obliviate.eval.cache import PassCache
    from obliviate.eval.protocols.lume import score_prompts
    from obliviate.practitioner.records import (
        look_alikes,
        read_look_alikes,
        read_records,
        record_hash,
        with_prompt,
    )
    from obliviate.practitioner.retain_bank import auto_retain
    from obliviate.practitioner.verify import record_recalls
    from obliviate.presets import resolve_config
    from obliviate.rows import cached_subject
    from obliviate.unlearn import resolve_train

    settings = settings or ForgetConfig()
    out = Path(out)
    if out.exists() and not (out / "verification.json").is_file():
        raise ValueError(
            f"{out}: exists and is not the output of an earlier forget run; choose a new directory"
        )
    cfg = cfg or resolve_config("default", list(FORGET_EVAL))
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"name": str(model)})})
    records = read_records(Path(forget_file))
    # keyed hashes of the records as read, for the card: a plain sha256 of a short record (an SSN)
    # could be confirmed by hashing guesses; the key stays in verification.json, with the user
    key = secrets.token_hex(16)
    hashes = {d.id: record_hash(d, key) for d in records}
    docs = tuple(with_prompt(d) for d in records)
    # generations long enough to state the longest reference (about 2 tokens a word, or 3 characters
    # a token in unspaced scripts, with room): a longer one could never reach the threshold
    needed = max(max(2 * len(p.output.split()), len(p.output) // 3) for d in docs for p in d.prompts) + 16
    if needed > cfg.eval.max_new_tokens:
        log(f"eval.max_new_tokens {cfg.eval.max_new_tokens} -> {needed}, for the longest record's reference")
        cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"max_new_tokens": needed})})
    user_retain = tuple(with_prompt(d) for d in read_records(Path(retain_file))) if retain_file else ()
    shared = {d.id for d in docs} & {d.id for d in user_retain}
    if shared:
        raise DataError(f"{retain_file}: record id {sorted(shared)[0]!r} is also in {forget_file}")
    nonmember = (
        read_look_alikes(Path(look_alikes_file)) if look_alikes_file else look_alikes(docs, settings.seed)
    )

    target = given_target(cfg, Path(adapter) if adapter else None)
    subject = cached_subject(cfg, PassCache(cfg.cache_dir / "passes"), target / "model")
    try:
        prompts = [(d.task, p) for d in docs for p in d.prompts]
        recalls = record_recalls(docs, score_prompts(subject, prompts, cfg.eval))
        threshold = settings.produced_threshold
        unproduced = [d for d in docs if recalls.get(d.id, 0.0) < threshold]
        for d in unproduced:
            log(
                f"record {d.id!r}: not produced before unlearning (best ROUGE-L recall "
                f"{recalls.get(d.id, 0.0):.2f} < {threshold}): nothing to unlearn"
            )
        to_forget = docs if settings.keep_unproduced else tuple(d for d in docs if d not in unproduced)
        if not to_forget:
            raise ValueError(
                f"{forget_file}: nothing to unlearn: the model produces none of its {len(docs)} records "
                f"(ROUGE-L recall below {threshold}; --set forget.keep_unproduced=true trains on them anyway)"
            )
        bank_train, check, bank_info = auto_retain(
            subject, docs, settings, cfg.eval.batch_size, required=not user_retain
        )
        n_params = sum(p.numel() for p in subject.hf_model()[0].parameters())
    finally:
        subject.release()

    retain = user_retain or bank_train
    # the membership test: the records the model produced (members) against their look-alikes
    members = tuple(MiaDocument(id=d.id, text=d.text) for d in to_forget)
    produced_ids = {f"{d.id}:look-alike" for d in to_forget}
    nonmember = tuple(m for m in nonmember if m.id in produced_ids) if not look_alikes_file else nonmember
    benchmark = Benchmark(
        f"forget:{Path(forget_file).stem}",
        {
            "unlearn": Split(forget=to_forget, retain=retain),
            "verify": Split(forget=docs, retain=check + user_retain, member=members, nonmember=nonmember),
        },
    )
    run_cfg, method = forget_recipe(cfg, settings, method_overrides or {}, n_params, to_forget)
    train = resolve_train(run_cfg, method)  # with a method's own lr where --set method.lr gives one
    mode = run_cfg.unlearn_params.mode if run_cfg.unlearn_params else "the method's parameters"
    log(
        f"unlearning {len(to_forget)} of {len(docs)} records with {method.name} "
        f"({mode}, at most {settings.steps} steps, lr {train.lr:g}); "
        f"retain: {len(retain)} " + ("of your records" if user_retain else "general answers")
    )
    stop = stop_rule(to_forget, settings, cfg.eval.max_new_tokens)
    run_dir = _evaluate(run_cfg, benchmark, target, method, settings, stop)
    facts = {
        "model": str(model),
        "adapter": str(adapter) if adapter else None,
        "hash_key": key,
        "hashes": hashes,
        "trained_records": len(to_forget),
        "retain_set": {
            "source": "user" if user_retain else "automatic",
            "records": len(user_retain),
            **bank_info,
        },
    }
    return _write_output(out, run_dir, run_cfg, settings, method, docs, facts)


def forget_recipe(cfg, settings: ForgetConfig, method_overrides: dict, n_params: int, to_forget) -> tuple:
    """(run config, method config): the preset's settings of the method (its tuned learning rate, x10
    for LoRA), LoRA above `lora_above` parameters (else the method's own parameter set: full for
    most), at most `steps` optimizer steps, evaluation on split `verify`."""
    from obliviate.methods import method_config
    from obliviate.params import ParamsConfig

    preset = dict(cfg.methods.get(settings.method, {}))
    base_lr = preset.pop("lr", None) or cfg.unlearn_train.lr  # tuned by `obliviate sweep` where set
    preset.pop("epochs", None)  # the step budget replaces them
    lora = n_params > settings.lora_above
    params = cfg.unlearn_params or (ParamsConfig(mode="lora") if lora else None)
    examples = sum(len(d.prompts) for d in to_forget)
    train = cfg.unlearn_train.model_copy(
        update={
            "lr": settings.lr or base_lr * (LORA_LR_FACTOR if params and params.mode == "lora" else 1.0),
            "epochs": max(1, math.ceil(settings.steps * settings.batch_size / examples)),
            "max_steps": settings.steps,
            "batch_size": settings.batch_size,
            "scheduler": "constant",
            "seed": settings.seed,
        }
    )
    method = method_config(
        settings.method, {**preset, "retain_loss": settings.retain_loss, **method_overrides}
    )
    run_cfg = cfg.model_copy(
        update={"split": "verify", "unlearn_train": train, "unlearn_params": params, "mia_reference": "none"}
    )
    return run_cfg, method


def stop_rule(docs, settings: ForgetConfig, max_new_tokens: int):
    """Stop unlearning once the model, as it trains, produces none of `docs` (greedy, checked every
    `check_every` steps): each further step would only cost utility."""
    from obliviate.eval.metrics.lume import regurgitation
    from obliviate.unlearn import StopRule

    asked = [(p.input, p.output) for d in docs for p in d.prompts]

    def done(model, tokenizer) -> bool:
        texts = greedy_texts(model, tokenizer, [prompt for prompt, _ in asked], max_new_tokens)
        return not any(
            regurgitation(reference, text) >= settings.produced_threshold
            for (_, reference), text in zip(asked, texts, strict=True)
        )

    key = {
        "produced_threshold": settings.produced_threshold,
        "max_new_tokens": max_new_tokens,
        "generation": "passes.greedy_generate",  # `greedy_texts`
        "prompts": asked,
    }
    return StopRule(settings.check_every, done, key)


def greedy_texts(model, tokenizer, prompts, max_new_tokens: int) -> list[str]:
    """Greedy continuations of the prompts by the model as it trains, through the evaluation's own
    generation engine (so the check sees what the verification will), in eval mode."""
    import torch

    from obliviate.eval.passes import greedy_generate

    was_training = model.training
    try:
        with torch.no_grad():
            return greedy_generate(model, tokenizer, prompts, max_new_tokens)
    finally:
        model.train(was_training)


def _evaluate(run_cfg, benchmark, target: Path, method, settings: ForgetConfig, stop) -> Path:
    """The model before (row `target`) and after (row `<method>`) evaluated and attacked on split
    `verify`, in the keyed run directory `<out_dir>/forget/...`; returns it."""
    from obliviate.leaderboard import run_leaderboard
    from obliviate.rows import Row, run_cost
    from obliviate.unlearn import unlearn

    model_dir = target / "model"

    def make_rows(ev) -> list[Row]:
        def produce_after():
            run = unlearn(run_cfg.model_copy(update={"split": "unlearn"}), method, target, benchmark, stop)
            return ev.subject(run / "model"), run_cost(run / "unlearn.json")

        before = Row("target", lambda: (ev.subject(model_dir), {}), "reference")
        return [before, Row(method.name, produce_after, "method")]

    has_questions = any(p.kind == "qa" for d in benchmark.split("verify").forget for p in d.prompts)
    attacks = [a for a in settings.attacks if a != "probes" or has_questions]  # probes re-ask questions
    inputs = {"method": method.model_dump(), "forget": settings.model_dump(), "attacks": attacks}
    _, run = run_leaderboard(
        run_cfg,
        "forget",
        benchmark,
        inputs,
        make_rows,
        sort=False,
        attacks=attacks,
        points={"base": model_dir, "target": model_dir},
    )
    return run.dir


def _write_output(out: Path, run_dir: Path, cfg, settings, method, docs, facts: dict) -> ForgetResult:
    """Model, adapter, report, verification and card into a temporary sibling of `out`, then renamed.
    `facts`: what the run knows beyond its saved results (model, adapter, hash key and hashes, the
    records trained on, the retain set)."""
    import json

    from obliviate import __version__
    from obliviate.atomic import publish_dir, temporary_dir, write_json_atomic, write_text_atomic
    from obliviate.practitioner.card import model_card
    from obliviate.practitioner.verify import verification
    from obliviate.report import write_report

    before = json.loads((run_dir / "eval" / "target.json").read_text())
    after = json.loads((run_dir / "eval" / f"{method.name}.json").read_text())
    attacked = run_dir / "attacks" / f"{method.name}.json"
    outcomes = json.loads(attacked.read_text()) if attacked.is_file() else {}
    unlearn_dir = Path(after["subject"]).parent
    trained = json.loads((unlearn_dir / "unlearn.json").read_text())
    checked = verification(docs, before, after, outcomes, settings, cfg.eval.bootstrap)
    hashes = facts["hashes"]
    for doc_id, entry in checked["records"].items():
        entry["hmac_sha256"] = hashes[doc_id]
    checked.update(
        {
            "method": method.model_dump(),
            "params": trained["params"],  # as the run resolved and used them
            "train": trained["train"],
            "cost": after.get("cost") or {},
            "steps": trained["steps"],
            "stopped_early_at": trained.get("stopped_early_at"),
            **{k: v for k, v in facts.items() if k != "hashes"},
            "run_dir": str(run_dir),
            "obliviate_version": __version__,
        }
    )
    tmp = temporary_dir(out)
    shutil.copytree(unlearn_dir / "model", tmp / "model")
    if (unlearn_dir / "adapter").is_dir():
        shutil.copytree(unlearn_dir / "adapter", tmp / "adapter")
    write_report(run_dir, out=tmp / "report.html")
    write_json_atomic(tmp / "verification.json", checked)
    write_text_atomic(tmp / "README.md", model_card(checked, docs))
    publish_dir(tmp, out)
    return ForgetResult(out, checked, run_dir)
