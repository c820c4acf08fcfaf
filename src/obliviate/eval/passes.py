"""Model passes that metrics read, each computed once per (model, inputs, settings):

- `greedy_generate`: the fast generation engine. Prompts are sorted by length into batches,
  left-padded, decoded greedily with the KV cache; a row leaves the batch at EOS (its cache rows
  are dropped, so the batch shrinks instead of decoding padding) and a batch ends when every row
  has stopped or `max_new_tokens` is reached. Same tokens as one-at-a-time greedy decoding.
- `reference_generate`: the official script's way (one prompt at a time, HF `generate`), kept for
  the equivalence test and the speed benchmark.
- `token_statistics`: one forward pass per document giving every per-token quantity the
  likelihood metrics need (log p of each token, and the mean / std of log p under the model's own
  next-token distribution for Min-K%++); every MIA score derives from these arrays.

Decoding follows the official script: raw prompt (no chat template), special tokens as the
tokenizer adds them, `skip_special_tokens=True`, and transformers 4.x's tokenization clean-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import DynamicCache


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


def decode(tokenizer, token_ids: Sequence[int]) -> str:
    text = tokenizer.decode(list(token_ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return clean_up_tokenization(text)


def stop_token_ids(model, tokenizer) -> list[int]:
    """EOS ids as `generate` would use them: the generation config's, plus the tokenizer's."""
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids = configured if isinstance(configured, list) else [configured]
    ids = [i for i in ids if i is not None]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def _model_device(model) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def _greedy_batch(model, rows: list[list[int]], max_new_tokens: int, stop_ids: list[int], pad_id: int):
    """Greedy continuations (token ids, EOS included) of one left-padded batch of token-id rows."""
    device = _model_device(model)
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, ids in enumerate(rows):
        input_ids[i, width - len(ids) :] = torch.tensor(ids)
        attention_mask[i, width - len(ids) :] = 1
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    # Left padding shifts the tokens; positions count real tokens only, as in one-at-a-time decoding.
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    logits = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    ).logits
    next_tokens = logits[:, -1].argmax(-1)  # (B,)
    stops = torch.tensor(stop_ids, device=device)
    alive = torch.arange(len(rows), device=device)  # original row of each batch row
    last_position = position_ids[:, -1]
    outputs: list[list[int]] = [[] for _ in rows]
    for step in range(max_new_tokens):
        for row, token in zip(alive.tolist(), next_tokens.tolist(), strict=True):
            outputs[row].append(token)
        if step == max_new_tokens - 1:
            break
        running = ~torch.isin(next_tokens, stops)
        if not running.all():
            keep = running.nonzero().squeeze(-1)
            if keep.numel() == 0:
                break
            # Finished rows leave the batch: their cache rows are dropped, so no padding is decoded.
            cache.batch_select_indices(keep)
            alive, next_tokens = alive[keep], next_tokens[keep]
            attention_mask, last_position = attention_mask[keep], last_position[keep]
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(alive), 1))], dim=1)
        last_position = last_position + 1
        logits = model(
            input_ids=next_tokens[:, None],
            attention_mask=attention_mask,
            position_ids=last_position[:, None],
            past_key_values=cache,
            use_cache=True,
        ).logits
        next_tokens = logits[:, -1].argmax(-1)
    return outputs


def greedy_generate(
    model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 256, batch_size: int = 32
) -> list[str]:
    """Greedy continuations of raw prompts, decoded as the official script does."""
    model.eval()
    encoded = [tokenizer(p).input_ids for p in prompts]
    # Longest first: the largest batch (the memory peak) comes first, and rows of a batch pad little.
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    stop_ids = stop_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    outputs = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        generated = _greedy_batch(model, [encoded[i] for i in rows], max_new_tokens, stop_ids, pad_id)
        for i, token_ids in zip(rows, generated, strict=True):
            outputs[i] = decode(tokenizer, token_ids)
    return outputs


@torch.inference_mode()
def reference_generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 256) -> list[str]:
    """The official script's loop: one prompt at a time through HF `generate` (slow; for checks)."""
    model.eval()
    device = _model_device(model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    outputs = []
    for prompt in prompts:
        input_ids = torch.tensor([tokenizer(prompt).input_ids], device=device)
        generated = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            use_cache=True,
            pad_token_id=pad_id,
            eos_token_id=stop_token_ids(model, tokenizer),
        )
        outputs.append(decode(tokenizer, generated[0, input_ids.shape[1] :].tolist()))
    return outputs


@dataclass
class TokenStats:
    """Per-token arrays of one document, over its scored tokens (every token after the first)."""

    logps: np.ndarray  # (T-1,) log p(x_t | x_<t)
    mu: np.ndarray  # (T-1,) E_{z~p(.|x_<t)} log p(z)
    sigma: np.ndarray  # (T-1,) std of log p(z) under the same distribution

    @property
    def mean_nll(self) -> float:
        """The official MIA loss: `model(input_ids, labels=input_ids).loss` of the document."""
        return float(-self.logps.mean())


@torch.inference_mode()
def token_statistics(
    model, tokenizer, texts: Sequence[str], batch_size: int = 8, max_length: int | None = None
) -> list[TokenStats]:
    """One forward pass per document (batched, right-padded); see `TokenStats`."""
    model.eval()
    device = _model_device(model)
    encoded = [tokenizer(t).input_ids[:max_length] for t in texts]
    order = sorted(range(len(texts)), key=lambda i: -len(encoded[i]))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stats: list[TokenStats | None] = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in rows)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            input_ids[r, : len(encoded[i])] = torch.tensor(encoded[i])
            attention_mask[r, : len(encoded[i])] = 1
        logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
        logprobs = logits[:, :-1].float().log_softmax(-1)  # (B, T-1, V)
        targets = input_ids[:, 1:].to(device)
        token_logps = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
        probs = logprobs.exp()
        mu = (probs * logprobs).sum(-1)  # (B, T-1)
        sigma = ((probs * logprobs.square()).sum(-1) - mu.square()).clamp(min=0).sqrt()
        for r, i in enumerate(rows):
            n = len(encoded[i]) - 1
            stats[i] = TokenStats(
                token_logps[r, :n].cpu().numpy(), mu[r, :n].cpu().numpy(), sigma[r, :n].cpu().numpy()
            )
    return stats  # type: ignore[return-value]
