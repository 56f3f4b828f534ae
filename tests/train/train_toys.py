"""Tiny models and list-backed batch sources for the trainer tests (also imported by the
scripts the kill-and-resume and DDP tests run in subprocesses)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.data.batching import Batch

VOCAB = 7


class ToyLM(nn.Module):
    """Embedding -> torch.nn.LSTM -> dropout -> linear, with the trainer's model protocol."""

    def __init__(self, vocab_size: int = VOCAB, hidden_size: int = 8, dropout: float = 0.0):
        super().__init__()
        self.vocab_size, self.hidden_size, self.dropout = vocab_size, hidden_size, dropout
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.rnn = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)
        self.rows_seen: list[int] = []  # batch sizes of the training forwards
        self.states_seen: list[Any] = []  # the state each forward_stream received

    def config_dict(self) -> dict[str, Any]:
        return {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "dropout": self.dropout,
        }

    @classmethod
    def from_config_dict(cls, config: dict[str, Any]) -> ToyLM:
        return cls(**config)

    def run(self, inputs: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        if self.training:
            self.rows_seen.append(int(inputs.shape[0]))
        out, state = self.rnn(self.drop(self.embedding(inputs)), state)
        return self.decoder(self.drop(out)), state

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
        )

    def forward(self, inputs, targets=None, lengths=None):
        logits, _ = self.run(inputs, None)
        return logits, None if targets is None else self.loss(logits, targets)

    def forward_stream(self, inputs, state, targets=None):
        self.states_seen.append(state)
        logits, new_state = self.run(inputs, state)
        return logits, None if targets is None else self.loss(logits, targets), new_state

    def metrics(self, outputs: torch.Tensor, batch: Batch) -> dict[str, tuple[float, float]]:
        correct = (outputs.argmax(-1) == batch.targets).sum()
        return {"accuracy": (float(correct), float(batch.targets.numel()))}


class ListSource:
    """Batches from a list; each epoch a permutation drawn from (seed, epoch) unless a stream."""

    def __init__(self, batches: list[Batch], seed: int = 0, shuffle: bool = True):
        self.batches, self.seed, self.shuffle, self.epoch = batches, seed, shuffle, 0

    def __len__(self) -> int:
        return len(self.batches)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        order = np.arange(len(self.batches))
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.batches))
        return (self.batches[i] for i in order)


def token_batches(count: int, rows: int = 4, steps: int = 5, seed: int = 0) -> list[Batch]:
    """Independent batches of random next-token pairs."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        ids = torch.randint(0, VOCAB, (rows, steps + 1), generator=gen)
        out.append(Batch(inputs=ids[:, :-1], targets=ids[:, 1:]))
    return out


def stream_batches(chunks: int, rows: int = 4, bptt: int = 4, seed: int = 0) -> list[Batch]:
    """Contiguous truncated-BPTT chunks: row b of chunk k+1 continues row b of chunk k."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (rows, chunks * bptt + 1), generator=gen)
    return [
        Batch(
            inputs=ids[:, k * bptt : (k + 1) * bptt],
            targets=ids[:, k * bptt + 1 : (k + 1) * bptt + 1],
            stream=True,
        )
        for k in range(chunks)
    ]
