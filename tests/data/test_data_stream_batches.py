"""StreamBatches: batchify layout, continuity between chunks, epochs, memmaps, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.data.batching import StreamBatches


def _rows(batches: StreamBatches) -> tuple[torch.Tensor, torch.Tensor]:
    """Glue the chunks of one epoch back together: [B, L - 1] inputs and targets."""
    chunks = list(batches)
    return (
        torch.cat([b.inputs for b in chunks], dim=1),
        torch.cat([b.targets for b in chunks], dim=1),
    )


def test_rows_are_contiguous_and_chunks_continue_each_other() -> None:
    ids = np.arange(103)
    batches = StreamBatches(ids, batch_size=4, bptt=7)
    assert batches.row_length == 25 and len(batches) == 4  # ceil(24 / 7)
    chunks = list(batches)
    assert [c.inputs.shape[1] for c in chunks] == [7, 7, 7, 3]
    for k in range(len(chunks) - 1):
        # row b of chunk k + 1 starts where row b of chunk k stopped
        assert torch.equal(chunks[k + 1].inputs[:, 0], chunks[k].inputs[:, -1] + 1)
        assert torch.equal(chunks[k + 1].inputs[:, 0], chunks[k].targets[:, -1])
    inputs, targets = _rows(batches)
    expected = torch.arange(100).reshape(4, 25)
    assert torch.equal(inputs, expected[:, :-1]) and torch.equal(targets, expected[:, 1:])
    for chunk in chunks:
        assert chunk.stream and chunk.lengths is None
        assert chunk.inputs.dtype == torch.int64 == chunk.targets.dtype
        assert chunk.num_tokens == chunk.inputs.numel()


def test_drop_last_keeps_only_full_chunks() -> None:
    batches = StreamBatches(list(range(103)), batch_size=4, bptt=7, drop_last=True)
    assert len(batches) == 3
    assert all(c.inputs.shape == (4, 7) for c in batches)


def test_input_kinds_give_the_same_batches(tmp_path) -> None:
    ids = np.random.default_rng(1).integers(0, 60000, size=257).astype(np.uint16)
    path = tmp_path / "tokens.bin"
    ids.tofile(path)
    memmap = np.memmap(path, dtype=np.uint16, mode="r")
    sources = [ids.tolist(), ids, memmap, torch.from_numpy(ids.astype(np.int64))]
    reference = list(StreamBatches(sources[0], 3, 5, random_offset=True, seed=4))
    for source in sources[1:]:
        got = list(StreamBatches(source, 3, 5, random_offset=True, seed=4))
        assert len(got) == len(reference)
        for a, b in zip(got, reference, strict=True):
            assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)


def test_random_offset_is_deterministic_per_seed_and_epoch() -> None:
    ids = np.arange(500)
    batches = StreamBatches(ids, batch_size=5, bptt=10, random_offset=True, seed=3)
    offsets = [batches.offset(e) for e in range(12)]
    assert all(0 <= o < 10 for o in offsets) and len(set(offsets)) > 1
    lengths = set()
    for epoch in range(12):
        batches.set_epoch(epoch)
        first = next(iter(batches))
        again = StreamBatches(ids, 5, 10, random_offset=True, seed=3)
        again.set_epoch(epoch)
        assert torch.equal(first.inputs, next(iter(again)).inputs)  # fresh object, same data
        assert first.inputs[0, 0].item() == offsets[epoch]
        lengths.add(len(batches))
    assert lengths == {len(batches)}  # the epoch length never changes
    other_seed = StreamBatches(ids, 5, 10, random_offset=True, seed=4)
    assert [other_seed.offset(e) for e in range(12)] != offsets


def test_iter_from_skips_batches_for_resume() -> None:
    batches = StreamBatches(np.arange(300), batch_size=3, bptt=8, random_offset=True, seed=9)
    batches.set_epoch(5)
    full = list(batches)
    resumed = list(batches.iter_from(3))
    assert len(resumed) == len(full) - 3
    for a, b in zip(resumed, full[3:], strict=True):
        assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive integer; got 0"):
        StreamBatches([1, 2, 3], batch_size=0, bptt=2)
    with pytest.raises(ValueError, match=r"`bptt` must be a positive integer; got -1"):
        StreamBatches([1, 2, 3], batch_size=1, bptt=-1)
    with pytest.raises(ValueError, match=r"at least 8 tokens for batch_size=4; got 7"):
        StreamBatches(list(range(7)), batch_size=4, bptt=2)
    with pytest.raises(ValueError, match=r"at least 12 tokens .* random offset below bptt=5"):
        StreamBatches(list(range(11)), batch_size=4, bptt=5, random_offset=True)
    with pytest.raises(TypeError, match=r"of integer token ids; got shape \(3,\) .*float"):
        StreamBatches([0.5, 1.0, 2.0], batch_size=1, bptt=1)
    with pytest.raises(TypeError, match=r"1-D integer tensor; got 2-D"):
        StreamBatches(torch.zeros(2, 3, dtype=torch.long), batch_size=1, bptt=1)
    with pytest.raises(ValueError, match=r"non-negative token ids; got -2 at position 1"):
        StreamBatches([1, -2, 3], batch_size=1, bptt=1)
    with pytest.raises(TypeError, match=r"got str"):
        StreamBatches("abc", batch_size=1, bptt=1)
    with pytest.raises(ValueError, match=r"`epoch` must be a non-negative integer; got -1"):
        StreamBatches([1, 2, 3], batch_size=1, bptt=1).set_epoch(-1)
