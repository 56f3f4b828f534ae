"""Batches as the trainer sees them, and the batch sources that make them.

Every tensor is batch-first: token ids ``[B, T]``, features ``[B, T, I]``.

The batch-source protocol
-------------------------
The trainer accepts any object with:

* ``__iter__() -> Iterator[Batch]``: the batches of one epoch, in order;
* ``__len__() -> int``: how many batches one epoch yields;
* ``set_epoch(epoch: int) -> None``: choose the epoch (0-based) the next iteration yields.

The batches of an epoch depend only on the source's ``seed`` and the epoch number -- never on
how many times it was iterated before, the global RNG or the wall clock -- so a run resumed in
the middle of epoch ``e`` calls ``set_epoch(e)``, skips the first ``k`` batches and sees
exactly the data the interrupted run would have seen. The sources here also offer
``iter_from(k)``, which starts at batch ``k`` without building the batches it skips.

:class:`StreamBatches` cuts one long token stream into contiguous rows for truncated BPTT
(``Batch.stream`` is ``True``: the trainer carries the state from chunk to chunk).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["PADDING_SIDES", "Batch", "PaddedBatches", "StreamBatches"]


@dataclass
class Batch:
    """One training or evaluation batch.

    Attributes:
        inputs: ``[B, T]`` token ids (int64) or ``[B, T, I]`` features (float).
        targets: what the loss compares with: ``[B, T]`` ids, ``[B]`` labels, ``[B, T, O]``
            or ``[B, O]`` values; ``None`` for prediction.
        lengths: ``[B]`` int64 true lengths of padded sequences, or ``None`` when every
            sequence fills ``T``.
        stream: ``True`` for chunks of contiguous streams trained with truncated BPTT: the
            trainer carries the recurrent state from one chunk to the next (row ``b`` of this
            chunk continues row ``b`` of the previous one).
        num_tokens: how many target positions count: what the model's loss is a mean over,
            so the weight of the batch when losses or (across data-parallel ranks) gradients
            are averaged; also the tokens of tokens/s. Default: ``row_tokens.sum()``, else
            ``lengths.sum()``, else ``B*T``.
        row_tokens: ``[B]`` int64, how many of ``num_tokens`` each row holds, or ``None``
            (rows count their ``lengths``, or ``T`` each). A batch split by rows over
            data-parallel ranks weighs each part by its own rows' sum, which is exact only
            when the loss of a row counts this many positions: 1 for a many-to-one loss, the
            target length for a sequence-to-sequence one.

    Raises:
        ValueError: ``num_tokens`` and ``row_tokens`` are both given and disagree, or
            ``row_tokens`` is not one count per row.

    Example:
        >>> batch = Batch(inputs=torch.zeros(2, 3), row_tokens=torch.tensor([1, 1]))
        >>> batch.num_tokens, Batch(inputs=torch.zeros(2, 3)).num_tokens
        (2, 6)
    """

    inputs: torch.Tensor
    targets: torch.Tensor | None = None
    lengths: torch.Tensor | None = None
    stream: bool = False
    num_tokens: int = 0
    row_tokens: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.row_tokens is not None:
            if tuple(self.row_tokens.shape) != (self.inputs.shape[0],):
                raise ValueError(
                    f"Argument `row_tokens` must hold one count per row ({self.inputs.shape[0]}), "
                    f"got shape {tuple(self.row_tokens.shape)}."
                )
            total = int(self.row_tokens.sum())
            if self.num_tokens == 0:
                self.num_tokens = total
            elif self.num_tokens != total:
                raise ValueError(
                    f"Argument `num_tokens` ({self.num_tokens}) must equal the sum of "
                    f"`row_tokens` ({total})."
                )
        elif self.num_tokens == 0:
            if self.lengths is not None:
                self.num_tokens = int(self.lengths.sum())
            else:
                self.num_tokens = int(self.inputs.shape[0] * self.inputs.shape[1])

    @property
    def batch_size(self) -> int:
        """``B``, the number of sequences."""
        return int(self.inputs.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        """Return the batch with its tensors on ``device`` (lengths and counts stay on the
        CPU)."""
        return Batch(
            inputs=self.inputs.to(device),
            targets=None if self.targets is None else self.targets.to(device),
            lengths=self.lengths,
            stream=self.stream,
            num_tokens=self.num_tokens,
            row_tokens=self.row_tokens,
        )


def _as_token_array(ids: Any, name: str = "ids") -> np.ndarray:
    """Return ``ids`` as a 1-D integer NumPy array without copying a memmap or a tensor."""
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1 or ids.dtype.is_floating_point or ids.dtype.is_complex or (
            ids.dtype == torch.bool
        ):
            raise TypeError(
                f"Argument `{name}` must be a 1-D integer tensor; got {ids.dim()}-D {ids.dtype}."
            )
        array = ids.detach().cpu().numpy()
    elif isinstance(ids, np.ndarray):
        array = ids
    elif isinstance(ids, (list, tuple, range)):
        array = np.asarray(ids)
        if array.size == 0:
            array = array.astype(np.int64)
    else:
        raise TypeError(
            f"Argument `{name}` must be a list, a NumPy array or memmap, or a 1-D LongTensor of "
            f"token ids; got {type(ids).__name__}."
        )
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise TypeError(
            f"Argument `{name}` must be a 1-D array of integer token ids; got shape "
            f"{tuple(array.shape)} and dtype {array.dtype}."
        )
    # A memmap may be larger than memory: do not scan it. In-memory ids are checked once.
    if not isinstance(array, np.memmap) and array.dtype.kind == "i" and array.size:
        low = int(array.min())
        if low < 0:
            position = int(np.argmax(array < 0))
            raise ValueError(
                f"Argument `{name}` must hold non-negative token ids; got {low} at position "
                f"{position}."
            )
    return array


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Argument `{name}` must be a positive integer; got {value!r}.")
    return int(value)


def _check_epoch(epoch: object) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"Argument `epoch` must be a non-negative integer; got {epoch!r}.")
    return int(epoch)


class StreamBatches:
    """Truncated-BPTT batches over one long token stream (the pytorch/examples ``batchify``).

    The stream is cut into ``batch_size`` contiguous rows of equal length; chunk ``k`` holds
    ``bptt`` consecutive columns of every row as inputs and the same columns shifted by one
    as targets, so row ``b`` of chunk ``k + 1`` continues row ``b`` of chunk ``k`` and the
    trainer can carry (and detach) the recurrent state between chunks. With
    ``random_offset=True`` each epoch starts at an offset in ``[0, bptt)`` drawn from
    ``(seed, epoch)``, so the chunk boundaries move from epoch to epoch (a cheap form of
    shuffling that keeps continuity); the row length is the same in every epoch.

    The ids are read chunk by chunk, so an ``np.memmap`` larger than memory works: only
    ``batch_size * (bptt + 1)`` tokens are read at a time.

    Args:
        ids: the token stream: a list of ints, a 1-D integer ``np.ndarray`` or ``np.memmap``,
            or a 1-D integer tensor.
        batch_size: ``B``, the number of parallel rows.
        bptt: ``T``, the chunk length (truncation length of backpropagation through time).
        seed: seeds the per-epoch offsets.
        random_offset: start each epoch at a random offset in ``[0, bptt)``.
        drop_last: leave out the last chunk of an epoch when it is shorter than ``bptt``.

    Shape:
        Every batch: ``inputs [B, T]`` and ``targets [B, T]``, int64, ``stream=True``; the
        last chunk has ``T < bptt`` unless ``drop_last``.

    Raises:
        TypeError: ``ids`` is not a 1-D sequence of integers.
        ValueError: a non-positive ``batch_size`` or ``bptt``, negative ids, or a stream too
            short to give every row two tokens.

    Examples:
        >>> batches = StreamBatches(list(range(24)), batch_size=4, bptt=2)
        >>> len(batches)
        3
        >>> first, second, last = batches
        >>> first.inputs.tolist(), first.targets.tolist()
        ([[0, 1], [6, 7], [12, 13], [18, 19]], [[1, 2], [7, 8], [13, 14], [19, 20]])
        >>> second.inputs[:, 0].tolist(), last.inputs.shape, last.stream
        ([2, 8, 14, 20], torch.Size([4, 1]), True)
    """

    # The stream a b c ... x (24 tokens), batch_size = 4, bptt = 2, no offset: four rows of
    # L = 6 tokens (a tail that does not fill a row is dropped). Chunk k takes the input
    # columns [k*bptt, k*bptt + bptt) and the target columns one further to the right; the
    # last column is only ever a target, so an epoch has ceil((L - 1) / bptt) chunks.
    #
    #            chunk 0   chunk 1   chunk 2
    #   row 0  [  a  b  |  c  d  |  e  ]  f      inputs of chunk 0:  a b   targets:  b c
    #   row 1  [  g  h  |  i  j  |  k  ]  l                          g h             h i
    #   row 2  [  m  n  |  o  p  |  q  ]  r                          m n             n o
    #   row 3  [  s  t  |  u  v  |  w  ]  x                          s t             t u
    #
    # Row b starts at offset + b * L, so row b of chunk k + 1 is the continuation of row b of
    # chunk k: the state the model ends chunk k with is the right state to start chunk k + 1.

    def __init__(
        self,
        ids: Sequence[int] | np.ndarray | torch.Tensor,
        batch_size: int,
        bptt: int,
        *,
        seed: int = 0,
        random_offset: bool = False,
        drop_last: bool = False,
    ) -> None:
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        self.bptt = _check_positive_int(bptt, "bptt")
        self._ids = _as_token_array(ids)
        self.seed = int(seed)
        self.random_offset = bool(random_offset)
        self.drop_last = bool(drop_last)
        max_offset = self.bptt - 1 if self.random_offset else 0
        #: ``L``, tokens per row (the same in every epoch).
        self.row_length = (len(self._ids) - max_offset) // self.batch_size
        if self.row_length < 2:
            raise ValueError(
                f"Argument `ids` must hold at least {2 * self.batch_size + max_offset} tokens "
                f"for batch_size={self.batch_size}"
                + (f" and a random offset below bptt={self.bptt}" if max_offset else "")
                + f"; got {len(self._ids)}."
            )
        self._epoch = 0

    @property
    def epoch(self) -> int:
        """The epoch the next iteration yields (set by :meth:`set_epoch`)."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches the next iteration yields."""
        self._epoch = _check_epoch(epoch)

    def offset(self, epoch: int | None = None) -> int:
        """Where rows start in the stream for ``epoch`` (default: the current one)."""
        epoch = self._epoch if epoch is None else _check_epoch(epoch)
        if not self.random_offset:
            return 0
        return int(np.random.default_rng([self.seed, epoch]).integers(self.bptt))

    def __len__(self) -> int:
        steps = self.row_length - 1  # input positions per row
        return steps // self.bptt if self.drop_last else math.ceil(steps / self.bptt)

    def __iter__(self) -> Iterator[Batch]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[Batch]:
        """Yield the current epoch's batches from batch number ``start`` on."""
        start = _check_epoch(start)
        row_starts = self.offset() + self.row_length * np.arange(self.batch_size)
        for k in range(start, len(self)):
            i = k * self.bptt
            steps = min(self.bptt, self.row_length - 1 - i)
            # One fancy-indexed read of [B, T + 1] tokens: a memmap reads only these pages.
            index = row_starts[:, None] + (i + np.arange(steps + 1))[None, :]
            window = torch.from_numpy(np.asarray(self._ids[index]).astype(np.int64))
            # Contiguous copies, so that `targets.view(-1)` in a loss works.
            yield Batch(
                inputs=window[:, :-1].contiguous(),
                targets=window[:, 1:].contiguous(),
                stream=True,
            )


# ------------------------------------------------------------------------------ padded batches
PADDING_SIDES = ("post", "pre")


def _as_sequence_array(item: Any, index: int, name: str) -> np.ndarray:
    if isinstance(item, torch.Tensor):
        array = item.detach().cpu().numpy()
    elif isinstance(item, (np.ndarray, list, tuple, range)):
        array = np.asarray(item)
    else:
        raise TypeError(
            f"Argument `{name}` must hold sequences (lists, arrays or tensors); item {index} is "
            f"a {type(item).__name__}."
        )
    if array.dtype.kind not in "iuf" or array.ndim not in (1, 2):
        raise TypeError(
            f"Argument `{name}` must hold 1-D integer ids or 2-D [T, I] numeric features; item "
            f"{index} has shape {tuple(array.shape)} and dtype {array.dtype}."
        )
    return array


class PaddedBatches:
    """Batches of variable-length sequences, padded, with their true lengths.

    Each batch stacks ``batch_size`` sequences padded to the longest of them (or to
    ``max_length`` with ``pad_to_max_length=True``, the fixed-length layout of Keras'
    ``pad_sequences`` used in course exercises). Sequences longer than ``max_length`` are cut.
    With ``bucket_size`` the (shuffled) order is split into buckets of that many sequences,
    each sorted by decreasing length before it is cut into batches, so a batch holds sequences
    of similar length and wastes little on padding; the batches are then shuffled again. The
    order depends only on ``seed`` and the epoch (see the module's batch-source protocol).

    Args:
        sequences: ``N`` sequences: 1-D integer token ids, or 2-D ``[T_n, I]`` float features.
        labels: one target per sequence (an int class, a float, or a fixed-size vector):
            many-to-one tasks. ``Batch.targets`` is ``[B]`` (int64 or float32) or ``[B, O]``.
        step_targets: one target per step, each as long as its sequence (tags, next values):
            many-to-many tasks. Padded with ``target_pad_id`` (ints) or 0.0 (floats).
        batch_size: ``B``.
        pad_id: the padding value of integer inputs (the vocabulary's ``pad_id``); float
            inputs are padded with 0.0.
        target_pad_id: padding of integer ``step_targets``; -100 is the ``ignore_index`` of
            ``torch.nn.functional.cross_entropy``.
        max_length: cut longer sequences to this many steps (``None``: no limit).
        truncation: ``"post"`` keeps the first ``max_length`` steps, ``"pre"`` the last.
        pad_to_max_length: pad every batch to exactly ``max_length`` steps.
        padding: ``"post"`` pads at the end (``Batch.lengths`` is set, for packed layers);
            ``"pre"`` pads at the front, Keras' default, and leaves ``Batch.lengths`` ``None``
            because the model then reads the padding (``Batch.num_tokens`` still counts only
            real steps).
        shuffle: shuffle the sequences every epoch.
        bucket_size: sort by length within buckets of this many sequences, a multiple of
            ``batch_size`` (``None``: no bucketing; ``>= N``: sort the whole set).
        drop_last: leave out the last batch when it has fewer than ``batch_size`` sequences.
        seed: seeds the shuffles.

    Shape:
        ``inputs [B, T]`` int64 or ``[B, T, I]`` float32, ``lengths [B]`` int64, ``targets``
        as described for ``labels`` and ``step_targets`` (``[B, T]`` or ``[B, T, O]``).

    Raises:
        TypeError: a sequence or target of the wrong kind.
        ValueError: an empty sequence, counts or lengths that do not match (naming the
            item), mixed feature sizes, or a bad option.

    Examples:
        >>> batches = PaddedBatches([[5, 6, 7], [8], [9, 10]], labels=[1, 0, 1], batch_size=2,
        ...                         pad_id=0)
        >>> first, second = batches
        >>> first.inputs.tolist(), first.lengths.tolist(), first.targets.tolist()
        ([[5, 6, 7], [8, 0, 0]], [3, 1], [1, 0])
        >>> second.inputs.tolist(), second.num_tokens
        ([[9, 10]], 2)
        >>> fixed = PaddedBatches([[1, 2, 3, 4], [5]], batch_size=2, max_length=3,
        ...                       truncation="pre", pad_to_max_length=True, padding="pre")
        >>> next(iter(fixed)).inputs.tolist()
        [[2, 3, 4], [0, 0, 5]]
    """

    # Three sequences of lengths 3, 1, 2 (pad id 0), padding "post", batch of 3:
    #
    #     inputs            lengths
    #   [ 5  6  7 ]           3        a sequence's steps sit at the start of its row,
    #   [ 8  0  0 ]           1        padding after; layers given `lengths` ignore the 0s
    #   [ 9 10  0 ]           2        and return each row's state at step lengths[b] - 1.

    def __init__(
        self,
        sequences: Sequence[Any],
        *,
        labels: Sequence[Any] | None = None,
        step_targets: Sequence[Any] | None = None,
        batch_size: int,
        pad_id: int = 0,
        target_pad_id: int = -100,
        max_length: int | None = None,
        truncation: str = "post",
        pad_to_max_length: bool = False,
        padding: str = "post",
        shuffle: bool = False,
        bucket_size: int | None = None,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        if max_length is not None:
            max_length = _check_positive_int(max_length, "max_length")
        if bucket_size is not None:
            bucket_size = _check_positive_int(bucket_size, "bucket_size")
            if bucket_size % self.batch_size:
                raise ValueError(
                    "Argument `bucket_size` must be a multiple of batch_size="
                    f"{self.batch_size}, so that no batch straddles two buckets; got {bucket_size}."
                )
        for name, value in (("truncation", truncation), ("padding", padding)):
            if value not in PADDING_SIDES:
                raise ValueError(
                    f"Argument `{name}` must be one of {', '.join(PADDING_SIDES)}; got {value!r}."
                )
        if pad_to_max_length and max_length is None:
            raise ValueError(
                "Argument `pad_to_max_length` needs `max_length`; got max_length=None."
            )
        if labels is not None and step_targets is not None:
            raise ValueError(
                "Arguments `labels` and `step_targets` do not combine; pass one of them."
            )
        if isinstance(sequences, (str, bytes)) or not isinstance(sequences, Sequence):
            raise TypeError(
                f"Argument `sequences` must be a list of sequences; got {type(sequences).__name__}."
            )
        if len(sequences) == 0:
            raise ValueError("Argument `sequences` must hold at least one sequence; got none.")
        self.max_length = max_length
        self.truncation = truncation
        self.pad_to_max_length = bool(pad_to_max_length)
        self.padding = padding
        self.pad_id = int(pad_id)
        self.target_pad_id = int(target_pad_id)
        self.shuffle = bool(shuffle)
        self.bucket_size = bucket_size
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self._epoch = 0

        self._inputs = [self._truncate(_as_sequence_array(s, n, "sequences"))
                        for n, s in enumerate(sequences)]
        for n, seq in enumerate(self._inputs):
            if len(seq) == 0:
                raise ValueError(
                    f"Argument `sequences` must hold non-empty sequences; item {n} is empty."
                )
        self._check_consistent(self._inputs, "sequences")
        self.lengths = np.array([len(s) for s in self._inputs], dtype=np.int64)

        self._labels: np.ndarray | None = None
        self._step_targets: list[np.ndarray] | None = None
        if labels is not None:
            self._labels = self._label_array(labels, len(sequences))
        if step_targets is not None:
            if isinstance(step_targets, (str, bytes)) or not isinstance(step_targets, Sequence):
                raise TypeError(
                    "Argument `step_targets` must be a list of sequences; got "
                    f"{type(step_targets).__name__}."
                )
            if len(step_targets) != len(sequences):
                raise ValueError(
                    f"Argument `step_targets` must have one entry per sequence ({len(sequences)});"
                    f" got {len(step_targets)}."
                )
            raw = [_as_sequence_array(t, n, "step_targets") for n, t in enumerate(step_targets)]
            for n, (target, seq) in enumerate(zip(raw, sequences, strict=True)):
                if len(target) != len(seq):
                    raise ValueError(
                        f"Argument `step_targets` must match its sequence's length; item {n} has "
                        f"{len(target)} targets for {len(seq)} steps."
                    )
            self._step_targets = [self._truncate(t) for t in raw]
            self._check_consistent(self._step_targets, "step_targets")

    # ---------------------------------------------------------------------------- helpers
    def _truncate(self, array: np.ndarray) -> np.ndarray:
        if self.max_length is None or len(array) <= self.max_length:
            return array
        return array[: self.max_length] if self.truncation == "post" else array[-self.max_length:]

    @staticmethod
    def _check_consistent(arrays: list[np.ndarray], name: str) -> None:
        first = arrays[0]
        for n, array in enumerate(arrays):
            if array.ndim != first.ndim or array.shape[1:] != first.shape[1:]:
                raise ValueError(
                    f"Argument `{name}` must hold items of one kind; item 0 has steps of shape "
                    f"{first.shape[1:]}, item {n} has {array.shape[1:]}."
                )
            if (array.dtype.kind == "f") != (first.dtype.kind == "f"):
                raise ValueError(
                    f"Argument `{name}` must not mix integers and floats; item 0 is "
                    f"{first.dtype}, item {n} is {array.dtype}."
                )

    @staticmethod
    def _label_array(labels: Any, count: int) -> np.ndarray:
        if isinstance(labels, torch.Tensor):
            array = labels.detach().cpu().numpy()
        elif isinstance(labels, (np.ndarray, list, tuple)):
            try:
                array = np.asarray(labels)
            except ValueError:
                raise ValueError(
                    "Argument `labels` must hold one scalar or one fixed-size vector per "
                    "sequence; the items have different sizes."
                ) from None
        else:
            raise TypeError(
                f"Argument `labels` must be a list, array or tensor; got {type(labels).__name__}."
            )
        if array.dtype.kind not in "iuf" or array.ndim not in (1, 2):
            raise TypeError(
                "Argument `labels` must hold numbers (one scalar or vector per sequence); got "
                f"shape {tuple(array.shape)} and dtype {array.dtype}."
            )
        if len(array) != count:
            raise ValueError(
                f"Argument `labels` must have one entry per sequence ({count}); got {len(array)}."
            )
        return array

    @property
    def epoch(self) -> int:
        """The epoch the next iteration yields (set by :meth:`set_epoch`)."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches the next iteration yields."""
        self._epoch = _check_epoch(epoch)

    def __len__(self) -> int:
        count = len(self._inputs)
        return count // self.batch_size if self.drop_last else math.ceil(count / self.batch_size)

    def batch_indices(self, epoch: int | None = None) -> list[np.ndarray]:
        """The sequence indices of every batch of ``epoch`` (default: the current one).

        Use it to map predictions back to the input order.
        """
        epoch = self._epoch if epoch is None else _check_epoch(epoch)
        rng = np.random.default_rng([self.seed, epoch])
        count = len(self._inputs)
        order = rng.permutation(count) if self.shuffle else np.arange(count)
        if self.bucket_size is not None:
            buckets = [order[i : i + self.bucket_size] for i in range(0, count, self.bucket_size)]
            # Stable sort by decreasing length: equal lengths keep their (shuffled) order.
            order = np.concatenate(
                [b[np.argsort(-self.lengths[b], kind="stable")] for b in buckets]
            )
        batches = [order[i : i + self.batch_size] for i in range(0, count, self.batch_size)]
        if self.drop_last and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle and self.bucket_size is not None:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[Batch]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[Batch]:
        """Yield the current epoch's batches from batch number ``start`` on."""
        start = _check_epoch(start)
        for index in self.batch_indices()[start:]:
            yield self.make_batch(index)

    def _pad(self, arrays: list[np.ndarray], width: int, value: float) -> torch.Tensor:
        first = arrays[0]
        is_float = first.dtype.kind == "f"
        out = np.full(
            (len(arrays), width, *first.shape[1:]),
            value,
            dtype=np.float32 if is_float else np.int64,
        )
        for row, array in enumerate(arrays):
            if self.padding == "post":
                out[row, : len(array)] = array
            else:
                out[row, width - len(array) :] = array
        return torch.from_numpy(out)

    def make_batch(self, index: Sequence[int] | np.ndarray) -> Batch:
        """Pad the sequences ``index`` (positions in ``sequences``) into one batch."""
        index = np.asarray(index, dtype=np.int64)
        lengths = self.lengths[index]
        width = self.max_length if self.pad_to_max_length else int(lengths.max())
        inputs = [self._inputs[i] for i in index]
        input_pad = 0.0 if inputs[0].dtype.kind == "f" else self.pad_id
        targets: torch.Tensor | None = None
        if self._labels is not None:
            labels = self._labels[index]
            labels = labels.astype(np.float32 if labels.dtype.kind == "f" else np.int64)
            targets = torch.from_numpy(labels)
        elif self._step_targets is not None:
            steps = [self._step_targets[i] for i in index]
            target_pad = 0.0 if steps[0].dtype.kind == "f" else self.target_pad_id
            targets = self._pad(steps, width, target_pad)
        return Batch(
            inputs=self._pad(inputs, width, input_pad),
            targets=targets,
            lengths=torch.from_numpy(lengths) if self.padding == "post" else None,
            row_tokens=torch.from_numpy(lengths.copy()),
        )
