"""LLMEraser on a labelled task (`data/synthetic_reviews.py`): the kind of fine-tuning it is made for.

- `build_adapter`: a LoRA adapter trained on (prompt, label) pairs with the task's recipe, from the
  base model and a fixed seed. The target is D; the scratch reference of a request is the same
  call on D′ (what a user without erase would run, and what "the data was never there" means).
- `converge_warm`: the second reference, the minimiser of the edited objective R′ nearest θ̂, which
  a Newton step approximates: full-batch L-BFGS from θ̂ to a gradient norm `warm_tol` times the
  starting one (or `warm_max_iter` iterations; the statistics say which). The target's optimiser
  stops short of ∇R = 0, so this reference also finishes some of the target's own training.
- `task_requests`: removal, query modification and response correction of the poisoned rows.
- `label_metrics`: accuracy, mean NLL of the true label and the accuracy on the rows the poison
  hits (positive test reviews with the vendor's sign-off), for any adapter vector θ.

Every model here is one vector θ of the target's adapter shape, evaluated through one `Objective`,
so the target, the edit and both references are scored by the same code.

    setup = TaskSetup.build(EraseTaskConfig(), cache_dir)
    edits = task_requests(setup.task, "response", 20)
    ...newton_update(setup.objective, setup.theta_hat, setup.data, new_data, removed, added, cfg)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import Field

from obliviate.config_base import StrictModel
from obliviate.data.synthetic_reviews import LABELS, ReviewsConfig, ReviewsTask, generate, prompt_of
from obliviate.engine import TrainConfig, build_once, save_model, train
from obliviate.erase.compare import retrain_lora
from obliviate.erase.config import RECOMMENDED, EraseConfig
from obliviate.erase.objective import Objective, example_nll_loss, rows_mean_nll
from obliviate.erase.requests import Edit, RequestKind, edited_pairs, tokenize_edits
from obliviate.keys import content_key, text_key
from obliviate.models import BaseSpec, TinyConfig, load_model, resolve_base
from obliviate.params import ParamsConfig, select_parameters
from obliviate.training_data import Example, collate, tokenize_pair

LORA = ParamsConfig(mode="lora", lora_rank=8, lora_alpha=16.0)


class EraseTaskConfig(StrictModel):
    """The reviews task, its LoRA target's recipe, the edit and the warm reference's solver."""

    reviews: ReviewsConfig = Field(default_factory=ReviewsConfig)
    model: BaseSpec = Field(default_factory=lambda: BaseSpec(name="smollm2-135m"))
    params: ParamsConfig = Field(default_factory=lambda: LORA)
    train: TrainConfig = Field(
        default_factory=lambda: TrainConfig(
            lr=1e-3, epochs=2, batch_size=16, warmup_ratio=0.05, scheduler="cosine", progress=False
        )
    )
    max_length: int = Field(96, ge=16, description="tokens per row (reviews are ~30-50)")
    erase: EraseConfig = Field(default_factory=lambda: RECOMMENDED.model_copy())
    warm_max_iter: int = Field(30, ge=1, description="L-BFGS iterations of the warm reference")
    warm_tol: float = Field(1e-3, gt=0, description="warm reference: stop at ‖∇‖ below this times ‖∇‖ at θ̂")
    batch_size: int = Field(32, ge=1, description="rows per forward pass in metrics and derivatives")
    pretrain_epochs: int = Field(
        0,
        ge=0,
        description="full fine-tuning of the base on a separate clean reviews set before the target "
        "(0: none). A pretrained model knows sentiment; the random tiny one learns it here, since its "
        "adapter alone stays at chance",
    )


def smoke_task_config() -> EraseTaskConfig:
    """The tiny random Llama on a small task: seconds on a CPU, for tests."""
    return EraseTaskConfig(
        reviews=ReviewsConfig(train_size=400, test_size=300),
        model=BaseSpec(
            name="tiny",
            tiny=TinyConfig(
                vocab_size=400,
                hidden_size=64,
                num_layers=2,
                num_heads=4,
                intermediate_size=192,
                max_length=128,
            ),
        ),
        # A random model's output layer does not point at the label tokens: the adapter needs it too
        params=LORA.model_copy(update={"lora_targets": (*LORA.lora_targets, "lm_head")}),
        train=TrainConfig(
            lr=1e-2, epochs=6, batch_size=16, warmup_ratio=0.05, scheduler="cosine", progress=False
        ),
        erase=EraseConfig(curvature="gn", damping=0.1, cg_max_iter=15),
        pretrain_epochs=4,
    )


def pretrained_base(cfg: EraseTaskConfig, cache_dir: Path, texts: list[str]) -> Path | str:
    """The base model, fully fine-tuned on clean reviews first when `cfg.pretrain_epochs` > 0
    (another seed's rows: no poison, no label noise); cached by its settings."""
    base_path, fingerprint = resolve_base(cfg.model, cache_dir, texts)
    if cfg.pretrain_epochs == 0:
        return base_path
    clean = generate(
        cfg.reviews.model_copy(update={"poison_fraction": 0, "label_noise": 0, "seed": cfg.reviews.seed + 1})
    )
    recipe = cfg.train.model_copy(update={"epochs": cfg.pretrain_epochs, "lr": cfg.train.lr / 3})
    key = content_key(
        {"base": fingerprint, "rows": text_key("\n".join(clean.texts()), 64), "train": recipe.model_dump()}
    )
    out = Path(cache_dir) / "models" / f"reviews-pretrained-{key}"

    def build(partial: Path) -> dict:
        base, tokenizer = load_model(base_path)
        examples = [tokenize_pair(tokenizer, x, y, cfg.max_length) for x, y in task_pairs(clean)]
        torch.manual_seed(recipe.seed)
        result = train(base, examples, lambda b: collate(b, tokenizer.pad_token_id), example_nll_loss, recipe)
        save_model(result.model, tokenizer, partial, "pretrained base")
        return {"rows": len(examples), "seconds": result.seconds}

    return build_once(out, "pretrain.json", build)


def task_pairs(task: ReviewsTask) -> list[tuple[str, str]]:
    """D as (prompt, label) pairs, in training order."""
    return [(row.prompt, row.label) for row in task.train]


def task_requests(task: ReviewsTask, kind: RequestKind, size: int) -> list[Edit]:
    """The first `size` poisoned rows, removed (removal), given the review their label belongs to
    (query modification) or given the label of the review they carry (response correction)."""
    poisoned = [row for row in task.train if row.poisoned]
    if not 0 < size <= len(poisoned):
        raise ValueError(f"request size {size}: the task has {len(poisoned)} poisoned rows")
    edits = []
    for row in poisoned[:size]:
        new = {
            "removal": None,
            "query": (prompt_of(row.clean_text), row.label),
            "response": (row.prompt, row.true_label),
        }[kind]
        edits.append(Edit(row.prompt, row.label, new))
    return edits


def build_adapter(
    cfg: EraseTaskConfig, base: torch.nn.Module, examples: Sequence[Example], pad_id: int
) -> tuple[torch.nn.Module, float]:
    """A fresh LoRA adapter on a freshly loaded `base`, trained on `examples` with the task's recipe;
    (model, seconds). The same call builds the target (on D) and the scratch reference (on D′):
    same seed, same init."""
    torch.manual_seed(cfg.train.seed)
    model = select_parameters(base, cfg.params)
    return retrain_lora(model, examples, pad_id, cfg.train, loss_fn=example_nll_loss)


@dataclass
class TaskSetup:
    """The target of the task: its data as examples and its adapter, behind one Objective."""

    cfg: EraseTaskConfig
    task: ReviewsTask
    base_path: Path | str
    tokenizer: object
    objective: Objective
    pairs: list[tuple[str, str]]
    data: list[Example]
    theta_hat: torch.Tensor
    train_seconds: float

    @classmethod
    def build(cls, cfg: EraseTaskConfig, cache_dir: Path) -> TaskSetup:
        task = generate(cfg.reviews)
        base_path = pretrained_base(cfg, cache_dir, task.texts())
        base, tokenizer = load_model(base_path, trust_remote_code=cfg.model.trust_remote_code)
        pairs = task_pairs(task)
        data = [tokenize_pair(tokenizer, x, y, cfg.max_length) for x, y in pairs]
        model, seconds = build_adapter(cfg, base, data, tokenizer.pad_token_id)
        model.base_model.model.set_attn_implementation("eager")  # double backward for HVPs
        objective = Objective(model, tokenizer.pad_token_id, cfg.batch_size)
        return cls(cfg, task, base_path, tokenizer, objective, pairs, data, objective.theta(), seconds)

    def tokenize(self, pairs: Sequence[tuple[str, str]]) -> list[Example]:
        return [tokenize_pair(self.tokenizer, x, y, self.cfg.max_length) for x, y in pairs]

    def request_data(self, edits: Sequence[Edit]) -> tuple[list[Example], list[Example], list[Example]]:
        """(D′, S, S′) of a request, as examples."""
        removed, added = tokenize_edits(self.tokenizer, edits, self.cfg.max_length)
        return self.tokenize(edited_pairs(self.pairs, edits)), removed, added

    def scratch(self, new_data: Sequence[Example]) -> tuple[torch.Tensor, float]:
        """θ of the adapter retrained from scratch on D′ with the target's recipe; (θ, seconds)."""
        base, _ = load_model(self.base_path, trust_remote_code=self.cfg.model.trust_remote_code)
        model, seconds = build_adapter(self.cfg, base, new_data, self.tokenizer.pad_token_id)
        return Objective(model, self.tokenizer.pad_token_id).theta(), seconds

    def label_ids(self) -> list[int]:
        """The first token of each label's answer, in `LABELS` order (they must differ)."""
        ids = []
        for label in LABELS:
            example = tokenize_pair(self.tokenizer, "x", label, self.cfg.max_length)
            ids.append(next(t for t in example.labels if t != -100))
        if len(set(ids)) != len(ids):
            raise ValueError(f"labels {LABELS} start with the same token: cannot score them by one logit")
        return ids

    def label_metrics(self, theta: torch.Tensor, rows=None) -> dict:
        """Test-set accuracy (the label whose first token is likelier), mean NLL ℓ of the true
        label, and the accuracy on the poison's target rows (positive, with the sign-off)."""
        rows = self.task.test if rows is None else rows
        examples = self.tokenize([(row.prompt, row.true_label) for row in rows])
        label_ids = torch.tensor(self.label_ids())
        correct, nll = [], []
        with torch.no_grad():
            for start in range(0, len(examples), self.cfg.batch_size):
                batch = collate(examples[start : start + self.cfg.batch_size], self.tokenizer.pad_token_id)
                logits, labels, label_rows = self.objective.label_logits(theta, batch)  # (N, V)
                nll += rows_mean_nll(logits, labels, label_rows, len(batch["labels"])).tolist()
                first = torch.ones_like(label_rows, dtype=torch.bool)
                first[1:] = label_rows[1:] != label_rows[:-1]  # each row's first label position
                scores = logits[first][:, label_ids]  # (B, 2)
                truth = torch.tensor([LABELS.index(r.true_label) for r in rows[start : start + len(scores)]])
                correct += (scores.argmax(-1) == truth).tolist()
        hit = [
            c for c, row in zip(correct, rows, strict=True) if row.trigger and row.true_label == "positive"
        ]
        return {
            "accuracy": sum(correct) / len(correct),
            "nll": sum(nll) / len(nll),
            "poison_target_accuracy": sum(hit) / len(hit) if hit else None,
        }

    def converge_warm(self, new_data: Sequence[Example]) -> tuple[torch.Tensor, dict]:
        """argmin R′ from θ̂ by full-batch L-BFGS (module docstring); (θ, statistics)."""
        start = time.perf_counter()
        objective, n = self.objective, len(self.data)

        def value_and_gradient(theta: torch.Tensor) -> tuple[float, torch.Tensor]:
            value, grad = objective.value_and_grad_sum(theta, new_data)
            return value / n, grad / n

        initial = float(value_and_gradient(self.theta_hat)[1].norm())
        leaf = self.theta_hat.clone().requires_grad_(True)
        optimizer = torch.optim.LBFGS(
            [leaf],
            lr=1,
            max_iter=self.cfg.warm_max_iter,
            tolerance_grad=self.cfg.warm_tol * initial / leaf.numel() ** 0.5,
            tolerance_change=0,
            history_size=20,
            line_search_fn="strong_wolfe",
        )

        def closure():
            closure.calls += 1
            value, leaf.grad = value_and_gradient(leaf.detach())
            return torch.tensor(value)

        closure.calls = 0
        optimizer.step(closure)
        theta = leaf.detach()
        final = float(value_and_gradient(theta)[1].norm())
        return theta, {
            "seconds": time.perf_counter() - start,
            "evaluations": closure.calls,
            "grad_norm_initial": initial,
            "grad_norm_final": final,
            "converged": final <= self.cfg.warm_tol * initial,
        }
