"""What the frozen starting model contributes to a loss, computed once per example before training.

NPO and IdkDPO need each answer's log-prob under the starting model, RMU the starting model's
layer activations on retain inputs: constants of each example, which open-unlearning recomputes
with a frozen copy of the model at every step. `ReferenceValues.compute` runs the starting model
over each distinct example once, before the first step, with the very model about to be trained
(no copy is made); during training the loss looks each row up by its tokens. The reference model
is never held beside the trained one: 0.54 GB less at the peak for SmolLM2-135M, and no reference
forward pass per step.

Each example is computed alone (one unpadded row), so its value does not depend on the padding of
whatever batch it lands in; a per-step reference on a padded batch differs from it by rounding only
(tests/test_methods.py). KL and UNDIAL need the whole next-token distribution at every position
(49k values a position for SmolLM2), too large to keep: they hold a frozen copy (`Needs.reference`),
or, when only a LoRA adapter trains, ask the same model with the adapter switched off (`AdapterOff`).

    values = ReferenceValues.compute(model, examples, lambda m, b: answer_logps(m, b)[0], pad_id, bf16=True)
    values(batch)   # (B,): each row's value, as the quantity returns it for that row alone
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from obliviate.device import model_device
from obliviate.training_data import Example, collate

# (model, batch of one row) -> the row's value: (1,) for a per-sequence number, (1, T, ...) per position
Quantity = Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor]


def _row_key(input_ids: torch.Tensor, labels: torch.Tensor) -> bytes:
    return input_ids.cpu().numpy().tobytes() + b"|" + labels.cpu().numpy().tobytes()


class ReferenceValues:
    """Per-example values of the starting model, looked up by each batch row's tokens."""

    def __init__(self, values: dict[bytes, torch.Tensor]):
        self.values = values

    @classmethod
    def compute(
        cls, model: torch.nn.Module, examples: Iterable[Example], quantity: Quantity, pad_id: int, bf16: bool
    ) -> ReferenceValues:
        """`quantity` of each distinct example, one row at a time, without gradients, under the
        autocast the training loop will use (`bf16`), on the model's device."""
        device = model_device(model)
        was_training = model.training
        model.eval()
        values: dict[bytes, torch.Tensor] = {}
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            for ex in examples:
                key = _row_key(torch.tensor(ex.input_ids), torch.tensor(ex.labels))
                if key not in values:
                    batch = {k: v.to(device) for k, v in collate([ex], pad_id).items()}
                    values[key] = quantity(model, batch)[0].detach().cpu()
        model.train(was_training)
        return cls(values)

    @property
    def nbytes(self) -> int:
        return sum(v.numel() * v.element_size() for v in self.values.values())

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The rows' values: stacked (B,) for per-sequence values, or (B, T, ...) with each row's
        per-position values at its own positions and zeros at padding (right padding)."""
        lengths = batch["attention_mask"].sum(-1).tolist()
        rows = []
        for b, n in enumerate(lengths):
            key = _row_key(batch["input_ids"][b, :n], batch["labels"][b, :n])
            if key not in self.values:
                raise KeyError(
                    f"row {b} of the batch was not among the examples the reference was computed on"
                )
            rows.append(self.values[key])
        device = batch["input_ids"].device
        if rows[0].dim() == 0:
            return torch.stack(rows).to(device)
        width = batch["input_ids"].shape[1]
        out = rows[0].new_zeros((len(rows), width, *rows[0].shape[1:]))
        for b, row in enumerate(rows):
            out[b, : row.shape[0]] = row
        return out.to(device)


class AdapterOff:
    """A LoRA model's starting point, as a frozen reference: the same model with its adapter
    switched off (exactly the base model's outputs), where a copy would cost the base's weights."""

    def __init__(self, peft_model: torch.nn.Module):
        self.model = peft_model

    def __call__(self, **inputs):
        with self.model.disable_adapter():
            return self.model(**inputs)
