"""Model passes that metrics read: greedy generations, computed once per (model, prompts).

Batched greedy decoding with left padding and the KV cache; rows stop at EOS (a batch ends when
every row has stopped). Prompts are sorted by length so each batch pads little.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


@torch.inference_mode()
def greedy_generate(
    model: torch.nn.Module,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 16,
) -> list[str]:
    """Greedy continuations of raw prompts (no chat template), decoded without special tokens."""
    model.eval()
    encoded = [tokenizer(p).input_ids for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    outputs: list[str] = [""] * len(prompts)
    pad_id = tokenizer.pad_token_id
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in rows)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            ids = encoded[i]
            input_ids[r, width - len(ids) :] = torch.tensor(ids)
            attention_mask[r, width - len(ids) :] = 1
        generated = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            use_cache=True,
            pad_token_id=pad_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        for r, i in enumerate(rows):
            text = tokenizer.decode(
                generated[r, width:], skip_special_tokens=True, clean_up_tokenization_spaces=False
            )
            outputs[i] = clean_up_tokenization(text)
    return outputs


def clean_up_tokenization(text: str) -> str:
    """The official script decodes with `clean_up_tokenization_spaces=True` under transformers 4.x,
    which applies exactly these replacements; transformers 5 ignores the flag for BPE tokenizers,
    so we apply them ourselves to keep the official strings."""
    return (
        text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
    )
