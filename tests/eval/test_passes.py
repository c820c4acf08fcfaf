"""The fast generation engine and the likelihood pass against their plain definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from obliviate.device import native_bf16
from obliviate.eval import exact_attention, exact_linear, fused_moments, passes
from obliviate.eval.cache import PassCache
from obliviate.eval.metrics.mia import token_moments
from obliviate.eval.passes import (
    STATISTICS_CHUNK,
    _one_at_a_time_numerics,
    _one_token_rows_linear,
    _row_by_row_attention,
    greedy_generate,
    lean_decoding,
    reference_generate,
    token_statistics,
)
from obliviate.models import load_model
from tests.conftest import target_or_base


def _prompts(benchmark):
    split = benchmark.split("train")
    return [p.input for doc in (*split.forget, *split.retain) for p in doc.prompts]


@pytest.mark.parametrize(
    "dtype, attention",
    [(torch.float32, "sdpa"), (torch.bfloat16, "exact batched kernel"), (torch.bfloat16, "row by row")],
)
@pytest.mark.parametrize("which", ["target", "base"])
def test_batched_generation_equals_one_at_a_time(
    which, dtype, attention, smoke_cfg, smoke_benchmark, smoke_target, monkeypatch
):
    # The target stops at EOS after its memorized answer; the random base rambles to the limit:
    # rows of one batch stop at different steps, which exercises dropping finished rows.
    # bf16 runs row by row where rounding depends on the batch (_one_at_a_time_numerics): its
    # decoding steps attend through exact_attention's kernel, or row by row where that is missing.
    model, tokenizer = target_or_base(which, smoke_cfg, smoke_benchmark, smoke_target)
    model.to(dtype)
    prompts = _prompts(smoke_benchmark)
    one_by_one = reference_generate(model, tokenizer, prompts, max_new_tokens=40)
    batched_calls = []
    if attention == "row by row":
        monkeypatch.setattr(exact_attention, "_extension", lambda: None)
    elif attention == "exact batched kernel":
        config = model.config
        head_dim = config.hidden_size // config.num_attention_heads
        layout = (config.num_attention_heads, config.num_key_value_heads, head_dim, head_dim**-0.5)
        if not exact_attention.reproduces_torch(*layout):
            pytest.skip(
                "no exact batched kernel for this layout here (no AVX-512 kernels in torch, no "
                "C++ compiler, or torch's kernel sums in other orders on this CPU)"
            )
        kernel = exact_attention.decode_attention

        def counted(*args):
            out = kernel(*args)
            batched_calls.append(out is not None)
            return out

        monkeypatch.setattr(exact_attention, "decode_attention", counted)
        # and the linears through exact_linear's kernel, where it reproduces torch's for every shape
        linears = [m.weight for m in model.modules() if type(m) is torch.nn.Linear]
        if all(exact_linear.reproduces_torch(w) for w in linears):
            row_linear = exact_linear.row_linear
            shapes = set()

            def counted_linear(x, packed):
                shapes.add(packed.shape)
                return row_linear(x, packed)

            monkeypatch.setattr(exact_linear, "row_linear", counted_linear)
    # batch 5: rows leave and newcomers join one by one; batch 16: finished rows ride along until
    # four have finished, then leave together
    for batch_size in (5, 16):
        batched = greedy_generate(model, tokenizer, prompts, max_new_tokens=40, batch_size=batch_size)
        assert batched == one_by_one, batch_size
    assert len(set(batched)) > 1
    if attention == "exact batched kernel":
        assert batched_calls and all(batched_calls)  # every decoding step took the kernel
        if all(exact_linear.reproduces_torch(w) for w in linears):
            assert shapes == {exact_linear.pack(w).shape for w in linears}  # every linear took it


def test_token_statistics_match_the_official_loss_and_the_moments(smoke_benchmark, smoke_target):
    model, tokenizer = load_model(smoke_target / "model")
    texts = [d.text for d in smoke_benchmark.split("train").member][:3] + ["A short text."]
    stats = token_statistics(model, tokenizer, texts, batch_size=2)
    for text, s in zip(texts, stats, strict=True):
        ids = torch.tensor([tokenizer(text).input_ids])
        with torch.no_grad():
            official = model(input_ids=ids, labels=ids).loss.item()  # LUME's MIA loss
            logprobs = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1).numpy()
        assert s.mean_nll == pytest.approx(official, abs=1e-4)
        mu, sigma = token_moments(logprobs)
        np.testing.assert_allclose(s.mu, mu, atol=1e-4)
        np.testing.assert_allclose(s.sigma, sigma, atol=1e-4)
        assert len(s.logps) == ids.shape[1] - 1


def _statistics(log_p: torch.Tensor, targets: torch.Tensor) -> tuple[np.ndarray, ...]:
    """(log p, mu, sigma) at every position of fp32 log-probs (..., V), all positions at once (the
    moments as the pass defines them: `fused_moments`, tested against float64 apart)."""
    logps = log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    mu, sigma = fused_moments.logp_moments(log_p)
    return logps.numpy(), mu.numpy(), sigma.numpy()


def _whole_batch_statistics(model, pad_id: int, encoded: list[list[int]]) -> list[tuple[np.ndarray, ...]]:
    """(log p, mu, sigma) of each document from one right-padded batch's log-probs, all at once."""
    ids = torch.full((len(encoded), max(map(len, encoded))), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, tokens in enumerate(encoded):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        mask[row, : len(tokens)] = 1
    with torch.no_grad():
        log_p = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float().log_softmax(-1)
    values = _statistics(log_p, ids[:, 1:])
    return [tuple(x[row, : len(tokens) - 1] for x in values) for row, tokens in enumerate(encoded)]


def _alone_statistics(model, pad_id: int, encoded: list[list[int]]) -> list[tuple[np.ndarray, ...]]:
    """(log p, mu, sigma) of each document from its own forward pass, as the official loop runs it."""
    out = []
    for tokens in encoded:
        ids = torch.tensor([tokens])
        with torch.no_grad():
            log_p = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
        out.append(_statistics(log_p, ids[0, 1:]))
    return out


def _wide_vocabulary_model(dtype: torch.dtype, attention: str):
    """A one-layer Llama with a real model's vocabulary (49k), wide enough that torch sums a lone
    row across threads, in another order."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        attn_implementation=attention,
    )
    return LlamaForCausalLM(config).to(dtype).eval()


def _matmuls_row_independent(model) -> bool:
    """Whether this CPU's matmul gives a row the same result whatever rows are beside it, for every
    linear layer of `model` (AMD AVX-512 in bf16 here; not MKL's fp32 kernel, whose row tails
    round differently). Short slices too: on a 16-thread CPU, fp32 passed the long ones and gave a
    2-row slice other last bits (a 2-token document)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for layer in (m for m in model.modules() if isinstance(m, torch.nn.Linear)):
            x = torch.randn(37, layer.in_features, dtype=layer.weight.dtype)
            full = layer(x)
            slices = ((0, 25), (3, 12), (20, 37), (0, 2), (0, 3), (5, 7))
            if not all(torch.equal(layer(x[a:b]), full[a:b]) for a, b in slices):
                return False
    return True


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("path", ["packed", "padded"])
def test_token_statistics_equal_their_plain_definition_bit_for_bit(
    path, dtype, fused, smoke_benchmark, smoke_target, monkeypatch
):
    """On a CPU the pass packs a batch's documents into one row, runs the output layer on scored
    positions only, a chunk at a time, and computes the statistics a few positions at a time: every
    value must be the one its document gets alone (the official loop's forward pass), bit for bit
    where the CPU's matmul rounds a row the same beside any others (else to rounding). Where it
    cannot pack (here: eager attention) it right-pads the batch: the values must be those of the
    whole padded batch at once, bit for bit. Every remainder of the chunk sizes is here, a lone last
    position and one-token documents included. Both ways of computing the statistics: fused with the
    log-softmax (`fused_moments.logit_statistics`, a block of logits at a time) and apart."""
    with torch.no_grad():
        fuses = fused_moments.fuses_statistics(torch.zeros(1, dtype=torch.long))
    if fused and not fuses:
        pytest.skip("no fused statistics here (no AVX-512 kernels in torch, or no C++ compiler)")
    if not fused:
        monkeypatch.setattr(fused_moments, "fuses_statistics", lambda targets: False)
    fused_calls = []
    fuse = fused_moments.logit_statistics
    monkeypatch.setattr(fused_moments, "logit_statistics", lambda *a: fused_calls.append(1) or fuse(*a))

    model = _wide_vocabulary_model(dtype, "sdpa" if path == "packed" else "eager")
    _, tokenizer = load_model(smoke_target / "model")
    calls = []
    chosen = passes._packed_statistics if path == "packed" else passes._padded_statistics
    monkeypatch.setattr(passes, chosen.__name__, lambda *args: calls.append(1) or chosen(*args))
    monkeypatch.setattr(passes, "OUTPUT_CHUNK", 3 * STATISTICS_CHUNK)  # blocks of logits end mid-document
    text = " ".join(d.text for d in smoke_benchmark.split("train").member)
    assert len(tokenizer(text).input_ids) > 8 * STATISTICS_CHUNK
    expected_of = _alone_statistics if path == "packed" else _whole_batch_statistics
    exact = path == "padded" or _matmuls_row_independent(model)
    # sigma = sqrt(E[log p²] - mu²) cancels where the distribution is near-uniform (this random
    # model's): a rounding of log p moves it ~100x more
    atol = (
        {"logps": 1e-5, "mu": 1e-5, "sigma": 1e-3}
        if dtype == torch.float32
        else {"logps": 2e-2, "mu": 2e-2, "sigma": 0.1}
    )

    def check(texts: list[str], max_length: int | None = None) -> None:
        stats = token_statistics(model, tokenizer, texts, batch_size=len(texts), max_length=max_length)
        encoded = sorted((tokenizer(t).input_ids[:max_length] for t in texts), key=len, reverse=True)
        by_length = {len(s.logps): s for s in stats}  # the texts below differ in length
        for expected in expected_of(model, tokenizer.pad_token_id, [e for e in encoded if len(e) > 1]):
            got = by_length[len(expected[0])]
            for name, a, b in zip(
                ("logps", "mu", "sigma"), (got.logps, got.mu, got.sigma), expected, strict=True
            ):
                if exact and not (len(b) == 1 and path == "packed"):
                    assert np.array_equal(a, b), (name, len(b))
                else:  # a lone row summed alone takes the other order
                    np.testing.assert_allclose(a, b, rtol=1e-5, atol=atol[name], err_msg=f"{name} {len(b)}")

    for positions in (
        2,
        STATISTICS_CHUNK,
        STATISTICS_CHUNK + 1,
        2 * STATISTICS_CHUNK + 1,
        3 * STATISTICS_CHUNK - 1,
        3 * STATISTICS_CHUNK + 1,
        7 * STATISTICS_CHUNK + 3,
    ):
        check([text], max_length=positions + 1)
    # documents of several lengths in one forward, one scoring one token, the BOS token alone
    check([text, " ".join(text.split()[:40]), "A short text.", "A", ""], max_length=8 * STATISTICS_CHUNK)
    assert calls and bool(fused_calls) == fused


def test_pass_cache_computes_once(tmp_path):
    cache = PassCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return ["a", "b"]

    assert cache.generations("fp", ["x", "y"], {"n": 1}, compute) == ["a", "b"]
    assert cache.generations("fp", ["x", "y"], {"n": 1}, compute) == ["a", "b"]
    assert len(calls) == 1
    cache.generations("fp", ["x", "y"], {"n": 2}, compute)  # other settings: recomputed
    cache.generations("fp2", ["x", "y"], {"n": 1}, compute)  # other model: recomputed
    assert len(calls) == 3
    assert not list(tmp_path.rglob(".*tmp*"))  # no temporary file left behind


def _left_padded(rows: list[torch.Tensor], width: int) -> torch.Tensor:
    """(B, H, width, D): each row's (H, n, D) tensor at the end, random values before it."""
    out = torch.randn(len(rows), rows[0].shape[0], width, rows[0].shape[-1]).to(rows[0].dtype)
    for i, row in enumerate(rows):
        out[i, :, width - row.shape[1] :] = row
    return out


@pytest.mark.parametrize("queries", ["decode", "prefill"])
def test_row_by_row_attention_equals_each_row_alone(queries):
    torch.manual_seed(0)
    heads, kv_heads, dim, lengths, width = 6, 2, 16, [5, 37, 1, 20], 40
    keys = [torch.randn(kv_heads, n, dim).bfloat16() for n in lengths]
    values = [torch.randn(kv_heads, n, dim).bfloat16() for n in lengths]
    q_lengths = [1] * len(lengths) if queries == "decode" else lengths
    qs = [torch.randn(heads, m, dim).bfloat16() for m in q_lengths]
    module = torch.nn.Module()
    out, _ = _row_by_row_attention(
        module,
        _left_padded(qs, max(q_lengths)),
        _left_padded(keys, width),
        _left_padded(values, width),
        None,
        scaling=0.25,
        row_lengths=lengths,
    )
    assert out.shape == (len(lengths), max(q_lengths), heads, dim)
    for i, (q, k, v) in enumerate(zip(qs, keys, values, strict=True)):
        # what transformers runs for one unpadded row: no mask, causal when several queries
        alone = torch.nn.functional.scaled_dot_product_attention(
            q[None], k[None], v[None], scale=0.25, is_causal=q.shape[1] > 1, enable_gqa=True
        )
        m = q.shape[1]
        assert torch.equal(out[i, out.shape[1] - m :], alone[0].transpose(0, 1)), i
        assert not out[i, : out.shape[1] - m].any()  # padded query positions
    if queries == "decode":  # a finished row (length 0) is skipped: zeros, the others unchanged
        skipped, _ = _row_by_row_attention(
            module,
            _left_padded(qs, 1),
            _left_padded(keys, width),
            _left_padded(values, width),
            None,
            scaling=0.25,
            row_lengths=[0, *lengths[1:]],
        )
        assert not skipped[0].any() and torch.equal(skipped[1:], out[1:])


def test_packed_prefill_attention_equals_each_prompt_alone():
    torch.manual_seed(0)
    lengths = [4, 1, 9]
    q, k, v = (torch.randn(1, h, sum(lengths), 16).bfloat16() for h in (6, 2, 2))
    out, _ = _row_by_row_attention(torch.nn.Module(), q, k, v, None, scaling=0.25, segment_lengths=lengths)
    assert out.shape == (1, sum(lengths), 6, 16)
    start = 0
    for n in lengths:
        part = slice(start, start + n)
        alone = torch.nn.functional.scaled_dot_product_attention(
            q[:, :, part], k[:, :, part], v[:, :, part], scale=0.25, is_causal=n > 1, enable_gqa=True
        )
        assert torch.equal(out[0, part], alone[0].transpose(0, 1))
        start += n


@pytest.mark.skipif(
    not native_bf16(),
    reason="bf16 is emulated on this CPU (no AVX512-BF16/AMX): its kernels round otherwise, and the "
    "one-at-a-time numerics are claimed for native bf16 only (seen failing on an AVX2 EPYC)",
)
def test_one_token_rows_linear_equals_each_row_alone():
    # Heavy-tailed inputs, like a model's activations: there a batched row-major bf16 matmul
    # rounds a few outputs differently from one row's on this CPU, which the column-major one avoids.
    linear = torch.nn.Linear(1536, 64).bfloat16()
    unbiased = torch.nn.Linear(1536, 64, bias=False).bfloat16()
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        x = (
            torch.randn(16, 1, 1536, generator=g) * torch.randn(16, 1, 1536, generator=g).mul(2).exp()
        ).bfloat16()
        for layer in (linear, unbiased):
            alone = torch.cat([layer(x[i : i + 1]) for i in range(16)])
            assert torch.equal(_one_token_rows_linear(layer)(x), alone), seed
    several = torch.randn(3, 4, 1536).bfloat16()  # rows of several tokens: the plain matmul
    assert torch.equal(_one_token_rows_linear(linear)(several), linear(several))


def test_one_at_a_time_numerics_is_restored(smoke_target):
    model, _ = load_model(smoke_target / "model", dtype=torch.bfloat16)
    with _one_at_a_time_numerics(model, enabled=True) as on:
        assert on and model.config._attn_implementation != "sdpa"
    assert model.config._attn_implementation == "sdpa"
    assert all("forward" not in m.__dict__ for m in model.modules())
    with _one_at_a_time_numerics(model.float(), enabled=True) as on:  # fp32: not needed, off
        assert not on


@pytest.mark.parametrize("attention", ["exact batched kernel", "row by row"])
def test_lean_decode_step_equals_the_model_forward_bit_for_bit(
    attention, smoke_benchmark, smoke_target, monkeypatch
):
    # Two batches decode the same prompts, one through the lean step and one through the model's
    # forward; every step's logits must carry the same bits.
    if attention == "row by row":
        monkeypatch.setattr(exact_attention, "_extension", lambda: None)
    model, tokenizer = load_model(smoke_target / "model", dtype=torch.bfloat16)
    encoded = [tokenizer(p).input_ids for p in _prompts(smoke_benchmark)[:6]]
    seen: dict[bool, list[torch.Tensor]] = {True: [], False: []}
    lean_calls = []
    lean_step = passes._lean_decode_step

    def counted(*args):
        lean_calls.append(1)
        return lean_step(*args)

    monkeypatch.setattr(passes, "_lean_decode_step", counted)
    with torch.inference_mode(), _one_at_a_time_numerics(model, enabled=True) as on:
        assert on and lean_decoding(model)
        for lean in (True, False):

            def choose(logits, rows, lean=lean):
                seen[lean].append(logits.clone())
                return passes._greedy_tokens(logits, rows)

            settings = {
                "max_new_tokens": 8,
                "stop_ids": set(),
                "pad_id": tokenizer.pad_token_id or 0,
                "row_by_row": True,
                "lean": lean,
                "packed_prefill": passes.packs_sequences(model),
                "choose": choose,
            }
            batch = passes._Batch(model, [passes._Row(i, []) for i in range(len(encoded))], encoded, settings)
            for _ in range(5):
                batch.step(model)
    assert len(lean_calls) == 5  # the lean batch's steps took it, the other's did not
    assert len(seen[True]) == len(seen[False]) == 6  # the prefill and five steps
    for lean_logits, forward_logits in zip(seen[True], seen[False], strict=True):
        assert torch.equal(lean_logits.view(torch.int16), forward_logits.view(torch.int16))


def test_generation_with_a_forward_hook_keeps_the_hook(smoke_cfg, smoke_benchmark, smoke_target):
    # The lean step calls the layers' parts directly, which would skip a hook: with one, the
    # engine must decode through the model's forward and still give the hooked model's tokens.
    model, tokenizer = target_or_base("target", smoke_cfg, smoke_benchmark, smoke_target)
    model.to(torch.bfloat16)
    prompts = _prompts(smoke_benchmark)[:4]
    assert lean_decoding(model)
    plain = greedy_generate(model, tokenizer, prompts, max_new_tokens=12)
    handle = model.model.layers[0].register_forward_hook(lambda module, args, out: out.flip(-1))
    try:
        assert not lean_decoding(model)
        hooked = greedy_generate(model, tokenizer, prompts, max_new_tokens=12)
        assert hooked == reference_generate(model, tokenizer, prompts, max_new_tokens=12)
    finally:
        handle.remove()
    assert hooked != plain  # the hook changed the tokens, so skipping it would have shown
    assert lean_decoding(model)
