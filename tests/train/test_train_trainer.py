"""The trainer loop: logging, plots, evaluation, limits, early stopping, divergence, resume."""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from train_toys import ListSource, ToyLM, stream_batches, token_batches

from rnnkit.config import TrainConfig
from rnnkit.data.batching import Batch
from rnnkit.train import DivergenceError, Trainer, load_model, plot_metrics
from rnnkit.train.metrics import read_metrics
from rnnkit.train.trainer import flushing_denormals


def config(**overrides) -> TrainConfig:
    values = {"lr": 0.01, "progress": False, "log_every": 1}
    values.update(overrides)
    return TrainConfig(**values)


@pytest.mark.parametrize(("steps", "epochs"), [(8, 2), (9, 2), (7, 1)])
def test_a_run_stopped_on_an_epochs_last_batch_counts_that_epoch(
    tmp_path, steps: int, epochs: int
) -> None:
    train = ListSource(token_batches(4))
    summary = Trainer(ToyLM(), train, config(max_steps=steps), tmp_path, model_name="toy").fit()
    assert (summary.steps, summary.epochs, summary.stopped_by) == (steps, epochs, "max_steps")


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_fit_writes_metrics_plots_summary_and_best(tmp_path, plots) -> None:
    model = ToyLM()
    train = ListSource(token_batches(4))
    val = ListSource(token_batches(2, seed=1), shuffle=False)
    cfg = config(max_epochs=3, eval_every=0, log_every=2)
    summary = Trainer(model, train, cfg, tmp_path, val_data=val, model_name="toy").fit()

    assert (summary.steps, summary.epochs, summary.stopped_by) == (12, 3, "max_epochs")
    assert summary.best_metric == min(
        r["loss"] for r in read_metrics(tmp_path / "metrics.csv") if r["split"] == "val"
    )
    assert summary.val_loss is not None and summary.tokens_per_s > 0
    with (tmp_path / "metrics.csv").open() as handle:
        header = next(csv.reader(handle))
    assert header == [
        "step",
        "epoch",
        "split",
        "loss",
        "accuracy",
        "lr",
        "tokens_per_s",
        "elapsed",
        "grad_norm",
    ]
    rows = read_metrics(tmp_path / "metrics.csv")
    assert [r["step"] for r in rows if r["split"] == "train"] == [2, 4, 6, 8, 10, 12]
    assert [r["step"] for r in rows if r["split"] == "val"] == [4, 8, 12]
    assert [r["epoch"] for r in rows if r["split"] == "train"] == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    for name in ("loss.png", "accuracy.png", "lr.png", "summary.json", "train_config.json"):
        assert (tmp_path / name).is_file(), name
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The best checkpoint rebuilds the model through a registry.
    best, cfg_json = load_model(tmp_path / "best", {"toy": ToyLM})
    assert cfg_json["model"] == {"name": "toy", "config": model.config_dict()}
    assert not best.training

    # A finished run can be re-plotted anywhere.
    written = plot_metrics(tmp_path / "metrics.csv", tmp_path / "replot", window=3)
    assert sorted(p.name for p in written) == ["accuracy.png", "loss.png", "lr.png"]


def test_resume_in_process_is_bit_identical(tmp_path) -> None:
    def run(directory, max_steps, resume=None):
        torch.manual_seed(0)
        model = ToyLM(dropout=0.3)
        cfg = config(max_steps=max_steps, checkpoint_every=2, eval_every=3, seed=5)
        data = ListSource(stream_batches(5), shuffle=False)
        val = ListSource(stream_batches(2, seed=3), shuffle=False)
        trainer = Trainer(model, data, cfg, directory, val_data=val, resume_from=resume)
        trainer.fit()
        return weights(model), trainer

    whole, _ = run(tmp_path / "a", 13)
    run(tmp_path / "b", 7)
    resumed, trainer = run(tmp_path / "b", 13, resume=tmp_path / "b")
    assert trainer.step == 13
    for name in whole:
        assert torch.equal(whole[name], resumed[name]), name
    # metrics.csv of the resumed run continues the first part without duplicates.
    steps = [
        r["step"] for r in read_metrics(tmp_path / "b" / "metrics.csv") if r["split"] == "train"
    ]
    assert steps == list(range(1, 14))


def test_stream_state_is_carried_detached_and_reset_each_epoch(tmp_path) -> None:
    model = ToyLM()
    data = ListSource(stream_batches(3), shuffle=False)
    Trainer(model, data, config(max_epochs=2), tmp_path).fit()
    seen = model.states_seen
    assert [s is None for s in seen] == [True, False, False, True, False, False]
    assert all(not t.requires_grad for s in seen if s is not None for t in s)


class NaNAt(ToyLM):
    """Returns a nan loss (or a nan gradient) on given training forward calls."""

    def __init__(self, bad_calls: set[int], where: str = "loss"):
        super().__init__()
        self.bad_calls, self.where, self.calls = bad_calls, where, 0
        self.decoder.bias.register_hook(self._hook)
        self._poison = False

    def _hook(self, grad: torch.Tensor) -> torch.Tensor:
        return grad * float("nan") if self._poison else grad

    def forward(self, inputs, targets=None, lengths=None):
        logits, loss = super().forward(inputs, targets, lengths)
        if self.training:
            self.calls += 1
            bad = self.calls in self.bad_calls or -1 in self.bad_calls
            self._poison = bad and self.where == "grad"
            if bad and self.where == "loss":
                loss = loss * float("nan")
        return logits, loss


def test_divergence_stop_names_the_step_and_restores(tmp_path) -> None:
    model = NaNAt({4})
    data = ListSource(token_batches(6), shuffle=False)
    cfg = config(max_steps=6, checkpoint_every=2)
    trainer = Trainer(model, data, cfg, tmp_path)
    with pytest.raises(
        DivergenceError,
        match=re.escape(
            "Training diverged at step 4: the loss is nan; the weights were restored to step 2 "
            "(policy `stop`)"
        ),
    ):
        trainer.fit()
    # The model holds the step-2 checkpoint's weights, not anything nan.
    saved, _ = load_model(tmp_path, {"NaNAt": ToyLM})
    for name, value in saved.state_dict().items():
        assert torch.equal(value, model.state_dict()[name]), name
    rows = read_metrics(tmp_path / "metrics.csv")
    assert [(r["step"], r["split"]) for r in rows][-1] == (4, "diverged")
    assert [r["step"] for r in rows if r["split"] == "train"] == [1, 2]


def test_divergence_on_gradient_is_caught(tmp_path) -> None:
    data = ListSource(token_batches(3), shuffle=False)
    with pytest.raises(DivergenceError, match=r"at step 2: the gradient norm is nan \(loss "):
        Trainer(NaNAt({2}, where="grad"), data, config(max_steps=3), tmp_path).fit()


def test_divergence_lower_lr_retries_from_the_last_good_state(tmp_path) -> None:
    model = NaNAt({3})
    data = ListSource(token_batches(5), shuffle=False)
    cfg = config(max_steps=5, checkpoint_every=1, divergence="lower_lr", divergence_factor=0.25)
    summary = Trainer(model, data, cfg, tmp_path).fit()
    assert (summary.steps, summary.divergences) == (5, 1)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    rows = read_metrics(tmp_path / "metrics.csv")
    assert [(r["step"], r["split"]) for r in rows] == [
        (1, "train"),
        (2, "train"),
        (3, "diverged"),
        (3, "train"),
        (4, "train"),
        (5, "train"),
    ]
    lrs = [r["lr"] for r in rows if r["split"] == "train"]
    assert lrs == pytest.approx([0.01, 0.01, 0.0025, 0.0025, 0.0025])


def test_divergence_retries_run_out(tmp_path) -> None:
    data = ListSource(token_batches(3), shuffle=False)
    cfg = config(max_steps=3, divergence="lower_lr", divergence_retries=2)
    with pytest.raises(DivergenceError, match="2 retries with a lower lr already spent"):
        Trainer(NaNAt({-1}), data, cfg, tmp_path).fit()


class ConstantAccuracy(ToyLM):
    def metrics(self, outputs, batch):
        return {"accuracy": (1.0, 2.0)}


def test_early_stopping_on_a_metric_that_stops_improving(tmp_path) -> None:
    data = ListSource(token_batches(4))
    val = ListSource(token_batches(1, seed=2))
    cfg = config(max_steps=100, eval_every=1, patience=2, metric="accuracy", mode="max")
    summary = Trainer(ConstantAccuracy(), data, cfg, tmp_path, val_data=val).fit()
    # eval 1 sets the best (0.5); evals 2 and 3 do not beat it: patience 2 is spent.
    assert (summary.steps, summary.stopped_by) == (3, "early_stopping")
    assert (summary.best_metric, summary.best_step) == (0.5, 1)


def test_unknown_metric_is_named(tmp_path) -> None:
    data = ListSource(token_batches(2))
    cfg = config(max_steps=2, eval_every=1, metric="bleu")
    trainer = Trainer(ToyLM(), data, cfg, tmp_path, val_data=data)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Option `metric` = 'bleu' is not among the validation metrics (loss, accuracy)."
        ),
    ):
        trainer.fit()


class Slow(ToyLM):
    def forward(self, inputs, targets=None, lengths=None):
        time.sleep(0.02)
        return super().forward(inputs, targets, lengths)


def test_max_time_is_honoured(tmp_path) -> None:
    data = ListSource(token_batches(2))
    cfg = config(max_steps=100_000, max_time=0.3)
    summary = Trainer(Slow(), data, cfg, tmp_path).fit()
    assert summary.stopped_by == "max_time"
    assert 1 <= summary.steps < 100_000


class SeesSubnormals(ToyLM):
    def forward(self, inputs, targets=None, lengths=None):
        self.flushing.append(flushing_denormals())
        return super().forward(inputs, targets, lengths)


@pytest.mark.parametrize("flush", [True, False])
def test_subnormals_are_flushed_while_training_only(tmp_path, flush: bool) -> None:
    data = ListSource(token_batches(2))
    model = SeesSubnormals()
    model.flushing = []
    assert not flushing_denormals()
    Trainer(model, data, config(max_steps=2, flush_denormal=flush), tmp_path).fit()
    assert model.flushing == [flush, flush]
    assert not flushing_denormals()  # restored after fit


def test_plateau_schedule_lowers_the_rate(tmp_path) -> None:
    data = ListSource(token_batches(4))
    val = ListSource(token_batches(1, seed=2))
    cfg = config(
        max_steps=4,
        eval_every=1,
        schedule="plateau",
        plateau_patience=0,
        metric="accuracy",
        mode="max",
        plateau_factor=0.5,
    )
    trainer = Trainer(ConstantAccuracy(), data, cfg, tmp_path, val_data=val)
    trainer.fit()
    lrs = [r["lr"] for r in read_metrics(tmp_path / "metrics.csv") if r["split"] == "train"]
    # evaluations after steps 2, 3 do not improve: each halves the rate of the next step
    assert lrs == pytest.approx([0.01, 0.01, 0.005, 0.0025])


def test_clipping_by_norm_and_value(tmp_path) -> None:
    model = ToyLM()
    trainer = Trainer(
        model, ListSource(token_batches(1)), config(max_steps=1, clip_norm=0.5), tmp_path
    )
    for p in trainer.params:
        p.grad = torch.full_like(p, 3.0)
    raw = trainer.clip()
    count = sum(p.numel() for p in trainer.params)
    assert raw == pytest.approx(3.0 * count**0.5)
    after = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in trainer.params]))
    assert float(after) == pytest.approx(0.5, rel=1e-4)

    trainer = Trainer(
        ToyLM(), ListSource(token_batches(1)), config(max_steps=1, clip_value=0.1), tmp_path / "v"
    )
    for p in trainer.params:
        p.grad = torch.linspace(-1, 1, p.numel()).view_as(p)
    trainer.clip()
    assert max(float(p.grad.abs().max()) for p in trainer.params) == pytest.approx(0.1)


def test_bad_arguments_are_refused(tmp_path) -> None:
    data = ListSource(token_batches(1))
    with pytest.raises(
        ValueError,
        match=re.escape("Option `patience` (early stopping) needs `val_data`, got None."),
    ):
        Trainer(ToyLM(), data, config(patience=2), tmp_path)
    with pytest.raises(
        TypeError, match="Argument `train_data` expects a batch source with __iter__ and __len__"
    ):
        Trainer(ToyLM(), iter(token_batches(1)), config(), tmp_path)
    with pytest.raises(
        ValueError,
        match=re.escape("Argument `train_data` expects at least one batch per epoch, got 0."),
    ):
        Trainer(ToyLM(), ListSource([]), config(), tmp_path)

    class NoStream(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, inputs, targets=None, lengths=None):
            return inputs, self.w.sum()

    streams = ListSource(stream_batches(1), shuffle=False)
    with pytest.raises(
        TypeError, match="A batch has stream=True but NoStream has no forward_stream"
    ):
        Trainer(NoStream(), streams, config(max_steps=1), tmp_path / "s").fit()

    Trainer(ToyLM(), data, config(max_steps=1), tmp_path / "run").fit()
    with pytest.raises(FileExistsError, match="already holds a checkpoint; pass resume_from="):
        Trainer(ToyLM(), data, config(max_steps=1), tmp_path / "run")
    Trainer(ToyLM(), data, config(max_steps=1), tmp_path / "run", overwrite=True).fit()
    with pytest.raises(ValueError, match="Argument `resume_from` holds a model built with"):
        Trainer(
            ToyLM(hidden_size=4),
            data,
            config(max_steps=2),
            tmp_path / "run",
            resume_from=tmp_path / "run",
        )


def test_batches_with_lengths_reach_the_model(tmp_path) -> None:
    seen = []

    class Lengths(ToyLM):
        def forward(self, inputs, targets=None, lengths=None):
            seen.append(lengths)
            return super().forward(inputs, targets)

    batch = Batch(
        inputs=torch.zeros(2, 3, dtype=torch.long),
        targets=torch.zeros(2, 3, dtype=torch.long),
        lengths=torch.tensor([3, 1]),
    )
    Trainer(Lengths(), ListSource([batch]), config(max_steps=1), tmp_path).fit()
    assert torch.equal(seen[0], torch.tensor([3, 1]))


def test_progress_bar_shows_loss_rate_and_time_left(tmp_path, capsys) -> None:
    data = ListSource(token_batches(3))
    cfg = config(max_steps=3, progress=True, max_time=600.0)
    Trainer(ToyLM(), data, cfg, tmp_path).fit()
    err = capsys.readouterr().err
    assert "3/3" in err and "loss=" in err and "tok/s=" in err and "left=" in err


def test_resume_from_a_directory_without_checkpoint(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        Trainer(ToyLM(), ListSource(token_batches(1)), config(), tmp_path, resume_from=tmp_path)


class SeesPrecision(ToyLM):
    """Records the dtype of its logits in every training and evaluation forward."""

    def run(self, inputs: torch.Tensor, state):
        logits, state = super().run(inputs, state)
        self.dtypes = [*getattr(self, "dtypes", []), (self.training, logits.dtype)]
        return logits, state


def test_bf16_trains_under_autocast_and_keeps_float32_weights_state_and_evaluation(
    tmp_path,
) -> None:
    torch.manual_seed(0)
    model = SeesPrecision()
    chunks = stream_batches(6)
    trainer = Trainer(model, ListSource(chunks[:4], shuffle=False),
                      config(max_steps=4, precision="bf16", lr=0.05), tmp_path,
                      val_data=ListSource(chunks[4:], shuffle=False))
    trainer.fit()
    assert {dtype for training, dtype in model.dtypes if training} == {torch.bfloat16}
    assert {dtype for training, dtype in model.dtypes if not training} == {torch.float32}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(s.dtype == torch.float32 for s in trainer.stream_state)  # carried (h, c)
    # the state carried into the next chunk was float32 too
    assert all(s is None or s[0].dtype == torch.float32 for s in model.states_seen)
    assert len(model.states_seen) > 4  # training chunks and evaluation chunks


def _repeated_batch_losses(precision: str, steps: int, run_dir) -> list[float]:
    """The training losses of a ToyLM fitting one batch ``steps`` times from seed 0."""
    torch.manual_seed(0)
    model = ToyLM()
    batch = token_batches(1)
    Trainer(model, ListSource(batch * steps, shuffle=False),
            config(max_steps=steps, precision=precision, lr=0.05), run_dir).fit()
    return [r["loss"] for r in read_metrics(run_dir / "metrics.csv") if r["split"] == "train"]


def test_bf16_follows_the_float32_run_closely(tmp_path) -> None:
    runs = {p: _repeated_batch_losses(p, 12, tmp_path / p) for p in ("fp32", "bf16")}
    # the same batches from the same weights: bfloat16 keeps 8 bits of mantissa, so the losses
    # agree to about 1%, not exactly
    assert runs["bf16"] == pytest.approx(runs["fp32"], rel=2e-2)
    assert runs["bf16"] != runs["fp32"]
    assert runs["bf16"][-1] < 0.9 * runs["bf16"][0]  # it fits the repeated batch


def test_bf16_on_a_cpu_without_bfloat16_units_trains_emulated_and_says_so(
    tmp_path, monkeypatch, capsys
) -> None:
    from rnnkit.train import trainer as trainer_module

    # the path a CPU without AVX512-BF16 or AMX takes, whatever this machine has
    monkeypatch.setattr(trainer_module, "native_bf16", lambda device_type="cpu": False)
    runs = {}
    for precision in ("fp32", "bf16"):
        runs[precision] = _repeated_batch_losses(precision, 4, tmp_path / precision)
        assert torch.backends.mkldnn.enabled  # switched off inside each step only
    err = capsys.readouterr().err
    assert err.count("Note: this CPU has no bfloat16 units") == 1  # the bf16 run, once
    assert runs["bf16"] == pytest.approx(runs["fp32"], rel=2e-2)
    assert runs["bf16"] != runs["fp32"]


def test_native_bf16_answers_for_the_trainer_s_devices_and_refuses_others() -> None:
    from rnnkit.train import native_bf16

    # on the CPU it is oneDNN's own check: AVX512-BF16 or AMX in the processor's flags
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists() and torch.backends.mkldnn.is_available():
        flags = cpuinfo.read_text(encoding="utf-8").split()
        assert native_bf16("cpu") == ("avx512_bf16" in flags or "amx_bf16" in flags)
    assert native_bf16("cuda") == (torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    with pytest.raises(ValueError, match=r"^Argument `device_type` must be 'cpu' or 'cuda', "
                                         r"got 'mps'\.$"):
        native_bf16("mps")


def test_emulated_bf16_runs_lstm_products_in_bfloat16_and_restores_onednn(monkeypatch) -> None:
    from rnnkit.train import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "native_bf16", lambda device_type="cpu": False)
    lstm = nn.LSTM(8, 8, batch_first=True)
    x = torch.randn(2, 5, 8)
    with trainer_module.training_precision("bf16", "cpu"):
        assert not torch.backends.mkldnn.enabled
        out, _ = lstm(x)
    assert torch.backends.mkldnn.enabled
    reference, _ = lstm(x)
    # its products ran in bfloat16 (8 bits of mantissa): close to float32, not equal
    assert not torch.equal(out.float(), reference)
    torch.testing.assert_close(out.float(), reference, atol=2e-2, rtol=0)
    with pytest.raises(RuntimeError, match="inside"), \
            trainer_module.training_precision("bf16", "cpu"):
        raise RuntimeError("inside")
    assert torch.backends.mkldnn.enabled
    assert not torch.is_autocast_enabled("cpu")


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Option `precision` expects one of fp32, bf16, got "
                                         r"'fp16'\."):
        config(max_steps=1, precision="fp16")


def test_training_precision_refuses_an_unknown_precision() -> None:
    from rnnkit.train.trainer import training_precision

    with pytest.raises(ValueError, match=r"Argument `precision` must be 'fp32' or 'bf16', got "
                                         r"'fp16'\."):
        training_precision("fp16", "cpu")
    with training_precision("fp32", "cpu"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
