"""The training engine: learning, determinism, accumulation, resume after a kill, NaN guard, multi-process."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from obliviate import engine
from obliviate.engine import TrainConfig, TrainingDiverged, check_finite_weights, train
from obliviate.training_data import collate
from tests.conftest import random_examples, tiny_llama

REPO = Path(__file__).resolve().parents[1]
# the scripts import this checkout's package and tests.conftest (not an installed copy of another checkout)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}


def nll_loss(model, batch):
    return model(**batch).loss, {}


def collate0(items):
    return collate(items, pad_id=0)


def params_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fit(cfg: TrainConfig, run_dir=None, on_step=None, n=16, length=12, seed=0):
    model = tiny_llama(seed)
    return train(model, random_examples(n, length), collate0, nll_loss, cfg, run_dir=run_dir, on_step=on_step)


def test_loss_goes_down_and_counts_are_right():
    cfg = TrainConfig(lr=3e-2, epochs=10, batch_size=4, progress=False, precision="fp32")
    result = fit(cfg, n=8)
    assert result.steps == 10 * 2
    assert len(result.losses) == result.steps
    assert result.tokens == 10 * 8 * 12
    # random tokens start near log(64) = 4.16 and are memorized from there
    assert result.losses[0] > 3.9
    assert sum(result.losses[-2:]) / 2 < 0.5 * result.losses[0]


def test_a_step_callback_that_answers_true_stops_the_run():
    cfg = TrainConfig(lr=3e-2, epochs=10, batch_size=4, progress=False, precision="fp32")
    seen = []
    result = fit(cfg, on_step=lambda step: seen.append(step) or step == 3, n=8)
    assert result.steps == 3 and seen == [1, 2, 3] and len(result.losses) == 3


def test_same_seed_same_model_other_seed_other_order():
    cfg = TrainConfig(lr=1e-2, epochs=2, batch_size=4, progress=False)
    a, b = params_of(fit(cfg).model), params_of(fit(cfg).model)
    c = params_of(fit(cfg.model_copy(update={"seed": 1})).model)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_activation_checkpointing_gives_the_same_weights_and_keeps_less(precision):
    cfg = TrainConfig(lr=1e-2, epochs=2, batch_size=4, progress=False, precision=precision)
    kept, recomputed = fit(cfg), fit(cfg.model_copy(update={"activation_checkpointing": True}))
    for (k, a), b in zip(params_of(kept.model).items(), params_of(recomputed.model).values(), strict=True):
        assert torch.equal(a, b), k
    assert kept.losses == recomputed.losses
    # the model is returned as it came, and the run's cache key does not depend on the option
    assert not any(getattr(m, "gradient_checkpointing", False) for m in recomputed.model.modules())
    assert engine.train_key(cfg) == engine.train_key(
        cfg.model_copy(update={"activation_checkpointing": True})
    )

    def saved_bytes(checkpointing: bool) -> int:  # what one forward pass keeps for backward
        model, total = tiny_llama(0).train(), 0
        if checkpointing:
            engine._activation_checkpointing(model, True)

        def pack(tensor):
            nonlocal total
            total += tensor.numel() * tensor.element_size()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(**collate0(random_examples(4, 32)))
        return total

    assert saved_bytes(True) < saved_bytes(False) / 2


def test_packed_sequences_train_as_the_padded_batch_to_rounding(monkeypatch):
    """Examples of uneven lengths (padded batches): with `pack_sequences` every forward of the run
    is packed, and the losses and weights are the padded run's up to rounding (fp32). The option
    enters the cache key only when on, so keys from before it stay valid; with activation
    checkpointing the weights are the same bit for bit."""
    import obliviate.eval.passes as passes
    from obliviate.numerics import nll

    examples = [ex for n in (5, 9, 14, 20) for ex in random_examples(3, n, seed=n)]
    cfg = TrainConfig(lr=1e-2, epochs=2, batch_size=4, progress=False, precision="fp32")
    packed_calls = []
    original = passes.packed_hidden_states
    monkeypatch.setattr(
        passes, "packed_hidden_states", lambda *args: packed_calls.append(1) or original(*args)
    )

    def run(pack: bool):  # the shuffled order puts long and short examples together
        run_cfg = cfg.model_copy(update={"pack_sequences": pack})
        return train(tiny_llama(0), examples, collate0, lambda m, batch: (nll(m, batch), {}), run_cfg)

    padded = run(False)
    assert packed_calls == []
    packed = run(True)
    assert len(packed_calls) == packed.steps == 6
    assert packed.losses == pytest.approx(padded.losses, rel=1e-4)
    for (k, a), b in zip(params_of(padded.model).items(), params_of(packed.model).values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4, msg=k)
    assert "pack_sequences" not in engine.train_key(cfg)
    assert engine.train_key(cfg.model_copy(update={"pack_sequences": True}))["pack_sequences"] is True
    # recomputed layers attend as the packed forward did: the same weights, bit for bit
    cfg = cfg.model_copy(update={"activation_checkpointing": True})
    recomputed = run(True)
    assert recomputed.losses == packed.losses
    for (k, a), b in zip(params_of(packed.model).items(), params_of(recomputed.model).values(), strict=True):
        assert torch.equal(a, b), k
    assert recomputed.model.config._attn_implementation == "sdpa"  # returned as it came


def test_the_kept_embedding_gradient_is_torchs_bit_for_bit_in_one_reused_buffer():
    """Repeated ids sum in torch's order, the padding row stays 0, and the second step's gradient
    (other ids: the first step's rows are zeroed again) is written into the same buffer."""
    kept = engine.KeptEmbeddingGradients(50)
    g = torch.Generator().manual_seed(0)
    buffers = []
    for ids in ([3, 7, 3, 0, 3, 9, 7], [4, 0, 4, 11, 12, 4]):
        ids = torch.tensor([ids, ids[::-1]])
        grad = torch.randn(*ids.shape, 6, generator=g)
        expected = torch.ops.aten.embedding_dense_backward(grad, ids, 50, 0, False)
        assert expected[0].abs().sum() == 0 < expected[int(ids[0, 0])].abs().sum()  # 0: padding
        got = kept.gradient(ids, grad, 0)
        assert torch.equal(got, expected)
        buffers.append(got.data_ptr())
        del got  # autograd has summed it: the next call may reuse it
    assert buffers[0] == buffers[1]


def embedding_only_loss(model, batch):
    """Two forwards whose gradients reach the embedding through it alone: the first one's
    gradient is still held by autograd when the second is computed."""
    first = model.model(input_ids=batch["input_ids"]).last_hidden_state
    second = model.model(input_ids=batch["input_ids"].flip(1)).last_hidden_state
    return first.pow(2).mean() + second.tanh().mean(), {}


def two_forward_nll(model, batch):
    """GD's shape: two forwards through the (tied) output layer, as forget and retain terms."""
    return model(**batch).loss - 0.5 * model(**collate0(random_examples(4, 7, seed=1))).loss, {}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("loss_fn", [two_forward_nll, embedding_only_loss])
@pytest.mark.parametrize("tied", [True, False])
def test_training_with_the_kept_embedding_gradient_gives_the_same_weights(
    monkeypatch, precision, loss_fn, tied
):
    from contextlib import nullcontext

    cfg = TrainConfig(lr=1e-2, epochs=2, batch_size=4, progress=False, precision=precision)
    if precision == "bf16" and not engine.native_bf16():
        pytest.skip("bf16 autocast needs native bf16")

    def run():
        model = tiny_llama(0)
        if tied:
            model.lm_head.weight = model.model.embed_tokens.weight
        return train(model, random_examples(8, 12), collate0, loss_fn, cfg)

    free_checks, check = [], engine.KeptEmbeddingGradients._free

    def recorded(self):
        free_checks.append(check(self))
        return free_checks[-1]

    with monkeypatch.context() as m:
        m.setattr(engine.KeptEmbeddingGradients, "_free", recorded)
        kept = run()
    assert kept.model.get_input_embeddings().forward.__func__ is torch.nn.Embedding.forward  # restored
    # With a tied output layer, GD's shape reuses the buffer at every forward after the first.
    # Where the embedding alone carries a forward's gradient, autograd still holds the buffer
    # when the next forward's gradient is computed, which then takes a fresh tensor.
    assert len(free_checks) == 2 * kept.steps - 1 and any(free_checks)
    assert all(free_checks) == (loss_fn is two_forward_nll and tied)
    with monkeypatch.context() as m:
        m.setattr(engine, "kept_embedding_gradients", lambda model: nullcontext())
        fresh = run()
    assert kept.losses == fresh.losses
    for (k, a), b in zip(params_of(fresh.model).items(), params_of(kept.model).values(), strict=True):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_learning_rate_factors_are_transformers_schedules(schedule):
    from transformers import get_scheduler

    for warmup, total in ((0, 15), (3, 40), (5, 5), (0, 1)):
        parameter = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([parameter], lr=1.0)
        name = "constant_with_warmup" if schedule == "constant" else schedule
        reference = get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total)
        for step in range(total + 2):
            factor = engine.lr_factor(schedule, step, warmup=warmup, total=total)
            assert factor == reference.lr_lambdas[0](step), (warmup, total, step)
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'step'"):
        engine.lr_factor("step", 3, warmup=0, total=10)


def test_gradient_accumulation_matches_the_full_batch():
    # Equal-length examples: the mean of micro-batch means equals the full-batch mean.
    full = fit(TrainConfig(lr=1e-2, epochs=2, batch_size=8, progress=False, precision="fp32"))
    accum = fit(TrainConfig(lr=1e-2, epochs=2, batch_size=4, grad_accum=2, progress=False, precision="fp32"))
    assert full.steps == accum.steps == 4
    for (k, a), b in zip(params_of(full.model).items(), params_of(accum.model).values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=k)


def test_nan_loss_stops_with_a_clear_message(tmp_path):
    def exploding(model, batch):
        return model(**batch).loss * float("nan"), {}

    with pytest.raises(TrainingDiverged, match="loss is nan at step 1"):
        train(
            tiny_llama(),
            random_examples(8, 8),
            collate0,
            exploding,
            TrainConfig(batch_size=4, progress=False),
            run_dir=tmp_path,
        )


def test_the_progress_bar_ends_its_line_before_an_error(capsys):
    def nan_at_step_2(model, batch):
        nan_at_step_2.calls += 1
        return model(**batch).loss * (1.0 if nan_at_step_2.calls == 1 else float("nan")), {}

    nan_at_step_2.calls = 0
    try:
        train(tiny_llama(), random_examples(8, 8), collate0, nan_at_step_2, TrainConfig(batch_size=4))
    except TrainingDiverged as err:
        # read where the CLI prints its error: while the exception (and the bar, without the fix) lives
        bar = capsys.readouterr().err
        assert "loss is nan at step 2" in str(err)
    else:
        pytest.fail("the run did not diverge")
    assert "1/2" in bar  # the bar was drawn
    assert bar.endswith("\n")  # and closed, so the error starts on a line of its own


def test_a_model_with_a_non_finite_weight_is_refused():
    model = tiny_llama()
    check_finite_weights(model, "ga")  # a fresh model passes
    with torch.no_grad():
        model.model.layers[1].mlp.down_proj.weight[3, 5] = float("nan")
    with pytest.raises(
        TrainingDiverged, match=r"^ga: weight model\.layers\.1\.mlp\.down_proj\.weight is not finite"
    ):
        check_finite_weights(model, "ga")


class Interrupted(Exception):
    pass


def test_seconds_after_a_resume_include_the_interrupted_part(tmp_path, monkeypatch):
    # A clock that advances one second per reading: a run reads it at its start, once per step and at
    # its end, so 12 uninterrupted steps take 13 s, as must 6 steps + a resumed 6 steps.
    ticks = itertools.count()
    monkeypatch.setattr(engine, "time", SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    cfg = TrainConfig(lr=1e-2, epochs=3, batch_size=4, checkpoint_every=2, progress=False)
    uninterrupted = fit(cfg)
    assert uninterrupted.seconds == 13.0

    def interrupt_at_6(step):
        if step == 6:
            raise Interrupted

    with pytest.raises(Interrupted):
        fit(cfg, run_dir=tmp_path, on_step=interrupt_at_6)
    assert json.loads((tmp_path / "checkpoint" / "trainer_state.json").read_text())["seconds"] == 6.0
    resumed = fit(cfg, run_dir=tmp_path)
    assert (resumed.resumed_from_step, resumed.resumed_seconds) == (6, 6.0)
    assert resumed.seconds == 6.0 + 7.0 == uninterrupted.seconds


KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
from obliviate.engine import TrainConfig, train
from tests.test_engine import collate0, nll_loss
from tests.conftest import random_examples, tiny_llama

def kill_at(step):
    if step == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)  # a real, unclean death mid-run

cfg = TrainConfig(
    lr=1e-2, epochs=3, batch_size=4, checkpoint_every=2, progress=False, scheduler="linear",
    optimizer_states=sys.argv[3],
)
examples = random_examples(16, 12)
train(tiny_llama(), examples, collate0, nll_loss, cfg, run_dir=Path(sys.argv[1]), on_step=kill_at)
"""


@pytest.mark.parametrize("states", ["fp32", "bf16"])
def test_resume_after_a_killed_run_gives_the_same_model(tmp_path, states):
    cfg = TrainConfig(
        lr=1e-2,
        epochs=3,
        batch_size=4,
        checkpoint_every=2,
        progress=False,
        scheduler="linear",
        optimizer_states=states,
    )
    uninterrupted = fit(cfg)
    script = tmp_path / "killed.py"
    script.write_text(KILL_SCRIPT)
    run_dir = tmp_path / "run"
    # killed at step 7: the checkpoint of step 6 (mid-epoch 2) survives, step 7 is lost
    proc = subprocess.run(
        [sys.executable, str(script), str(run_dir), "7", states], cwd=REPO, env=ENV, capture_output=True
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert (run_dir / "checkpoint" / "trainer_state.json").is_file()
    resumed = fit(cfg, run_dir=run_dir)
    assert resumed.resumed_from_step == 6
    assert resumed.steps == uninterrupted.steps == 12
    assert resumed.losses == uninterrupted.losses  # same batches in the same order after the resume
    for (k, a), b in zip(
        params_of(uninterrupted.model).items(), params_of(resumed.model).values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)


MULTI_SCRIPT = """
import sys, torch
from obliviate.engine import TrainConfig, train
from tests.test_engine import collate0, nll_loss
from tests.conftest import random_examples, tiny_llama
from accelerate import PartialState

cfg = TrainConfig(lr=1e-2, epochs=2, batch_size=4, progress=False, precision="fp32")
result = train(tiny_llama(), random_examples(16, 12), collate0, nll_loss, cfg)
if PartialState().is_main_process:
    torch.save({k: v.detach().cpu() for k, v in result.model.state_dict().items()}, sys.argv[1])
"""


def test_two_processes_end_with_the_same_model_as_one(tmp_path):
    script = tmp_path / "multi.py"
    script.write_text(MULTI_SCRIPT)
    accelerate = Path(sys.executable).with_name("accelerate")
    out_two, out_one = tmp_path / "two.pt", tmp_path / "one.pt"
    env_cmd = [
        str(accelerate),
        "launch",
        "--cpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        str(script),
        str(out_two),
    ]
    proc = subprocess.run(env_cmd, cwd=REPO, env=ENV, capture_output=True, timeout=300)
    assert proc.returncode == 0, textwrap.shorten(proc.stderr.decode(), 3000)
    proc = subprocess.run(
        [sys.executable, str(script), str(out_one)], cwd=REPO, env=ENV, capture_output=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    two, one = torch.load(out_two), torch.load(out_one)
    initial = tiny_llama().state_dict()
    for k in one:
        assert not torch.equal(one[k], initial[k]) or "rotary" in k or "norm" in k
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-5, msg=k)


def test_auto_precision_is_bf16_only_where_the_machine_has_it(monkeypatch):
    cfg = TrainConfig(lr=1e-3)
    for native, resolved, mixed in ((True, "bf16", "bf16"), (False, "fp32", "no")):
        monkeypatch.setattr(engine, "native_bf16", lambda native=native: native)
        assert engine.resolve_precision("auto") == resolved
        assert engine._mixed_precision("auto") == mixed
        assert engine.resolve_precision("bf16") == "bf16" and engine.resolve_precision("fp32") == "fp32"
        # an fp32 run keys as an explicit fp32 one; a native bf16 machine keeps the 'auto' key
        key = engine.train_key(cfg)
        assert key["precision"] == ("auto" if native else "fp32")
        assert "progress" not in key and "checkpoint_every" not in key
    assert engine.train_key(cfg) == engine.train_key(TrainConfig(lr=1e-3, precision="fp32"))


def logged_nll(model, batch):
    loss = model(**batch).loss
    return loss, {"nll_term": loss.item() * 2}


def test_step_logs_average_the_loss_logs_and_reach_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from obliviate.engine import LogConfig

    cfg = TrainConfig(lr=3e-2, epochs=2, batch_size=2, grad_accum=2, progress=False, precision="fp32")
    log = (LogConfig(tracker="tensorboard"), tmp_path / "logs")
    result = train(tiny_llama(0), random_examples(8, 12), collate0, logged_nll, cfg, desc="gd 1/2", log=log)
    assert len(result.step_logs) == result.steps == 4
    # each step's logged value is the mean over its micro-batches, as its loss is
    assert [s["nll_term"] for s in result.step_logs] == pytest.approx([2 * loss for loss in result.losses])
    events = EventAccumulator(str(next((tmp_path / "logs").rglob("events.out.tfevents.*")).parent))
    events.Reload()
    assert [e.step for e in events.Scalars("loss")] == [1, 2, 3, 4]
    assert [e.value for e in events.Scalars("loss")] == pytest.approx(result.losses, rel=1e-6)
    assert [e.value for e in events.Scalars("nll_term")] == pytest.approx(
        [s["nll_term"] for s in result.step_logs]
    )


def test_a_tracker_whose_package_is_missing_is_one_clear_error(monkeypatch, tmp_path):
    import accelerate.utils

    from obliviate.engine import LogConfig

    monkeypatch.setattr(accelerate.utils, "is_mlflow_available", lambda: False)
    cfg = TrainConfig(epochs=1, batch_size=4, progress=False, precision="fp32")
    with pytest.raises(ValueError, match="log.tracker=mlflow needs the mlflow package: pip install mlflow"):
        train(
            tiny_llama(0),
            random_examples(4, 8),
            collate0,
            nll_loss,
            cfg,
            log=(LogConfig(tracker="mlflow"), tmp_path),
        )
