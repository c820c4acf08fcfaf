"""Model passes that metrics read, each computed once per (model, inputs, settings):

- `greedy_generate`: the fast generation engine. Greedy decoding with the KV cache over a batch
  of left-padded rows with continuous batching: prompts enter longest first, a row leaves at EOS
  or at `max_new_tokens` (its cache rows are dropped) and waiting prompts take the free places,
  so the batch stays full. Same tokens as one-at-a-time greedy decoding (tested).
- `reference_generate`: the official script's way (one prompt at a time, HF `generate`), kept for
  the equivalence test and the speed benchmark.
- `token_statistics`: one forward pass per document giving every per-token quantity the
  likelihood metrics need (log p of each token, and the mean / std of log p under the model's own
  next-token distribution for Min-K%++); every MIA score derives from these arrays.

Decoding follows the official script: raw prompt (no chat template), special tokens as the
tokenizer adds them, `skip_special_tokens=True`, and transformers 4.x's tokenization clean-up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


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


def _left_pad(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (B, T), rows aligned on the right."""
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, ids in enumerate(rows):
        input_ids[i, width - len(ids) :] = torch.tensor(ids)
        attention_mask[i, width - len(ids) :] = 1
    return input_ids.to(device), attention_mask.to(device)


class _GrowingLayer(DynamicLayer):
    """A `DynamicLayer` that writes new keys/values into a preallocated buffer whose capacity
    doubles, instead of concatenating the whole cache for every token (that `torch.cat` was a
    quarter of CPU decode time). `keys` / `values` are views of the filled part."""

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.buffer_k = self.buffer_v = None
            self.length = 0
        n = key_states.shape[-2]
        self._reserve(key_states, self.length + n)
        self.buffer_k[:, :, self.length : self.length + n] = key_states
        self.buffer_v[:, :, self.length : self.length + n] = value_states
        self.length += n
        self._refresh()
        return self.keys, self.values

    def _reserve(self, like: torch.Tensor, needed: int) -> None:
        if self.buffer_k is not None and self.buffer_k.shape[2] >= needed:
            return
        old = 0 if self.buffer_k is None else self.buffer_k.shape[2]
        capacity = max(needed, 2 * old, 64)
        b, h, _, d = like.shape
        new_k, new_v = like.new_empty((b, h, capacity, d)), like.new_empty((b, h, capacity, d))
        if self.length:
            new_k[:, :, : self.length] = self.keys
            new_v[:, :, : self.length] = self.values
        self.buffer_k, self.buffer_v = new_k, new_v

    def _refresh(self) -> None:
        self.keys = self.buffer_k[:, :, : self.length]
        self.values = self.buffer_v[:, :, : self.length]

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        # Copy the filled part plus some room to grow, not the whole (doubled) capacity.
        keep = min(self.buffer_k.shape[2], self.length + 64)
        self.buffer_k = self.buffer_k[:, :, :keep].index_select(0, indices)
        self.buffer_v = self.buffer_v[:, :, :keep].index_select(0, indices)
        self._refresh()

    def pad_left(self, missing: int) -> None:
        """Prepend `missing` zero positions (masked by the caller's attention mask)."""
        zeros = self.keys.new_zeros((*self.keys.shape[:2], missing, self.keys.shape[-1]))
        self.buffer_k = torch.cat([zeros, self.keys], dim=2)
        self.buffer_v = torch.cat([zeros, self.values], dim=2)
        self.length += missing
        self._refresh()

    def append_rows(self, other: _GrowingLayer) -> None:
        """Concatenate `other`'s rows (same length) after these."""
        self.buffer_k = torch.cat([self.keys, other.keys])
        self.buffer_v = torch.cat([self.values, other.values])
        self._refresh()


def _new_cache() -> DynamicCache:
    cache = DynamicCache()
    cache.layer_class_to_replicate = _GrowingLayer  # layers are created lazily, on first update
    return cache


class _Batch:
    """The rows being decoded: their KV cache, mask, last position, next token and token count."""

    ROW_STATE = ("attention_mask", "next_tokens", "last_position", "row_ids", "counts", "alive")

    def __init__(self, model, rows: list[list[int]], row_ids: list[int], pad_id: int):
        device = _model_device(model)
        input_ids, self.attention_mask = _left_pad(rows, pad_id, device)  # (B, T)
        # Left padding shifts the tokens; positions count real tokens only, as in one-at-a-time decoding.
        position_ids = (self.attention_mask.cumsum(-1) - 1).clamp(min=0)  # (B, T)
        self.cache = _new_cache()
        logits = model(
            input_ids=input_ids,
            attention_mask=self.attention_mask,
            position_ids=position_ids,
            past_key_values=self.cache,
            use_cache=True,
            logits_to_keep=1,
        ).logits
        self.next_tokens = logits[:, -1].argmax(-1)  # (B,)
        self.last_position = position_ids[:, -1]  # (B,)
        self.row_ids = torch.tensor(row_ids, device=device)  # (B,) which prompt each row is
        self.counts = torch.ones(len(rows), dtype=torch.long, device=device)  # (B,) tokens generated
        self.alive = torch.ones(len(rows), dtype=torch.bool, device=device)  # (B,) still generating

    def __len__(self) -> int:
        return len(self.row_ids)

    def join(self, other: _Batch) -> None:
        """Append `other`'s rows: both caches are left-padded to one width, then concatenated."""
        width = max(self.attention_mask.shape[1], other.attention_mask.shape[1])
        for batch in (self, other):
            missing = width - batch.attention_mask.shape[1]
            if missing:
                for layer in batch.cache.layers:
                    layer.pad_left(missing)
                pad = batch.attention_mask.new_zeros((len(batch), missing))
                batch.attention_mask = torch.cat([pad, batch.attention_mask], dim=1)
        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            mine.append_rows(theirs)
        for name in self.ROW_STATE:
            setattr(self, name, torch.cat([getattr(self, name), getattr(other, name)]))

    def keep(self, rows: torch.Tensor) -> None:
        """Drop every row not in `rows` (and its cache rows)."""
        self.cache.batch_select_indices(rows)
        for name in self.ROW_STATE:
            setattr(self, name, getattr(self, name)[rows])

    def step(self, model) -> None:
        """Decode one token for every row."""
        ones = self.attention_mask.new_ones((len(self), 1))
        self.attention_mask = torch.cat([self.attention_mask, ones], dim=1)
        self.last_position = self.last_position + 1
        logits = model(
            input_ids=self.next_tokens[:, None],
            attention_mask=self.attention_mask,
            position_ids=self.last_position[:, None],
            past_key_values=self.cache,
            use_cache=True,
        ).logits
        self.next_tokens = logits[:, -1].argmax(-1)
        self.counts = self.counts + 1


@torch.inference_mode()
def _greedy_continuous(
    model, encoded: list[list[int]], max_new_tokens: int, stop_ids: list[int], pad_id: int, batch_size: int
) -> list[list[int]]:
    """Token ids generated for each prompt (EOS included), by continuous batching.

    A row leaves at EOS or at the token limit and waiting prompts take the free places, so the
    batch stays full until the queue runs dry (on a CPU a full batch of 32 costs ~3x one row per
    step, so idle places are the main loss). Prompts enter longest first; newcomers are prefilled
    together and join with their cache left-padded to the batch's width."""
    queue = deque(sorted(range(len(encoded)), key=lambda i: -len(encoded[i])))
    outputs: list[list[int]] = [[] for _ in encoded]
    stops = torch.tensor(stop_ids, device=_model_device(model))
    batch: _Batch | None = None
    # Admit and compact in groups: each admission is a prefill and a cache copy, and so is dropping
    # finished rows; until then a finished row is decoded along (its tokens are discarded).
    admit_at = max(1, batch_size // 4)
    while queue or batch is not None:
        free = batch_size - (len(batch) if batch is not None else 0)
        if queue and (batch is None or free >= min(admit_at, len(queue))):
            # One prefill pads to its longest newcomer: admit only prompts at least half as long,
            # shorter ones follow on the next step (their own prefill, little padding).
            longest = len(encoded[queue[0]])
            new = []
            while queue and len(new) < free and 2 * len(encoded[queue[0]]) >= longest:
                new.append(queue.popleft())
            newcomers = _Batch(model, [encoded[i] for i in new], new, pad_id)
            if batch is None:
                batch = newcomers
            else:
                batch.join(newcomers)
        alive = batch.alive.tolist()
        for row, token, live in zip(batch.row_ids.tolist(), batch.next_tokens.tolist(), alive, strict=True):
            if live:
                outputs[row].append(token)
        batch.alive &= ~torch.isin(batch.next_tokens, stops) & (batch.counts < max_new_tokens)
        finished = len(batch) - int(batch.alive.sum())
        if finished == len(batch):
            batch = None
            continue
        if finished >= admit_at or (queue and finished >= len(queue)):
            batch.keep(batch.alive.nonzero().squeeze(-1))  # finished rows leave with their cache rows
        batch.step(model)
    return outputs


def greedy_generate(
    model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 256, batch_size: int = 32
) -> list[str]:
    """Greedy continuations of raw prompts, decoded as the official script does."""
    model.eval()
    encoded = [tokenizer(p).input_ids for p in prompts]
    if any(len(ids) == 0 for ids in encoded):
        raise ValueError("an empty prompt has no token to continue from")
    stop_ids = stop_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    generated = _greedy_continuous(model, encoded, max_new_tokens, stop_ids, pad_id, batch_size)
    return [decode(tokenizer, token_ids) for token_ids in generated]


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
