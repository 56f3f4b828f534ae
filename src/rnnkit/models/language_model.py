"""Character- and word-level recurrent language model: embedding → recurrent layer → decoder.

The model predicts token ``t+1`` from tokens ``≤ t``::

    e_t      = E[x_t]                                  [B, T, D]
    h_t      = RNN(e_t, h_{t-1})                       [B, T, H]
    logits_t = W_dec h_t + b_dec                       [B, T, V]
    loss     = mean_t  -log softmax(logits_t)[x_{t+1}]  over counted positions
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from rnnkit.nn import GRU, LSTM, RNN

__all__ = ["LanguageModel", "LanguageModelConfig"]

State = tuple[torch.Tensor, ...]

#: Cells a language model can be built on, and the layer class each uses.
_LAYERS = {"rnn": RNN, "lstm": LSTM, "peephole_lstm": LSTM, "gru": GRU}


@dataclass
class LanguageModelConfig:
    """Constructor arguments of :class:`LanguageModel` (saved in a checkpoint's config.json)."""

    vocab_size: int  # V, number of token ids
    embedding_dim: int = 64  # D, size of each token's embedding
    hidden_size: int = 256  # H, units per recurrent layer
    num_layers: int = 2  # stacked recurrent layers
    cell: str = "lstm"  # rnn | lstm | peephole_lstm | gru
    nonlinearity: str = "tanh"  # for cell = rnn: tanh | relu
    dropout: float = 0.0  # dropout on embeddings, between layers and before the decoder
    tie_weights: bool = False  # share the embedding and decoder matrices (needs D == H)
    pad_id: int = -100  # target id ignored by the loss (the vocabulary's <pad> id, if any)


class LanguageModel(nn.Module):
    """A recurrent language model over token ids.

    Args:
        vocab_size: ``V``.
        embedding_dim: ``D``.
        hidden_size: ``H``.
        num_layers: stacked recurrent layers.
        cell: ``rnn``, ``lstm``, ``peephole_lstm`` or ``gru``.
        nonlinearity: ``tanh`` or ``relu`` for ``cell="rnn"``.
        dropout: dropout probability on the embeddings, between layers and on the top layer's
            output.
        tie_weights: share the embedding matrix with the decoder (Press & Wolf 2017).
        pad_id: target id the loss ignores.

    Shape:
        inputs ``[B, T]`` int64 → logits ``[B, T, V]``.

    Raises:
        ValueError: an unknown cell, a size that is not positive, or ``tie_weights`` with
            ``embedding_dim != hidden_size``.

    Example:
        >>> import torch
        >>> model = LanguageModel(vocab_size=10, embedding_dim=8, hidden_size=8, num_layers=1)
        >>> ids = torch.zeros(2, 5, dtype=torch.long)
        >>> logits, loss = model(ids, targets=ids + 1)
        >>> tuple(logits.shape), loss.ndim
        ((2, 5, 10), 0)
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 64,
        hidden_size: int = 256,
        num_layers: int = 2,
        cell: str = "lstm",
        nonlinearity: str = "tanh",
        dropout: float = 0.0,
        tie_weights: bool = False,
        pad_id: int = -100,
    ) -> None:
        super().__init__()
        if cell not in _LAYERS:
            raise ValueError(
                f"Argument `cell` of LanguageModel must be one of {list(_LAYERS)}, got {cell!r}."
            )
        for name, value in (
            ("vocab_size", vocab_size),
            ("embedding_dim", embedding_dim),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Argument `{name}` must be a positive integer, got {value!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Argument `dropout` must be in [0, 1), got {dropout!r}.")
        if tie_weights and embedding_dim != hidden_size:
            raise ValueError(
                "Argument `tie_weights=True` needs embedding_dim == hidden_size, got "
                f"embedding_dim={embedding_dim} and hidden_size={hidden_size}."
            )
        self.config = LanguageModelConfig(
            vocab_size=vocab_size,
            embedding_dim=embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            cell=cell,
            nonlinearity=nonlinearity,
            dropout=dropout,
            tie_weights=tie_weights,
            pad_id=pad_id,
        )
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        options: dict[str, Any] = {}
        if cell == "rnn":
            options["nonlinearity"] = nonlinearity
        if cell == "peephole_lstm":
            options["peephole"] = True
        self.rnn = _LAYERS[cell](
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            **options,
        )
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.decoder.weight = self.embedding.weight

    # -- checkpoint registry protocol -------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        """JSON-safe constructor arguments, for checkpoints."""
        return asdict(self.config)

    @classmethod
    def from_config_dict(cls, config: dict[str, Any]) -> LanguageModel:
        """Build a model from :meth:`config_dict`'s output (unknown keys are refused)."""
        known = set(LanguageModelConfig.__dataclass_fields__)
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"LanguageModel config has unknown keys {unknown}; valid keys are {sorted(known)}."
            )
        return cls(**config)

    # -- forward passes ----------------------------------------------------------------------
    def _check_inputs(self, inputs: torch.Tensor) -> None:
        if inputs.dim() != 2 or inputs.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                "Argument `inputs` must be a [B, T] tensor of integer token ids, got "
                f"shape {tuple(inputs.shape)} and dtype {inputs.dtype}."
            )

    def run(
        self, inputs: torch.Tensor, state: State | None = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """Return logits ``[B, T, V]`` and the recurrent state after the last step."""
        self._check_inputs(inputs)
        emb = self.drop(self.embedding(inputs))
        if state is not None and len(state) == 1:  # RNN and GRU layers take h_0 alone
            state = state[0]
        if lengths is not None:
            out, new_state = self.rnn(emb, state, lengths=lengths)
        else:
            out, new_state = self.rnn(emb, state)
        logits = self.decoder(self.drop(out))
        if not isinstance(new_state, tuple):
            new_state = (new_state,)
        return logits, new_state

    def loss(
        self, logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean cross-entropy over counted positions (``pad_id`` and steps past ``lengths``)."""
        if targets.shape != logits.shape[:2]:
            raise ValueError(
                f"Argument `targets` must have shape {tuple(logits.shape[:2])} (one id per input "
                f"step), got {tuple(targets.shape)}."
            )
        if lengths is not None:
            steps = torch.arange(targets.shape[1], device=targets.device)
            past_end = steps[None, :] >= lengths.to(targets.device)[:, None]
            targets = targets.masked_fill(past_end, self.config.pad_id)
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=self.config.pad_id,
        )

    def forward(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for every position, and the loss when ``targets`` are given.

        Shape:
            inputs ``[B, T]``, targets ``[B, T]`` (next tokens), lengths ``[B]`` →
            logits ``[B, T, V]``, loss scalar or ``None``.
        """
        logits, _ = self.run(inputs, None, lengths)
        loss = None if targets is None else self.loss(logits, targets, lengths)
        return logits, loss

    def forward_stream(
        self, inputs: torch.Tensor, state: State | None, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, State]:
        """One chunk of a truncated-BPTT stream: logits, loss and the state to carry on."""
        logits, new_state = self.run(inputs, state)
        loss = None if targets is None else self.loss(logits, targets)
        return logits, loss, new_state

    def step(self, tokens: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """One generation step: ``tokens [B]`` → next-token logits ``[B, V]`` and the state."""
        logits, new_state = self.run(tokens[:, None], state)
        return logits[:, -1], new_state

    def metrics(self, outputs: torch.Tensor, batch: Any) -> dict[str, tuple[float, float]]:
        """Next-token accuracy over counted positions, as ``(correct, count)``."""
        targets = batch.targets
        counted = targets != self.config.pad_id
        if batch.lengths is not None:
            steps = torch.arange(targets.shape[1], device=targets.device)
            counted &= steps[None, :] < batch.lengths.to(targets.device)[:, None]
        correct = (outputs.argmax(-1) == targets) & counted
        return {"accuracy": (float(correct.sum()), float(counted.sum()))}
