"""Model passes that metrics read, each computed once per (model, inputs, settings):

- `greedy_generate`: the fast generation engine. Greedy decoding with the KV cache over a batch
  of left-padded rows with continuous batching: prompts enter longest first, a row leaves at EOS
  or at `max_new_tokens` (its cache rows are dropped) and waiting prompts take the free places,
  so the batch stays full; on a CPU the prompts of one admission are prefilled packed, without
  padding. Same tokens as one-at-a-time greedy decoding (tested), in bf16 too (see "One-at-a-time
  numerics" below). Optional
  `drafts` (e.g. each prompt's reference output) are verified speculatively: one pass checks many
  draft tokens and keeps those the model would have generated (tests/eval/test_drafts.py).
- `sample_generate`: k sampled continuations per prompt (temperature, nucleus), for the sampling
  leakage attack (Leak@k, arXiv 2511.04934): what greedy decoding hides, sampling may reveal. Every
  sample is a row of the continuous batch with its own generator, seeded from (seed, prompt text,
  sample index), so a prompt's samples do not depend on the other prompts of the call.
- `reference_generate`: the official script's way (one prompt at a time, HF `generate`), kept for
  the equivalence test and the speed benchmark.
- `token_statistics`: one forward pass per document giving every per-token quantity the
  likelihood metrics need (log p of each token, and the mean / std of log p under the model's own
  next-token distribution for Min-K%++); every MIA score derives from these arrays.

Decoding follows the official script: raw prompt (no chat template), special tokens as the
tokenizer adds them, `skip_special_tokens=True`, and transformers 4.x's tokenization clean-up.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AttentionInterface, DynamicCache
from transformers.cache_utils import DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.models.llama import modeling_llama

from obliviate.device import model_device
from obliviate.eval import exact_attention, exact_linear, fused_moments
from obliviate.eval.exact_attention import flash_row, row_alone
from obliviate.eval.exact_elementwise import fused_elementwise
from obliviate.keys import content_key
from obliviate.models import plain_output_layer
from obliviate.numerics import label_logps, log_probs, shift_labels, shift_logits, token_logps
from obliviate.training_data import IGNORE_INDEX


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

    def select(self, rows: torch.Tensor, columns: torch.Tensor | None) -> None:
        """Keep `rows` and, unless None, the positions `columns`; copy the filled part plus some
        room to grow, not the whole (doubled) capacity."""
        keys, values = self.keys.index_select(0, rows), self.values.index_select(0, rows)
        if columns is not None:
            keys, values = keys.index_select(2, columns), values.index_select(2, columns)
        self.buffer_k = self.buffer_v = None
        self.length = 0
        self._reserve(keys, keys.shape[2] + 64)
        self.length = keys.shape[2]
        self.buffer_k[:, :, : self.length] = keys
        self.buffer_v[:, :, : self.length] = values
        self._refresh()

    def join(self, other: _GrowingLayer, width: int) -> None:
        """These rows then `other`'s, each left-padded with zeros (masked by the caller's attention
        mask) to `width` positions: one copy, into a buffer with room to grow (a padding copy then a
        concatenation, each exactly sized, made the next token copy the whole cache a third time)."""
        rows = self.keys.shape[0] + other.keys.shape[0]
        _, heads, _, dim = self.keys.shape
        buffer_k = self.keys.new_empty((rows, heads, width + 64, dim))
        buffer_v = self.values.new_empty((rows, heads, width + 64, dim))
        first = 0
        for part in (self, other):
            last, pad = first + part.keys.shape[0], width - part.length
            for buffer, filled in ((buffer_k, part.keys), (buffer_v, part.values)):
                buffer[first:last, :, :pad] = 0
                buffer[first:last, :, pad:width] = filled
            first = last
        self.buffer_k, self.buffer_v, self.length = buffer_k, buffer_v, width
        self._refresh()


def _new_cache() -> DynamicCache:
    cache = DynamicCache()
    cache.layer_class_to_replicate = _GrowingLayer  # layers are created lazily, on first update
    return cache


# One-at-a-time numerics. On a CPU, batched bf16 decoding rounds differently from the official
# one-prompt loop in two places, and each flips a greedy token now and then (12 of 120 generations
# of the default target): a matmul over a (B, K) row-major input runs another kernel than over the
# (1, K) input of one row, and SDPA over left-padded, masked keys accumulates in another order than
# over one row's keys. `_one_at_a_time_numerics` removes both, so the batch gives the official
# loop's tokens bit for bit (tests/eval/test_passes.py; perf/eval_speed.py: 120 of 120) on a CPU
# with native bf16 (AVX512-BF16/AMX). Where bf16 is emulated (an AVX2 EPYC) the column-major matmul
# does not reproduce one row's rounding, and bf16 runs ~15x slower than fp32 there anyway.
ROW_BY_ROW = "obliviate_row_by_row"
# Part of the generation cache key: generations cached before one-at-a-time numerics (version 1)
# may differ in bf16 and are not reused.
GENERATION_VERSION = 2
# Part of the token-statistics cache key: version 1 was the right-padded batch, whose attention and
# matmuls round differently from one document alone; 2 took Min-K%++'s moments from torch's ops
# everywhere (now `fused_moments`, float64 sums, on AVX-512 CPUs).
TOKEN_STATS_VERSION = 3


def _row_by_row_attention(
    module, query, key, value, attention_mask, scaling=None, row_lengths=None, segment_lengths=None, **kwargs
):
    """Each row attends to its own last `row_lengths[i]` cached positions through the kernel SDPA
    runs for one unpadded row on a CPU (no mask; causal when a row has several queries, which then
    are its keys: a prefill). query: (B, H, Q, D), keys: (B, H_kv, T, D); returns (B, Q, H, D),
    zeros at padded query positions and for rows of length 0. With `segment_lengths` instead,
    B = 1 holds packed prompts of those lengths, each attending causally to itself. Decoding steps
    (one query per row) take `exact_attention`'s batched kernel where it reproduces that kernel."""
    if segment_lengths is not None:  # one packed row of prompts, each attending to itself only
        packed = exact_attention.prefill_attention(query, key, value, segment_lengths, scaling)
        if packed is not None:  # the same numbers, all documents in one call
            return packed, None
        starts = [0, *itertools.accumulate(segment_lengths)]
        segments = [
            flash_row(query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], scaling)
            for a, b in zip(starts[:-1], starts[1:], strict=True)
        ]
        return torch.cat(segments, dim=2).transpose(1, 2), None
    queries, width = query.shape[2], key.shape[2]
    if queries == 1:
        batched = exact_attention.decode_attention(query, key, value, row_lengths, scaling)
        if batched is not None:  # the same numbers for every row in one call
            return batched, None
        skipped = query.new_zeros((1, *query.shape[1:]))
        rows = [
            row_alone(query, key, value, i, n, scaling) if n else skipped for i, n in enumerate(row_lengths)
        ]
        return torch.cat(rows).transpose(1, 2), None
    out = query.new_zeros((query.shape[0], queries, query.shape[1], query.shape[3]))
    for i, n in enumerate(row_lengths):
        row = flash_row(
            query[i : i + 1, :, queries - n :],
            key[i : i + 1, :, width - n :],
            value[i : i + 1, :, width - n :],
            scaling,
        )
        out[i, queries - n :] = row[0].transpose(0, 1)
    return out, None


AttentionInterface.register(ROW_BY_ROW, _row_by_row_attention)

# Training with packed sequences (the engine's `pack_sequences`): the model attends through this for
# the whole run, and `numerics.label_logits` packs its batches. A packed forward's segments go
# through `_row_by_row_attention`, any other batch through SDPA as before; so activation
# checkpointing's recomputation, which runs after `packed_hidden_states` has switched the model
# back, attends as the forward did.
PACKED_OR_SDPA = "obliviate_packed_or_sdpa"


def _packed_or_sdpa_attention(
    module, query, key, value, attention_mask, scaling=None, segment_lengths=None, **kwargs
):
    if segment_lengths is not None:
        return _row_by_row_attention(module, query, key, value, None, scaling, None, segment_lengths)
    return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, **kwargs)


AttentionInterface.register(PACKED_OR_SDPA, _packed_or_sdpa_attention)
AttentionMaskInterface.register(PACKED_OR_SDPA, sdpa_mask)


def packed_training_attention(model, on: bool) -> bool:
    """Switch a model that can pack (`packs_sequences`, with SDPA) to PACKED_OR_SDPA (on), or back to
    SDPA (off); whether it switched."""
    current = model.config._attn_implementation
    if on and current == "sdpa" and packs_sequences(model):
        model.config._attn_implementation = PACKED_OR_SDPA
        return True
    if not on and current == PACKED_OR_SDPA:
        model.config._attn_implementation = "sdpa"
        return True
    return False


def _one_token_rows_linear(module: torch.nn.Linear):
    """`module.forward` that multiplies a batch of one-token rows as torch multiplies each row alone:
    through `exact_linear`'s kernel (its packed weight read once for all rows) where it reproduces
    torch's here, else in column-major order, which makes torch's matmul take its one-row kernel
    for every row."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[1] != 1:
            return F.linear(x, module.weight, module.bias)
        if module.bias is None and x.dtype == torch.bfloat16 and exact_linear.reproduces_torch(module.weight):
            packed = exact_linear.packed_weight(module)
            return exact_linear.row_linear(x.reshape(x.shape[0], -1), packed).unsqueeze(1)
        if x.shape[0] == 1:
            return F.linear(x, module.weight, module.bias)
        columns = x.reshape(x.shape[0], -1).t().contiguous().t()
        if module.bias is None:
            return (columns @ module.weight.t()).unsqueeze(1)
        # addmm adds the bias before rounding, as F.linear does
        return torch.addmm(module.bias, columns, module.weight.t()).unsqueeze(1)

    return forward


def _row_by_row_capable(model) -> bool:
    """Whether `_row_by_row_attention` can stand in for the model's attention: SDPA on a CPU (it
    calls SDPA's CPU kernel) in a model that takes its attention from transformers' registry (else
    the switch is ignored and packed prompts would attend to each other)."""
    return (
        model_device(model).type == "cpu"
        and model.config._attn_implementation in ("sdpa", ROW_BY_ROW, PACKED_OR_SDPA)
        and getattr(model, "_supports_attention_backend", False)
    )


@contextmanager
def _attention_implementation(model, name: str):
    """Within: the model's layers take their attention from the registry entry `name`."""
    previous = model.config._attn_implementation
    model.config._attn_implementation = name
    try:
        yield
    finally:
        model.config._attn_implementation = previous


def packs_sequences(model) -> bool:
    """Whether sequences can run packed (`packed_hidden_states`: prompts' prefill, the likelihood
    pass, training's label positions): row-by-row attention, and logits that are the plain output
    layer of the decoder's last hidden state."""
    return _row_by_row_capable(model) and plain_output_layer(model)


@contextmanager
def _one_at_a_time_numerics(model, enabled: bool):
    """Within: `model` computes each row of a batch as it would compute that row alone (bf16 SDPA
    models on a CPU; not with speculative drafts, whose rows have several queries). Yields whether
    it is on."""
    # fp32 needs no help: its one-row matmul kernel differs too, but by far less than a greedy
    # margin (identical generations, tests/eval/test_passes.py), and the batched path is faster.
    on = enabled and next(model.parameters()).dtype == torch.bfloat16 and _row_by_row_capable(model)
    if not on:
        yield False
        return
    linears = [m for m in model.modules() if type(m) is torch.nn.Linear]
    for m in linears:
        m.forward = _one_token_rows_linear(m)
    try:
        with _attention_implementation(model, ROW_BY_ROW), fused_elementwise(model):
            yield True
    finally:
        for m in linears:
            del m.forward


def lean_decoding(model) -> bool:
    """Whether `_lean_decode_step` computes what `model(...)` computes for a decoding step: a
    transformers Llama, unsubclassed, with no forward hooks (the lean step calls its submodules
    directly, so a hook on the model or a layer would be skipped)."""
    inner = getattr(model, "model", None)
    if type(model) is not modeling_llama.LlamaForCausalLM or type(inner) is not modeling_llama.LlamaModel:
        return False
    layers = inner.layers[: model.config.num_hidden_layers]
    if not all(type(m) is modeling_llama.LlamaDecoderLayer for m in layers):
        return False
    if not all(type(m.self_attn) is modeling_llama.LlamaAttention for m in layers):
        return False
    hooks = torch.nn.modules.module
    if hooks._global_forward_hooks or hooks._global_forward_pre_hooks:
        return False
    return not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def _lean_decode_step(model, input_ids, position_ids, cache, row_lengths: list[int]) -> torch.Tensor:
    """Logits (B, 1, V) of a decoding step (one token per row) under one-at-a-time numerics: the
    ops of transformers' Llama forward in its order (so the same bits), without the layers of
    wrappers around them (mask building, output capture, keyword plumbing: 0.14 s of a LUME
    generation's 3.9 s). For models that pass `lean_decoding`."""
    inner = model.model
    hidden = inner.embed_tokens(input_ids)  # (B, 1, hidden)
    cos, sin = inner.rotary_emb(hidden, position_ids=position_ids)
    rows = input_ids.shape[0]
    for index, layer in enumerate(inner.layers[: model.config.num_hidden_layers]):
        attention = layer.self_attn
        x = layer.input_layernorm(hidden)
        heads = (rows, 1, -1, attention.head_dim)
        query = attention.q_proj(x).view(heads).transpose(1, 2)
        key = attention.k_proj(x).view(heads).transpose(1, 2)
        value = attention.v_proj(x).view(heads).transpose(1, 2)
        query, key = modeling_llama.apply_rotary_pos_emb(query, key, cos, sin)  # the fused one, if on
        key, value = cache.update(key, value, index)
        out, _ = _row_by_row_attention(attention, query, key, value, None, attention.scaling, row_lengths)
        hidden = hidden + attention.o_proj(out.reshape(rows, 1, -1).contiguous())
        hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
    return model.lm_head(inner.norm(hidden))


# Speculative verification. A row proposes the next tokens of its draft; one forward pass over
# them gives the model's own greedy token after each, and the row keeps the longest prefix the
# model agrees with plus the model's token after it: exactly the greedy tokens, one or many per
# pass. A proposal kept whole is doubled next time; after a miss the row is off its draft and
# realigns, a guess, so it proposes only RETRY_SPAN tokens (every proposed token costs about as
# much as a generated one on a CPU).
DRAFT_SPAN = 8
RETRY_SPAN = 2
MAX_DRAFT_SPAN = 64
# Below this many tokens a forward pass costs little more than one token (reading the weights
# dominates on a CPU), so short proposals are padded to the longest; above it, rows pad to a
# common width only while at least half of the positions hold a real token.
FREE_TOKENS = 32


class _Row:
    """One prompt being decoded: the tokens generated so far and where they stand in its draft."""

    def __init__(
        self,
        prompt: int,
        draft: Sequence[int],
        corpus: dict | None = None,
        generator: torch.Generator | None = None,
    ):
        self.prompt = prompt
        self.generator = generator  # a sampled row's own random stream (None: greedy)
        self.tokens: list[int] = []
        self.done = False
        self.draft = list(draft)
        self.corpus = corpus or {}  # every draft's trigrams: (draft, position after), see _trigrams
        self.cursor: int | None = 0  # draft[cursor] is the draft's next token; None: off the draft
        self.floor = 0  # after a miss the draft is searched from here on first
        self.span = DRAFT_SPAN
        self._ngrams: dict[tuple[int, ...], list[int]] | None = None

    def proposal(self, room: int) -> list[int]:
        """The draft tokens to verify next (at most `room`)."""
        if self.done:
            return []
        if self.cursor is None:
            self.cursor = self._realign()
        if self.cursor is None:
            return []
        return self.draft[self.cursor : self.cursor + min(self.span, room)]

    def _realign(self) -> int | None:
        """Off the draft (the model wrote something else): continue after the first place, from
        `floor` on if there is one, where the draft holds the last 3 (else 2, else 1) generated
        tokens."""
        if self._ngrams is None:
            self._ngrams = {}
            for m in (1, 2, 3):
                for i in range(len(self.draft) - m):  # an n-gram with a token after it
                    self._ngrams.setdefault(tuple(self.draft[i : i + m]), []).append(i + m)
        for m in (3, 2, 1):
            if len(self.tokens) >= m:
                after = self._ngrams.get(tuple(self.tokens[-m:]), [])
                if after:  # the first occurrence from `floor` on, else the first of all
                    i = bisect.bisect_left(after, self.floor + m)
                    return after[i] if i < len(after) else after[0]
        # Not in its own draft: a memorizing model often writes another document's text (a
        # neighbour's address), so follow the first other draft holding the last 3 tokens.
        found = self.corpus.get(tuple(self.tokens[-3:]))
        if found is None:
            return None
        self.draft, self._ngrams = found[0], None
        self.floor = found[1]
        return found[1]

    def accept(self, proposal: list[int], predicted: list[int], stop_ids: set[int], limit: int) -> int:
        """Keep the proposal's longest prefix that matches the model's greedy tokens `predicted`
        (`predicted[j]`: the model's token after proposal[:j]), then the model's own next token;
        stop at EOS or at `limit` tokens. Returns the number of proposal tokens kept in the cache."""
        if self.done:
            return 0
        n = 0
        while n < len(proposal) and proposal[n] == predicted[n]:
            n += 1
        for token in (*proposal[:n], predicted[n]):
            self.tokens.append(token)
            if token in stop_ids or len(self.tokens) >= limit:
                self.done = True
                break
        if self.cursor is not None:
            draft_next = self.draft[self.cursor + n : self.cursor + n + 1]
            if n == len(proposal) and draft_next == [predicted[n]]:  # still on the draft
                if n == self.span:
                    self.span = min(2 * self.span, MAX_DRAFT_SPAN)
                self.cursor += n + 1
            else:
                self.floor, self.cursor, self.span = self.cursor + n, None, RETRY_SPAN
        return n


def _trigrams(drafts: Sequence[Sequence[int]]) -> dict[tuple[int, ...], tuple[list[int], int]]:
    """Each trigram of the drafts -> (the first draft holding it, the position after it)."""
    out: dict[tuple[int, ...], tuple[list[int], int]] = {}
    for draft in map(list, drafts):
        for i in range(len(draft) - 3):
            out.setdefault(tuple(draft[i : i + 3]), (draft, i + 3))
    return out


def _step_width(proposals: list[list[int]]) -> int:
    """Proposal tokens per row in one pass (rows with fewer are padded; see FREE_TOKENS)."""
    width = max(map(len, proposals), default=0)
    rows = len(proposals)
    while width and rows * (1 + width) > FREE_TOKENS:
        real = rows + sum(min(len(p), width) for p in proposals)
        if 2 * real >= rows * (1 + width):
            break
        width //= 2
    return width


class _Batch:
    """The rows being decoded: their KV cache, its attention mask (a row's rejected proposal
    tokens stay in the cache, masked out) and each row's last position."""

    def __init__(self, model, rows: list[_Row], prompts: list[list[int]], settings: dict):
        """Prefill: the prompts packed (see `_prefill_packed`), or left-padded and each followed by
        its first proposal."""
        self.rows, self.settings = rows, settings
        self.cache = _new_cache()
        device = model_device(model)
        input_ids, context_mask = _left_pad(prompts, settings["pad_id"], device)  # (B, T)
        # Left padding shifts the tokens; positions count real tokens only, as in one-at-a-time decoding.
        positions = (context_mask.cumsum(-1) - 1).clamp(min=0)  # (B, T)
        self.attention_mask = context_mask[:, :0]  # (B, 0): the cache is empty
        if settings["packed_prefill"]:
            self._prefill_packed(model, prompts, context_mask, positions)
        else:
            self._forward(model, input_ids, context_mask, positions)

    def _prefill_packed(self, model, prompts, context_mask, positions) -> None:
        """Prefill without padding: the prompts back to back in one row, each attending to itself
        (a third of a left-padded prefill's tokens are padding), then their keys and values are
        laid out left-padded for decoding. A prompt that repeats (the k samples of one prompt) is
        computed once. No proposals: only without drafts."""
        device = context_mask.device
        distinct: dict[tuple[int, ...], int] = {}
        source = [distinct.setdefault(tuple(p), len(distinct)) for p in prompts]  # row -> its prompt
        unique_lengths = [len(p) for p in distinct]
        packed = _new_cache()
        with _attention_implementation(model, ROW_BY_ROW):
            hidden = model.get_decoder()(
                input_ids=torch.tensor([[t for p in distinct for t in p]], device=device),
                position_ids=torch.cat([torch.arange(n, device=device) for n in unique_lengths])[None],
                past_key_values=packed,
                use_cache=True,
                segment_lengths=unique_lengths,
            ).last_hidden_state  # (1, S, hidden)
        starts = [0, *itertools.accumulate(unique_lengths)]
        ends = torch.tensor([starts[u + 1] - 1 for u in source], device=device)
        logits = model.get_output_embeddings()(hidden[0, ends].unsqueeze(1))  # (B, 1, V)
        lengths = [len(p) for p in prompts]
        rows = torch.repeat_interleave(
            torch.arange(len(lengths), device=device), torch.tensor(lengths, device=device)
        )
        # each row's tokens in the packed sequence, in the order `columns` lists them
        tokens = torch.cat(
            [
                torch.arange(starts[u], starts[u] + n, device=device)
                for u, n in zip(source, lengths, strict=True)
            ]
        )
        columns = context_mask.nonzero()[:, 1]  # each real token's place in the left-padded layout
        for index, layer in enumerate(packed.layers):
            keys = layer.keys.new_zeros(
                (len(lengths), layer.keys.shape[1], context_mask.shape[1], layer.keys.shape[-1])
            )
            values = torch.zeros_like(keys)
            keys[rows, :, columns] = layer.keys[0].transpose(0, 1)[tokens]
            values[rows, :, columns] = layer.values[0].transpose(0, 1)[tokens]
            self.cache.update(keys, values, index)
        self._take(logits, [[] for _ in prompts], context_mask, positions)

    def __len__(self) -> int:
        return len(self.rows)

    def _forward(self, model, context_ids, context_mask, context_positions) -> None:
        """One pass over each row's context (tokens already decided, in the cache afterwards)
        followed by its proposal; every row then takes its verified tokens."""
        s = self.settings
        room = [s["max_new_tokens"] - len(row.tokens) - 1 for row in self.rows]
        proposals = [row.proposal(r) for row, r in zip(self.rows, room, strict=True)]
        width = _step_width(proposals)
        proposals = [p[:width] for p in proposals]
        drafted = torch.full((len(self), width), s["pad_id"], dtype=torch.long)  # (B, K)
        for i, p in enumerate(proposals):
            drafted[i, : len(p)] = torch.tensor(p, dtype=torch.long)
        device = context_ids.device
        offsets = torch.arange(1, width + 1, device=device)
        # The padding after a short proposal comes after all of that row's real tokens, so no real
        # token attends to it; it is masked out afterwards, with the rejected tokens.
        trying = context_mask.new_ones((len(self), width))
        attention_mask = torch.cat([self.attention_mask, context_mask, trying], dim=1)
        row_by_row = {}
        if s["row_by_row"]:
            # Without proposals each row's real positions are the last ones of the cache (left
            # padding). A finished row rides along until dropped; its attention is skipped (0).
            lengths = attention_mask.sum(-1).tolist()
            row_by_row["row_lengths"] = [
                0 if row.done else n for row, n in zip(self.rows, lengths, strict=True)
            ]
        if s["lean"] and width == 0 and context_ids.shape[1] == 1:
            lengths = row_by_row["row_lengths"]
            logits = _lean_decode_step(model, context_ids, context_positions, self.cache, lengths)
        else:
            logits = model(
                input_ids=torch.cat([context_ids, drafted.to(device)], dim=1),
                attention_mask=attention_mask,
                position_ids=torch.cat([context_positions, context_positions[:, -1:] + offsets], dim=1),
                past_key_values=self.cache,
                use_cache=True,
                logits_to_keep=width + 1,
                **row_by_row,
            ).logits
        self._take(logits, proposals, context_mask, context_positions)

    def _take(self, logits, proposals, context_mask, context_positions) -> None:
        """Every row takes its verified tokens from the pass's `logits` (B, K+1, V); the context
        and the kept proposal tokens join the attention mask."""
        s = self.settings
        predicted = s["choose"](logits, self.rows)  # (B, K+1): the row's token after each position
        kept = [
            row.accept(p, pred, s["stop_ids"], s["max_new_tokens"])
            for row, p, pred in zip(self.rows, proposals, predicted, strict=True)
        ]
        device = context_mask.device
        kept = torch.tensor(kept, device=device)  # (B,) proposal tokens that stay
        offsets = torch.arange(1, logits.shape[1], device=device)
        verified = (offsets[None] <= kept[:, None]).to(context_mask.dtype)  # (B, K)
        self.attention_mask = torch.cat([self.attention_mask, context_mask, verified], dim=1)
        self.last_position = context_positions[:, -1] + kept  # (B,)

    def step(self, model) -> None:
        """Feed every row's last token (and its proposal): one or more tokens per row."""
        device = self.attention_mask.device
        last_tokens = torch.tensor([[row.tokens[-1]] for row in self.rows], device=device)  # (B, 1)
        ones = self.attention_mask.new_ones((len(self), 1))
        self._forward(model, last_tokens, ones, self.last_position[:, None] + 1)

    def join(self, other: _Batch) -> None:
        """Append `other`'s rows: both caches are left-padded to one width, then concatenated."""
        width = max(self.attention_mask.shape[1], other.attention_mask.shape[1])
        for batch in (self, other):
            missing = width - batch.attention_mask.shape[1]
            if missing:
                pad = batch.attention_mask.new_zeros((len(batch), missing))
                batch.attention_mask = torch.cat([pad, batch.attention_mask], dim=1)
        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            mine.join(theirs, width)
        self.attention_mask = torch.cat([self.attention_mask, other.attention_mask])
        self.last_position = torch.cat([self.last_position, other.last_position])
        self.rows += other.rows

    def drop_finished(self) -> None:
        """Drop finished rows, their cache rows, and the positions no remaining row attends to
        (left padding of the longest prompts, proposal tokens rejected everywhere)."""
        keep = [i for i, row in enumerate(self.rows) if not row.done]
        keep = torch.tensor(keep, device=self.attention_mask.device)  # it indexes the cache
        mask = self.attention_mask[keep]
        used = mask.any(0)
        columns = None if bool(used.all()) else used.nonzero().squeeze(-1)
        for layer in self.cache.layers:
            layer.select(keep, columns)
        self.attention_mask = mask if columns is None else mask[:, columns]
        self.last_position = self.last_position[keep]
        self.rows = [self.rows[i] for i in keep.tolist()]


@dataclass(frozen=True)
class NgramBan:
    """Token n-grams a decoder must not complete: after the n-1 tokens `key`, none of
    `next_tokens[key]` (a guardrail's forbidden continuations of reference texts)."""

    n: int
    next_tokens: dict[tuple[int, ...], frozenset[int]]

    @classmethod
    def of(cls, references: Sequence[Sequence[int]], n: int) -> NgramBan:
        """Every n-gram of the token sequences `references` banned."""
        if n < 2:
            raise ValueError(f"n = {n}: an n-gram ban needs n >= 2 (1 would ban tokens outright)")
        found: dict[tuple[int, ...], set[int]] = {}
        for ids in references:
            for t in range(n - 1, len(ids)):
                found.setdefault(tuple(ids[t - n + 1 : t]), set()).add(ids[t])
        return cls(n, {key: frozenset(v) for key, v in found.items()})

    def banned(self, context: Sequence[int]) -> frozenset[int]:
        """The tokens that would complete a banned n-gram after `context` (prompt + generated)."""
        if len(context) < self.n - 1:
            return frozenset()
        return self.next_tokens.get(tuple(context[len(context) - self.n + 1 :]), frozenset())


def _banning(choose, encoded: list[list[int]], ban: NgramBan):
    """`choose` over logits where each row's banned next tokens are set to -inf (the row's prompt
    and generated tokens are its context). Without drafts a pass holds one position per row."""

    def banned_choose(logits: torch.Tensor, rows: list[_Row]) -> list[list[int]]:
        if logits.shape[1] != 1:
            raise ValueError("an n-gram ban decodes without drafts (one position per row)")
        logits = logits.clone()
        for r, row in enumerate(rows):
            tokens = ban.banned(encoded[row.prompt] + row.tokens)
            if tokens:
                logits[r, -1, list(tokens)] = float("-inf")
        return choose(logits, rows)

    return banned_choose


def _greedy_tokens(logits: torch.Tensor, rows: list[_Row]) -> list[list[int]]:
    """The greedy token after each position of each row; argmax is ~4x faster in fp32 than in bf16."""
    return logits.float().argmax(-1).tolist()


def _sampled_tokens(temperature: float, top_p: float):
    """A `choose` that draws each row's next token from its own generator (temperature, then
    nucleus). A finished row draws nothing, so a row's draws never depend on its batch."""

    def choose(logits: torch.Tensor, rows: list[_Row]) -> list[list[int]]:
        scaled = logits[:, -1].float() / temperature  # (B, V)
        probs = torch.softmax(scaled, dim=-1)
        live = [not row.done for row in rows]
        tokens = []
        for row, kept in zip(rows, nuclei(scaled, probs, top_p, live), strict=True):
            if kept is None:
                tokens.append([0])
                continue
            ids, weights = kept
            tokens.append([int(ids[torch.multinomial(weights, 1, generator=row.generator)])])
        return tokens

    return choose


@torch.inference_mode()
def _decode_continuous(
    model,
    encoded: list[list[int]],
    drafts: Sequence[Sequence[int]],
    max_new_tokens: int,
    stop_ids: list[int],
    pad_id: int,
    batch_size: int,
    row_by_row: bool = False,
    packed_prefill: bool = False,
    choose=_greedy_tokens,
    generators: Sequence[torch.Generator] | None = None,
) -> list[list[int]]:
    """Token ids generated for each prompt (EOS included), by continuous batching: greedy, or
    drawn by `choose` (`_sampled_tokens`, one generator per row, no drafts).

    A row leaves at EOS or at the token limit and waiting prompts take the free places, so the
    batch stays full until the queue runs dry (on a CPU a full batch of 32 costs ~3x one row per
    step, so idle places are the main loss). Prompts enter longest first; newcomers are prefilled
    together and join with their cache left-padded to the batch's width."""
    settings = {
        "max_new_tokens": max_new_tokens,
        "stop_ids": set(stop_ids),
        "pad_id": pad_id,
        "row_by_row": row_by_row,
        # decoding steps skip transformers' wrappers where that computes the same (row by row only)
        "lean": row_by_row and lean_decoding(model),
        "packed_prefill": packed_prefill,
        "choose": choose,
    }
    queue = deque(sorted(range(len(encoded)), key=lambda i: -len(encoded[i])))
    corpus = _trigrams(drafts)
    rows = [_Row(i, drafts[i], corpus, generators[i] if generators else None) for i in range(len(encoded))]
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
            newcomers = _Batch(model, [rows[i] for i in new], [encoded[i] for i in new], settings)
            if batch is None:
                batch = newcomers
            else:
                batch.join(newcomers)
        finished = sum(row.done for row in batch.rows)
        if finished == len(batch):
            batch = None
            continue
        # Finished rows also pad to the step's proposal width: once they are half the batch, drop them.
        if finished >= admit_at or (queue and finished >= len(queue)) or 2 * finished >= len(batch):
            batch.drop_finished()
        batch.step(model)
    return [row.tokens for row in rows]


def greedy_generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int = 256,
    batch_size: int = 96,
    drafts: Sequence[Sequence[int]] | None = None,
    ban: NgramBan | None = None,
) -> list[str]:
    """Greedy continuations of raw prompts, decoded as the official script does.

    `drafts` (token ids per prompt, e.g. the expected output) only change the speed: the model
    verifies them and keeps what it would have generated anyway (see `_Row.accept`). `ban`: the
    greedy token among those that complete no banned n-gram (no drafts then)."""
    model.eval()
    encoded = [tokenizer(p).input_ids for p in prompts]
    if any(len(ids) == 0 for ids in encoded):
        raise ValueError("an empty prompt has no token to continue from")
    if drafts is None:
        drafts = [[] for _ in prompts]
    if len(drafts) != len(prompts):
        raise ValueError(f"{len(drafts)} drafts for {len(prompts)} prompts")
    if ban is not None and any(drafts):
        raise ValueError("an n-gram ban decodes without drafts")
    stop_ids = stop_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    plain = not any(drafts)
    choose = _greedy_tokens if ban is None else _banning(_greedy_tokens, encoded, ban)
    with _one_at_a_time_numerics(model, enabled=plain) as row_by_row:
        packed = packs_sequences(model)
        generated = _decode_continuous(
            model, encoded, drafts, max_new_tokens, stop_ids, pad_id, batch_size, row_by_row, packed, choose
        )
    return [decode(tokenizer, token_ids) for token_ids in generated]


@torch.inference_mode()
def reference_generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 256) -> list[str]:
    """The official script's loop: one prompt at a time through HF `generate` (slow; for checks)."""
    model.eval()
    device = model_device(model)
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


# Part of the sample cache key: bump when the sampling procedure (and so a seed's samples) changes.
SAMPLE_VERSION = 2  # 2: one generator per sample, rows in the continuous batch


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """`logits` (..., V) with every token outside the nucleus set to -inf: the nucleus is the
    smallest set of most probable tokens whose probability mass is at least `top_p` (Holtzman et
    al. 2020), so it always holds the top token, and top_p = 1 keeps every token.

    A token is kept while the mass of the tokens ranked above it is still below `top_p`. Ties rank
    the lower id first (a stable sort), as `argmax` does, so a tiny top_p is greedy decoding."""
    if top_p >= 1:  # everything; a float32 cumsum can pass 1 before the last tokens and drop them
        return logits
    probs = torch.softmax(logits.float(), dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True, stable=True)
    # the mass above each ranked token as an exclusive cumsum, not cumsum - p, which rounds
    mass_above = torch.cat([torch.zeros_like(sorted_probs[..., :1]), sorted_probs.cumsum(-1)[..., :-1]], -1)
    drop_sorted = mass_above >= top_p
    drop = torch.empty_like(drop_sorted).scatter_(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


# The nucleus is looked for among each row's most probable tokens first, the 16 most probable, then
# for the rows whose nucleus may reach beyond those the 512: a full sort of a 49k vocabulary for
# each of 64 rows costs ~200 ms a decoding step on a 2-core CPU, a top-512 ~17 ms, a top-16 ~4 ms
# (one thread), and a peaked distribution's nucleus holds a few tokens.
NUCLEUS_CANDIDATES = (16, 512)


def nuclei(
    logits: torch.Tensor, probs: torch.Tensor, top_p: float, wanted: Sequence[bool] | None = None
) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
    """For each row of `logits` (B, V): (ids, probabilities) of the tokens `top_p_filter(logits,
    top_p)` keeps (`probs` = softmax(logits)); None for a row not `wanted`. Found among the row's
    most probable tokens (NUCLEUS_CANDIDATES, fewest first), ranked as `top_p_filter` ranks them
    (ties: lower id first), the rows in one call of each op (a sort or scan runs along each row by
    itself, so a row's values are those it gets alone); a row whose nucleus may reach beyond the
    most candidates (a flat distribution, or a tie at its edge) takes `top_p_filter` itself."""
    found: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * probs.shape[0]
    pending = [r for r, w in enumerate([True] * probs.shape[0] if wanted is None else wanted) if w]
    for count in NUCLEUS_CANDIDATES if top_p < 1 else ():
        if not pending or count >= probs.shape[-1]:
            break
        values, ids = (probs if len(pending) == probs.shape[0] else probs[pending]).topk(count)
        by_id = ids.argsort()
        values, ids = values.gather(-1, by_id), ids.gather(-1, by_id)
        ranked = values.argsort(descending=True, stable=True)
        values, ids = values.gather(-1, ranked), ids.gather(-1, ranked)
        mass_above = torch.cat([values.new_zeros(len(pending), 1), values.cumsum(-1)[:, :-1]], -1)
        sizes = (mass_above < top_p).sum(-1)
        # every token outside the candidates is at most as probable as the last candidate, so a
        # nucleus whose last token is more probable than that lies among the candidates
        inside = (values.gather(-1, sizes[:, None] - 1)[:, 0] > values[:, -1]).tolist()
        still = []
        for j, (r, size) in enumerate(zip(pending, sizes.tolist(), strict=True)):
            if inside[j]:
                found[r] = (ids[j, :size], values[j, :size])
            else:
                still.append(r)
        pending = still
    for r in pending:
        kept = top_p_filter(logits[r], top_p).isfinite().nonzero().squeeze(-1)
        found[r] = (kept, probs[r, kept])
    return found


def _sample_generator(seed: int, prompt: str, sample: int, device: torch.device) -> torch.Generator:
    """The generator of one sample of one prompt, seeded from (seed, prompt text, sample index): a
    sample is the same whatever else is sampled in the call. A content key, not Python's `hash()`,
    which is salted per process."""
    key = content_key({"seed": seed, "prompt": prompt, "sample": sample})
    return torch.Generator(device=device).manual_seed(int(key, 16))


@torch.inference_mode()
def sample_generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    k: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    seed: int,
    batch_size: int = 64,
    ban: NgramBan | None = None,
) -> list[list[str]]:
    """`k` sampled continuations of each raw prompt (temperature, then nucleus filtering), decoded
    as `greedy_generate` decodes. Each sample is a row of the continuous batch with its own
    generator (`_sample_generator`), and bf16 rows run under the one-at-a-time numerics, so a
    prompt's samples are the same bit for bit whether it is sampled alone or with others, in any
    batch. (fp32 takes the batched kernels, whose rounding differs from one row's in the last bits:
    a draw could only flip on a probability boundary.) Reproducible under `seed`; the same seed
    gives other samples on another device type (its own random stream)."""
    if k < 1:
        raise ValueError(f"k = {k}: at least one sample per prompt")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens = {max_new_tokens}: at least one token")
    if not temperature > 0:
        raise ValueError(f"temperature = {temperature}: must be > 0 (greedy decoding is greedy_generate)")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p = {top_p}: must be in (0, 1]")
    model.eval()
    encoded = [tokenizer(p).input_ids for p in prompts]
    if any(len(ids) == 0 for ids in encoded):
        raise ValueError("an empty prompt has no token to continue from")
    stop_ids = stop_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    device = model_device(model)
    rows = [ids for ids in encoded for _ in range(k)]
    generators = [_sample_generator(seed, p, j, device) for p in prompts for j in range(k)]
    choose = _sampled_tokens(temperature, top_p)
    if ban is not None:  # drawn among the tokens that complete no banned n-gram
        choose = _banning(choose, rows, ban)
    with _one_at_a_time_numerics(model, enabled=True) as row_by_row:
        tokens = _decode_continuous(
            model,
            rows,
            [[] for _ in rows],
            max_new_tokens,
            stop_ids,
            pad_id,
            batch_size,
            row_by_row,
            packs_sequences(model),
            choose=choose,
            generators=generators,
        )
    return [[decode(tokenizer, t) for t in tokens[i * k : (i + 1) * k]] for i in range(len(prompts))]


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
    """One forward pass per document, `batch_size` documents per forward; see `TokenStats`.

    On a CPU (SDPA models with a plain output layer) the documents of a forward are packed back to
    back without padding, each attending to itself through the kernel it runs alone, and the output
    layer runs at scored positions only: every value is the document's alone, as the official
    one-document loop computes it (tests/eval/test_passes.py). Elsewhere the batch is right-padded."""
    model.eval()
    encoded = [tokenizer(t).input_ids[:max_length] for t in texts]
    order = sorted(range(len(texts)), key=lambda i: -len(encoded[i]))
    order = [i for i in order if len(encoded[i]) > 1]  # a lone token (BOS) scores nothing
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    statistics = _packed_statistics if packs_sequences(model) else _padded_statistics
    stats = [TokenStats(*(np.zeros(0, dtype=np.float32) for _ in range(3))) for _ in texts]
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        for i, row_stats in zip(rows, statistics(model, [encoded[i] for i in rows], pad_id), strict=True):
            stats[i] = row_stats
    return stats


def packed_hidden_states(model, ids: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """The decoder's last hidden states (N, H) of sequences of `lengths` back to back in `ids` (N,),
    each attending to itself alone through the kernel SDPA runs for it alone (`_row_by_row_attention`):
    no padding is computed, and each sequence's values are those of its own unpadded forward pass."""
    with _attention_implementation(model, ROW_BY_ROW), fused_elementwise(model):
        return model.get_decoder()(
            input_ids=ids[None],
            position_ids=torch.cat([torch.arange(n, device=ids.device) for n in lengths])[None],
            use_cache=False,
            segment_lengths=lengths,
        ).last_hidden_state[0]


def _packed_statistics(model, documents: list[list[int]], pad_id: int) -> list[TokenStats]:
    """The documents in one row (`packed_hidden_states`); the output layer and the statistics a
    chunk of scored positions at a time."""
    device = model_device(model)
    lengths = [len(d) for d in documents]
    ids = torch.tensor([t for d in documents for t in d], device=device)
    hidden = packed_hidden_states(model, ids, lengths)
    starts = list(itertools.accumulate(lengths, initial=0))
    scored = torch.cat([torch.arange(a, b - 1, device=device) for a, b in itertools.pairwise(starts)])
    output_layer = model.get_output_embeddings()
    values = _position_statistics(lambda a, b: output_layer(hidden[scored[a:b]]), ids[scored + 1])
    counts = [n - 1 for n in lengths]
    per_document = (np.split(v, np.cumsum(counts)[:-1]) for v in values)
    return [TokenStats(*parts) for parts in zip(*per_document, strict=True)]


def _padded_statistics(model, documents: list[list[int]], pad_id: int) -> list[TokenStats]:
    """The documents right-padded in one batch (where packing is not available)."""
    device = model_device(model)
    width = max(len(d) for d in documents)
    input_ids = torch.full((len(documents), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(documents), width), dtype=torch.long)
    for r, tokens in enumerate(documents):
        input_ids[r, : len(tokens)] = torch.tensor(tokens)
        attention_mask[r, : len(tokens)] = 1
    logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
    predicting = shift_logits(logits)  # (B, T-1, V)
    targets, _ = shift_labels(input_ids.to(device))  # token ids, never -100
    out = []
    for r, tokens in enumerate(documents):
        n = len(tokens) - 1
        out.append(TokenStats(*_position_statistics(lambda a, b, r=r: predicting[r, a:b], targets[r, :n])))
    return out


# Positions whose fp32 log-probs are computed together: ~1.5 MB at a 49k vocabulary, which stays in
# cache through the log-softmax, the gather and the moments (the whole batch's were ~0.6 GB, and
# the moments' temporaries made the pass take longer than the model's forward).
STATISTICS_CHUNK = 8
# On an accelerator a chunk that small is all kernel launches: a random 1B Llama's pass over LUME's
# 68 validation MIA documents on an H200 took 430-490 ms with it, 191-195 ms with this one, against
# 128-146 ms for the forward alone (perf/accelerator_throughput.py). There the positions of a
# document go together, up to this many (~200 MB of fp32 log-probs at a 49k vocabulary); a GPU's
# reductions depend on how many rows they reduce together, so the values move by ~3e-5.
ACCELERATOR_STATISTICS_CHUNK = 1024
# Positions whose logits the output layer computes together, where the pass computes them: its
# matmul is fastest here at about this many rows (a 49k-wide output).
OUTPUT_CHUNK = 256


def _position_statistics(logits_of, targets: torch.Tensor) -> tuple[np.ndarray, ...]:
    """(log p of each target, mu, sigma) at n positions, given the tokens they predict (n,) and
    `logits_of(a, b)`, the logits (b - a, V) of positions a to b, a chunk of positions at a time.
    Every quantity is per position and reduces over the vocabulary alone, so on a CPU the values do
    not depend on the chunks, bit for bit (tests/eval/test_passes.py). On a CPU with the kernels the
    three come from each block of logits in one pass (`fused_moments.logit_statistics`, the same
    bits: 0.37 s less of a ~15 s pass over LUME's 68 validation MIA documents). Elsewhere no chunk is
    a lone position: torch sums a single row of a wide vocabulary across threads, in another order
    (so a document scoring one token gets the order of every other)."""
    n = len(targets)
    if fused_moments.fuses_statistics(targets):  # one pass per row, straight from its logits
        bounds = [*range(0, n, OUTPUT_CHUNK), n]
        blocks = [
            fused_moments.logit_statistics(logits_of(a, b), targets[a:b])
            for a, b in itertools.pairwise(bounds)
        ]
        return tuple(torch.cat(column).numpy() for column in zip(*blocks, strict=True))
    step = STATISTICS_CHUNK if targets.device.type == "cpu" else ACCELERATOR_STATISTICS_CHUNK
    bounds = [*range(0, n, step), n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]  # a lone last position joins the chunk before it
    logps, mus, sigmas = [], [], []
    block_start, block = 0, None
    for a, b in itertools.pairwise(bounds):
        if block is None or b > block_start + len(block):
            block_start, block = a, logits_of(a, max(b, min(n, a + OUTPUT_CHUNK)))
        chunk, chunk_targets = block[a - block_start : b - block_start], targets[a:b]
        if b - a == 1:  # a document scoring one token: its row twice, and the first kept
            chunk, chunk_targets = chunk.repeat(2, 1), chunk_targets.repeat(2)
        log_p = log_probs(chunk)
        mu, sigma = fused_moments.logp_moments(log_p)
        for column, value in ((logps, label_logps(log_p, chunk_targets)), (mus, mu), (sigmas, sigma)):
            column.append(value[: b - a])
    return tuple(torch.cat(column).cpu().numpy() for column in (logps, mus, sigmas))


@torch.inference_mode()
def answer_logprobs(
    model, tokenizer, prompts: Sequence[str], answers: Sequence[str], batch_size: int = 8
) -> list[np.ndarray]:
    """Per-token log p of each answer after its prompt, teacher-forced: [log p(a_1 | prompt),
    log p(a_2 | prompt, a_1), ...] as float32 arrays, one per (prompt, answer).

    Tokens as the targets were trained (`training_data.tokenize_pair`, without its EOS): the
    prompt as the tokenizer encodes it (BOS included), then `" " + answer` without special tokens;
    an empty prompt scores the answer's own tokens after its first. Rows are right-padded in
    batches of `batch_size`; padding changes nothing (tested against one row at a time)."""
    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts for {len(answers)} answers")
    model.eval()
    device = model_device(model)
    rows = []
    for prompt, answer in zip(prompts, answers, strict=True):
        if prompt:
            prompt_ids = tokenizer(prompt).input_ids
            answer_ids = tokenizer(" " + answer, add_special_tokens=False).input_ids
        else:
            prompt_ids, answer_ids = [], tokenizer(answer).input_ids
        rows.append((prompt_ids, answer_ids))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out: list[np.ndarray | None] = [None] * len(rows)
    order = sorted(range(len(rows)), key=lambda i: -sum(map(len, rows[i])))
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = max(sum(map(len, rows[i])) for i in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        for r, i in enumerate(batch):
            prompt_ids, answer_ids = rows[i]
            ids = prompt_ids + answer_ids
            input_ids[r, : len(ids)] = torch.tensor(ids)
            attention_mask[r, : len(ids)] = 1
            # with no prompt, the first answer token has nothing before it to be predicted from
            first = len(prompt_ids) if prompt_ids else 1
            labels[r, first : len(ids)] = input_ids[r, first : len(ids)]
        logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
        logps, mask = token_logps(logits, labels.to(device))  # (B, T-1): position t predicts t+1
        for r, i in enumerate(batch):
            out[i] = logps[r][mask[r]].cpu().numpy()
    return out  # type: ignore[return-value]
