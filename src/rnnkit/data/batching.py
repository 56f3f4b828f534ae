"""Batches as the trainer sees them.

Every tensor is batch-first: token ids ``[B, T]``, features ``[B, T, I]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


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
        num_tokens: how many target positions count (for tokens/s and averaging).
    """

    inputs: torch.Tensor
    targets: torch.Tensor | None = None
    lengths: torch.Tensor | None = None
    stream: bool = False
    num_tokens: int = 0

    def __post_init__(self) -> None:
        if self.num_tokens == 0:
            if self.lengths is not None:
                self.num_tokens = int(self.lengths.sum())
            else:
                self.num_tokens = int(self.inputs.shape[0] * self.inputs.shape[1])

    @property
    def batch_size(self) -> int:
        """``B``, the number of sequences."""
        return int(self.inputs.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        """Return the batch with its tensors on ``device`` (lengths stay on the CPU)."""
        return Batch(
            inputs=self.inputs.to(device),
            targets=None if self.targets is None else self.targets.to(device),
            lengths=self.lengths,
            stream=self.stream,
            num_tokens=self.num_tokens,
        )
