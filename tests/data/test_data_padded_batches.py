"""PaddedBatches: padded batches equal the unbatched sequences; bucketing; truncation; epochs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.data.batching import PaddedBatches


def _sequences(count: int = 23, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(4, 50, size=rng.integers(1, 12)).tolist() for _ in range(count)]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("bucket_size", [None, 10, 100])
def test_padded_batches_equal_unbatched(shuffle: bool, bucket_size: int | None) -> None:
    sequences = _sequences()
    labels = list(range(len(sequences)))
    batches = PaddedBatches(sequences, labels=labels, batch_size=5, pad_id=1, shuffle=shuffle,
                            bucket_size=bucket_size, seed=2)
    seen = []
    for batch in batches:
        assert batch.inputs.dtype == torch.int64 and batch.lengths.dtype == torch.int64
        assert batch.inputs.shape[1] == int(batch.lengths.max())
        assert batch.num_tokens == int(batch.lengths.sum())
        for row, label in enumerate(batch.targets.tolist()):
            length = int(batch.lengths[row])
            assert batch.inputs[row, :length].tolist() == sequences[label]
            assert (batch.inputs[row, length:] == 1).all()
            seen.append(label)
        if bucket_size is not None:
            assert batch.lengths.tolist() == sorted(batch.lengths.tolist(), reverse=True)
    assert sorted(seen) == labels  # every sequence exactly once
    assert len(batches) == 5
    if not shuffle and bucket_size is None:
        assert seen == labels


def test_bucketing_reduces_padding() -> None:
    sequences = _sequences(200, seed=1)
    def padding(bucket_size: int | None) -> int:
        batches = PaddedBatches(sequences, batch_size=8, shuffle=True, bucket_size=bucket_size)
        return sum(b.inputs.numel() - b.num_tokens for b in batches)
    assert padding(64) < padding(None)


def test_epochs_are_deterministic_and_differ() -> None:
    sequences = _sequences()
    def order(epoch: int, seed: int = 0) -> list[list[int]]:
        batches = PaddedBatches(sequences, batch_size=4, shuffle=True, bucket_size=8, seed=seed)
        batches.set_epoch(epoch)
        return [b.inputs.tolist() for b in batches]
    assert order(3) == order(3)
    assert order(3) != order(4) and order(3, seed=1) != order(3)
    batches = PaddedBatches(sequences, batch_size=4, shuffle=True, seed=5)
    batches.set_epoch(2)
    full = list(batches)
    resumed = [b.inputs.tolist() for b in batches.iter_from(2)]
    assert resumed == [b.inputs.tolist() for b in full[2:]]


def test_step_targets_and_features() -> None:
    features = [np.ones((3, 2)), np.full((1, 2), 2.0)]
    tags = [[1, 2, 3], [4]]
    batch = next(iter(PaddedBatches(features, step_targets=tags, batch_size=2)))
    assert batch.inputs.dtype == torch.float32 and batch.inputs.shape == (2, 3, 2)
    assert batch.inputs[1, 1:].abs().sum() == 0
    assert batch.targets.tolist() == [[1, 2, 3], [4, -100, -100]]
    values = [np.arange(3.0), np.arange(1.0)]
    batch = next(iter(PaddedBatches([[1, 2, 3], [4]], step_targets=values, batch_size=2)))
    assert batch.targets.dtype == torch.float32 and batch.targets.tolist() == [[0, 1, 2], [0, 0, 0]]
    batch = next(iter(PaddedBatches([[1], [2]], labels=[[0.5, 1.0], [2.0, 3.0]], batch_size=2)))
    assert batch.targets.shape == (2, 2) and batch.targets.dtype == torch.float32


def test_truncation_and_fixed_length() -> None:
    sequences = [[1, 2, 3, 4, 5], [6, 7]]
    cut = PaddedBatches(sequences, step_targets=sequences, batch_size=2, max_length=3)
    batch = next(iter(cut))
    assert batch.inputs.tolist() == [[1, 2, 3], [6, 7, 0]] and batch.lengths.tolist() == [3, 2]
    assert batch.targets.tolist() == [[1, 2, 3], [6, 7, -100]]
    fixed = PaddedBatches(sequences, batch_size=2, max_length=4, truncation="pre",
                          pad_to_max_length=True, pad_id=9)
    batch = next(iter(fixed))
    assert batch.inputs.tolist() == [[2, 3, 4, 5], [6, 7, 9, 9]]
    pre = PaddedBatches(sequences, batch_size=2, max_length=4, pad_to_max_length=True,
                        padding="pre")
    batch = next(iter(pre))
    assert batch.inputs.tolist() == [[1, 2, 3, 4], [0, 0, 6, 7]]
    assert batch.lengths is None and batch.num_tokens == 6


def test_drop_last() -> None:
    batches = PaddedBatches(_sequences(23), batch_size=5, drop_last=True, shuffle=True)
    assert len(batches) == 4 == len(list(batches))
    assert all(b.batch_size == 5 for b in batches)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"item 1 is empty"):
        PaddedBatches([[1], []], batch_size=1)
    with pytest.raises(ValueError, match=r"`labels` must have one entry per sequence \(2\); got 1"):
        PaddedBatches([[1], [2]], labels=[0], batch_size=1)
    with pytest.raises(ValueError, match=r"item 1 has 1 targets for 2 steps"):
        PaddedBatches([[1], [2, 3]], step_targets=[[0], [1]], batch_size=1)
    with pytest.raises(ValueError, match=r"`labels` and `step_targets` do not combine"):
        PaddedBatches([[1]], labels=[0], step_targets=[[0]], batch_size=1)
    with pytest.raises(ValueError, match=r"`truncation` must be one of post, pre; got 'end'"):
        PaddedBatches([[1]], batch_size=1, truncation="end")
    with pytest.raises(ValueError, match=r"`pad_to_max_length` needs `max_length`"):
        PaddedBatches([[1]], batch_size=1, pad_to_max_length=True)
    with pytest.raises(TypeError, match=r"item 0 is a str"):
        PaddedBatches(["abc"], batch_size=1)
    with pytest.raises(ValueError, match=r"item 0 has steps of shape \(2,\), item 1 has \(3,\)"):
        PaddedBatches([np.zeros((2, 2)), np.zeros((2, 3))], batch_size=1)
    with pytest.raises(ValueError, match=r"`bucket_size` must be a multiple of batch_size=4"):
        PaddedBatches([[1]], batch_size=4, bucket_size=10)
    with pytest.raises(ValueError, match=r"at least one sequence"):
        PaddedBatches([], batch_size=1)
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive integer; got 0"):
        PaddedBatches([[1]], batch_size=0)
