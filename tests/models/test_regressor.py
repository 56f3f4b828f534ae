"""SequenceRegressor: learning, padding invariance, standardization, save/load, bad input."""

from __future__ import annotations

import pytest
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.batching import PaddedBatches
from rnnkit.data.synthetic import delayed_sum
from rnnkit.models import MODELS
from rnnkit.models.regressor import SequenceRegressor
from rnnkit.tasks import load_run
from rnnkit.train import Trainer


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models: one thread is fastest and immune to a busy machine's oversubscription.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def delayed_sum_batches(n: int, seed: int, many_to_one: bool, shuffle: bool = False):
    x, y = delayed_sum(n, length=8, delay=2, span=2, many_to_one=many_to_one, seed=seed)
    if many_to_one:
        return PaddedBatches(list(x), labels=y, batch_size=32, shuffle=shuffle, seed=seed)
    return PaddedBatches(list(x), step_targets=list(y), batch_size=32, shuffle=shuffle, seed=seed)


def mse(model: SequenceRegressor, batches: PaddedBatches) -> float:
    total = count = 0.0
    with torch.no_grad():
        for batch in batches:
            outputs, _ = model(batch.inputs, lengths=batch.lengths)
            s, c = model.metrics(outputs, batch)["mse"]
            total, count = total + s, count + c
    return total / count


@pytest.mark.parametrize("many_to_one", [True, False])
def test_learns_a_delayed_sum(many_to_one: bool) -> None:
    torch.manual_seed(0)
    model = SequenceRegressor(1, 1, hidden_size=16, many_to_one=many_to_one)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train = delayed_sum_batches(256, 0, many_to_one, shuffle=True)
    for epoch in range(25):  # 8 batches an epoch: 200 steps
        train.set_epoch(epoch)
        for batch in train:
            _, loss = model(batch.inputs, batch.targets, batch.lengths)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    # the targets' variance is 2/3 (a sum of two uniforms on [-1, 1]): R² above 0.98
    assert mse(model, delayed_sum_batches(128, 1, many_to_one)) < 0.0133


@pytest.mark.parametrize("many_to_one", [True, False])
@pytest.mark.parametrize("cell", ["lstm", "peephole_lstm", "gru", "rnn"])
def test_padding_never_changes_outputs_or_loss(many_to_one: bool, cell: str) -> None:
    torch.manual_seed(0)
    model = SequenceRegressor(2, 3, hidden_size=5, num_layers=2, cell=cell,
                              many_to_one=many_to_one, bidirectional=True).eval()
    x = torch.randn(1, 4, 2)
    y = torch.randn(1, 3) if many_to_one else torch.randn(1, 4, 3)
    alone, loss_alone = model(x, y)
    # padded with 7s (not zeros) and batched with a longer sequence
    batch = torch.cat([torch.cat([x, torch.full((1, 2, 2), 7.0)], 1), torch.randn(1, 6, 2)])
    padded, _ = model(batch, lengths=torch.tensor([4, 6]))
    got = padded[0] if many_to_one else padded[0, :4]
    torch.testing.assert_close(got, alone[0], rtol=1e-5, atol=1e-6)
    # junk targets past the end do not count
    y_pad = y if many_to_one else torch.cat([y, torch.full((1, 2, 3), 99.0)], 1)
    _, loss_padded = model(batch[:1], y_pad, lengths=torch.tensor([4]))
    torch.testing.assert_close(loss_padded, loss_alone, rtol=1e-5, atol=1e-6)


def test_standardization_is_fitted_saved_and_makes_the_loss_scale_free(tmp_path) -> None:
    torch.manual_seed(0)
    x, y = delayed_sum(64, length=6, seed=0)
    inputs, targets = torch.from_numpy(x) * 50 + 3, torch.from_numpy(y) * 1000 - 20
    model = SequenceRegressor(1, 1, hidden_size=4, standardize_inputs=True,
                              standardize_targets=True)
    model.fit_standardization(inputs, targets)
    assert model.input_mean.item() == pytest.approx(float(inputs.mean()), rel=1e-4)
    assert model.target_std.item() == pytest.approx(float(targets.std(unbiased=False)), rel=1e-4)
    # the same network on data in other units, with its own fitted statistics: same loss
    twin = SequenceRegressor(1, 1, hidden_size=4, standardize_inputs=True,
                             standardize_targets=True)
    twin.load_state_dict(model.state_dict())
    twin.fit_standardization(torch.from_numpy(x), torch.from_numpy(y))
    out, loss = model(inputs, targets)
    twin_out, twin_loss = twin(torch.from_numpy(x), torch.from_numpy(y))
    torch.testing.assert_close(loss, twin_loss, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out, twin_out * 1000 - 20, rtol=1e-4, atol=1e-3)
    # the statistics travel with the checkpoint
    batches = PaddedBatches(list(inputs.numpy()), labels=targets.numpy(), batch_size=16)
    Trainer(
        model, batches, TrainConfig(max_steps=2, progress=False), tmp_path / "run",
        model_name="sequence_regressor", run_config={"task": "regress"},
    ).fit()
    run = load_run(tmp_path / "run")
    assert isinstance(run.model, SequenceRegressor)
    for name in ("input_mean", "input_std", "target_mean", "target_std"):
        assert torch.equal(getattr(run.model, name), getattr(model, name))
    model.eval()
    assert torch.equal(run.model(inputs[:5])[0], model(inputs[:5])[0])
    assert MODELS["sequence_regressor"] is SequenceRegressor


def test_mae_loss_and_vector_outputs() -> None:
    model = SequenceRegressor(3, 2, hidden_size=4, loss="mae", pooling="mean")
    out, loss = model(torch.randn(4, 5, 3), torch.zeros(4, 2))
    assert out.shape == (4, 2)
    torch.testing.assert_close(loss, out.abs().mean())


def test_bad_input_is_one_clear_sentence() -> None:
    model = SequenceRegressor(2, 1, hidden_size=3)
    with pytest.raises(ValueError, match=r"input_size=2 features per step, got 3"):
        model(torch.randn(4, 5, 3))
    with pytest.raises(ValueError, match=r"must have shape \(4, 1\) \(1 value\(s\) per sequence\)"):
        model(torch.randn(4, 5, 2), torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"must be a \[B, T, 2\] float tensor"):
        model(torch.ones(4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"must hold at least one step"):
        model(torch.randn(4, 0, 2))
    per_step = SequenceRegressor(2, 1, many_to_one=False, standardize_targets=True)
    with pytest.raises(ValueError, match=r"\(1 value\(s\) per step\), got \(4, 3\)"):
        per_step(torch.randn(4, 5, 2), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"`targets` is needed to fit the target"):
        per_step.fit_standardization(torch.randn(4, 5, 2))
    with pytest.raises(ValueError, match=r"`loss` must be one of \['mse', 'mae'\]"):
        SequenceRegressor(2, loss="huber")
