"""Sequence-to-sequence: a recurrent encoder, a recurrent decoder, optional attention.

Layout of one pair (``<sos>`` = 2, ``<eos>`` = 3, ``<pad>`` = 0 in the default vocabulary)::

    source    inputs  [B, S]   x_1 ... x_m  <pad> ...           (lengths[b] = m, no <sos>/<eos>)
    target    targets [B, T]   y_1 ... y_n  <eos>  <pad> ...     (what the decoder must emit)
    decoder   input   [B, T]   <sos>  y_1 ... y_n  <pad> ...     (built here: <sos> + targets
                                                                   shifted right by one)

Encoder (any cell, stacked, optionally bidirectional)::

    e_s       = E_src[x_s]                                     [B, S, D]
    m_s, h_m  = RNN_enc(e_s)                                   [B, S, H], [L, B, H]

Bidirectional encoders give each direction ``H / 2`` units, so the memory ``m_s`` is the
concatenation ``[m→_s; m←_s]`` of size ``H`` and the decoder's initial state is the
concatenation of both directions' final states, layer by layer (the OpenNMT ``brnn`` bridge:
no extra parameters). Unidirectional encoders hand their final state over as it is.

Decoder, step ``t`` (input token ``y_{t-1}``, ``y_0 = <sos>``)::

    none      s_t = RNN_dec(E_tgt[y_{t-1}], s_{t-1});                     o_t = s_t
    dot,      s_t = RNN_dec(E_tgt[y_{t-1}], s_{t-1});  c_t = attn(s_t, m)
    general   o_t = tanh(W_c [c_t; s_t])                                  (Luong)
    additive  c_t = attn(s_{t-1}, m);  s_t = RNN_dec([E_tgt[y_{t-1}]; c_t], s_{t-1})
              o_t = tanh(W_c [c_t; s_t])                                  (Bahdanau)
    logits_t  = W_out o_t + b_out                                         [B, V]

with attention only over valid source positions (padding masked), see
:class:`rnnkit.models.attention.Attention`. The loss is the mean cross-entropy over the
non-padding target positions.

Teacher forcing: in training, the decoder input at step ``t`` is the true ``y_{t-1}`` with
probability ``p`` (per row and step) and the model's own greedy guess otherwise (scheduled
sampling, Bengio et al. 2015). ``p`` starts at ``teacher_forcing`` and, with
``teacher_forcing_decay = N > 0``, moves linearly to ``teacher_forcing_final`` over the first
``N`` training steps (counted by the model in a buffer saved with its weights, so a resumed run
continues the schedule). With ``p = 1`` and Luong or no attention the decoder runs over the
whole target in one call; otherwise it runs step by step. Evaluation always teacher-forces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.models.attention import Attention
from rnnkit.nn import GRU, LSTM, RNN

__all__ = ["ATTENTIONS", "Seq2Seq", "Seq2SeqConfig", "Seq2SeqState"]

#: Attention choices of :class:`Seq2Seq`.
ATTENTIONS = ("none", "dot", "general", "additive")
#: Cells a Seq2Seq model can be built on, and the layer class each uses.
_LAYERS = {"rnn": RNN, "lstm": LSTM, "peephole_lstm": LSTM, "gru": GRU}

#: The decoder state between steps: (recurrent state ``[L, B, H]`` tensors, memory
#: ``[B, S, H]``, prepared memory ``[B, S, ·]``, source mask ``[B, S]``).
Seq2SeqState = tuple[tuple[Tensor, ...], Tensor, Tensor, Tensor]


@dataclass
class Seq2SeqConfig:
    """Constructor arguments of :class:`Seq2Seq` (saved in a checkpoint's config.json)."""

    src_vocab_size: int  # source token ids
    tgt_vocab_size: int  # V, target token ids
    embedding_dim: int = 64  # D, size of the source and target embeddings
    hidden_size: int = 128  # H, decoder units (and memory size; H/2 per encoder direction)
    num_layers: int = 1  # stacked layers in the encoder and in the decoder
    cell: str = "lstm"  # rnn | lstm | peephole_lstm | gru
    nonlinearity: str = "tanh"  # for cell = rnn: tanh | relu
    bidirectional: bool = True  # bidirectional encoder (hidden_size must be even)
    attention: str = "general"  # none | dot | general (Luong) | additive (Bahdanau)
    dropout: float = 0.0  # on embeddings, between layers and before the output layer
    teacher_forcing: float = 1.0  # probability of feeding the true previous token in training
    teacher_forcing_final: float = 1.0  # the probability reached after the decay
    teacher_forcing_decay: int = 0  # training steps of the linear decay (0 = constant)
    pad_id: int = 0  # target padding id (ignored by the loss)
    sos_id: int = 2  # start-of-sequence id: the decoder's first input
    eos_id: int = 3  # end-of-sequence id: ends every target and every translation


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"Argument `{name}` must be {what}, got {value!r}.")


def _check_probability(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"Argument `{name}` must be a probability in [0, 1], got {value!r}.")


class Seq2Seq(nn.Module):
    """Encoder-decoder with Luong or Bahdanau attention (or none) and scheduled sampling.

    See the module docstring for the equations and the layout of inputs and targets.

    Args:
        src_vocab_size: source token ids.
        tgt_vocab_size: ``V``, target token ids.
        embedding_dim: ``D``.
        hidden_size: ``H`` (even when ``bidirectional``).
        num_layers: stacked layers in encoder and decoder.
        cell: ``rnn``, ``lstm``, ``peephole_lstm`` or ``gru``.
        nonlinearity: ``tanh`` or ``relu`` for ``cell="rnn"``.
        bidirectional: bidirectional encoder, bridged to the decoder by concatenation.
        attention: ``none``, ``dot``, ``general`` or ``additive``.
        dropout: dropout on embeddings, between layers and before the output layer.
        teacher_forcing: probability of feeding the true previous token in training.
        teacher_forcing_final: probability reached after ``teacher_forcing_decay`` steps.
        teacher_forcing_decay: training steps over which the probability moves linearly from
            ``teacher_forcing`` to ``teacher_forcing_final`` (0: constant).
        pad_id, sos_id, eos_id: target ids of ``<pad>``, ``<sos>`` and ``<eos>``.

    Shape:
        inputs ``[B, S]``, targets ``[B, T]``, lengths ``[B]`` → logits ``[B, T, V]``.

    Raises:
        ValueError: an unknown cell or attention, a size that is not a positive integer, an
            odd ``hidden_size`` with ``bidirectional``, or a probability outside [0, 1].

    Example:
        >>> model = Seq2Seq(src_vocab_size=8, tgt_vocab_size=8, embedding_dim=4, hidden_size=6)
        >>> src = torch.tensor([[4, 5, 6], [7, 4, 0]])
        >>> tgt = torch.tensor([[6, 5, 4, 3], [4, 7, 3, 0]])  # y ... <eos> <pad>
        >>> logits, loss = model(src, tgt, lengths=torch.tensor([3, 2]))
        >>> tuple(logits.shape), loss.ndim
        ((2, 4, 8), 0)
        >>> len(model.translate(src, torch.tensor([3, 2]), max_length=5))
        2
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        embedding_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        nonlinearity: str = "tanh",
        bidirectional: bool = True,
        attention: str = "general",
        dropout: float = 0.0,
        teacher_forcing: float = 1.0,
        teacher_forcing_final: float = 1.0,
        teacher_forcing_decay: int = 0,
        pad_id: int = 0,
        sos_id: int = 2,
        eos_id: int = 3,
    ) -> None:
        super().__init__()
        if cell not in _LAYERS:
            raise ValueError(
                f"Argument `cell` of Seq2Seq must be one of {list(_LAYERS)}, got {cell!r}."
            )
        if attention not in ATTENTIONS:
            raise ValueError(
                f"Argument `attention` must be one of {list(ATTENTIONS)}, got {attention!r}."
            )
        for name, value in (
            ("src_vocab_size", src_vocab_size),
            ("tgt_vocab_size", tgt_vocab_size),
            ("embedding_dim", embedding_dim),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            _check_int(name, value, 1)
        _check_int("teacher_forcing_decay", teacher_forcing_decay, 0)
        for name, value in (("pad_id", pad_id), ("sos_id", sos_id), ("eos_id", eos_id)):
            _check_int(name, value, 0)
            if value >= tgt_vocab_size:
                raise ValueError(
                    f"Argument `{name}` must be a target id below tgt_vocab_size="
                    f"{tgt_vocab_size}, got {value}."
                )
        if bidirectional and hidden_size % 2:
            raise ValueError(
                "Argument `hidden_size` must be even with bidirectional=True (each direction "
                f"gets hidden_size / 2 units), got {hidden_size}."
            )
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (
            0.0 <= dropout < 1.0
        ):
            raise ValueError(f"Argument `dropout` must be in [0, 1), got {dropout!r}.")
        _check_probability("teacher_forcing", teacher_forcing)
        _check_probability("teacher_forcing_final", teacher_forcing_final)
        self.config = Seq2SeqConfig(
            src_vocab_size=src_vocab_size,
            tgt_vocab_size=tgt_vocab_size,
            embedding_dim=embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            cell=cell,
            nonlinearity=nonlinearity,
            bidirectional=bidirectional,
            attention=attention,
            dropout=float(dropout),
            teacher_forcing=float(teacher_forcing),
            teacher_forcing_final=float(teacher_forcing_final),
            teacher_forcing_decay=teacher_forcing_decay,
            pad_id=pad_id,
            sos_id=sos_id,
            eos_id=eos_id,
        )
        options: dict[str, Any] = {}
        if cell == "rnn":
            options["nonlinearity"] = nonlinearity
        if cell == "peephole_lstm":
            options["peephole"] = True
        layer = _LAYERS[cell]
        between = dropout if num_layers > 1 else 0.0
        H = hidden_size
        self.src_embedding = nn.Embedding(src_vocab_size, embedding_dim)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, embedding_dim)
        self.encoder = layer(
            embedding_dim,
            H // 2 if bidirectional else H,
            num_layers=num_layers,
            batch_first=True,
            dropout=between,
            bidirectional=bidirectional,
            **options,
        )
        decoder_input = embedding_dim + (H if attention == "additive" else 0)
        self.decoder = layer(
            decoder_input, H, num_layers=num_layers, batch_first=True, dropout=between, **options
        )
        self.attention = None if attention == "none" else Attention(attention, H, H)
        self.combine = None if attention == "none" else nn.Linear(2 * H, H, bias=False)
        self.drop = nn.Dropout(dropout)
        self.output = nn.Linear(H, tgt_vocab_size)
        # training steps taken, for the teacher-forcing schedule (saved with the weights)
        self.register_buffer("teacher_forcing_steps", torch.zeros((), dtype=torch.long))

    # -- checkpoint registry protocol -------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        """JSON-safe constructor arguments, for checkpoints."""
        return asdict(self.config)

    @classmethod
    def from_config_dict(cls, config: dict[str, Any]) -> Seq2Seq:
        """Build a model from :meth:`config_dict`'s output (unknown keys are refused)."""
        known = set(Seq2SeqConfig.__dataclass_fields__)
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"Seq2Seq config has unknown keys {unknown}; valid keys are {sorted(known)}."
            )
        return cls(**config)

    # -- teacher forcing ---------------------------------------------------------------------
    @property
    def teacher_forcing_ratio(self) -> float:
        """The teacher-forcing probability of the next training step."""
        c = self.config
        if c.teacher_forcing_decay == 0:
            return c.teacher_forcing
        done = min(1.0, int(self.teacher_forcing_steps) / c.teacher_forcing_decay)
        return c.teacher_forcing + (c.teacher_forcing_final - c.teacher_forcing) * done

    # -- checks ------------------------------------------------------------------------------
    @staticmethod
    def _check_ids(name: str, ids: Tensor) -> None:
        if not isinstance(ids, Tensor) or ids.dim() != 2 or ids.dtype not in (
            torch.int64,
            torch.int32,
        ):
            shape = tuple(ids.shape) if isinstance(ids, Tensor) else type(ids).__name__
            dtype = ids.dtype if isinstance(ids, Tensor) else None
            raise ValueError(
                f"Argument `{name}` must be a [B, T] tensor of integer token ids, got "
                f"{shape} of dtype {dtype}."
            )
        if ids.shape[0] == 0 or ids.shape[1] == 0:
            raise ValueError(
                f"Argument `{name}` must hold at least one sequence of at least one token, got "
                f"shape {tuple(ids.shape)}."
            )

    # -- encoder -----------------------------------------------------------------------------
    def encode(self, inputs: Tensor, lengths: Tensor | None = None) -> Seq2SeqState:
        """Run the encoder; return the decoder's initial state (memory included).

        Args:
            inputs: ``[B, S]`` source ids, padded after each sequence's end.
            lengths: ``[B]`` true source lengths (``None``: every row fills ``S``).

        Returns:
            The state :meth:`step` takes, see :data:`Seq2SeqState`.

        Raises:
            ValueError: bad ids or lengths.
        """
        self._check_ids("inputs", inputs)
        B, S = inputs.shape
        emb = self.drop(self.src_embedding(inputs))
        if lengths is None:
            memory, final = self.encoder(emb)
            mask = torch.ones(B, S, dtype=torch.bool, device=inputs.device)
        else:
            memory, final = self.encoder(emb, lengths=lengths)
            steps = torch.arange(S, device=inputs.device)
            mask = steps[None, :] < torch.as_tensor(lengths).to(inputs.device)[:, None]
        final = final if isinstance(final, tuple) else (final,)
        if self.config.bidirectional:
            L = self.config.num_layers
            # [L*2, B, H/2], layer-major (layer k, direction d at 2k + d) -> [L, B, H] = [→; ←]
            final = tuple(
                f.view(L, 2, B, f.shape[-1]).permute(0, 2, 1, 3).reshape(L, B, 2 * f.shape[-1])
                for f in final
            )
        prepared = memory if self.attention is None else self.attention.prepare(memory)
        return final, memory, prepared, mask

    # -- decoder -----------------------------------------------------------------------------
    def _hx(self, rnn_state: tuple[Tensor, ...]) -> Any:
        return rnn_state if len(rnn_state) > 1 else rnn_state[0]

    def _combine(self, context: Tensor, s: Tensor) -> Tensor:
        """The attentional output ``o = tanh(W_c [c; s])``."""
        return torch.tanh(self.combine(torch.cat([context, s], dim=-1)))  # type: ignore[misc]

    def _attend_output(self, s: Tensor, memory: Tensor, prepared: Tensor, mask: Tensor) -> Tensor:
        """Luong: attend with the new state ``s`` and combine (no attention: ``s`` itself)."""
        if self.attention is None:
            return s
        context, _ = self.attention(s, memory, mask, prepared)
        return self._combine(context, s)

    def _decode_step(self, emb_t: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState]:
        rnn_state, memory, prepared, mask = state
        if self.config.attention == "additive" and self.attention is not None:
            query = rnn_state[0][-1]  # the top layer's previous hidden state s_{t-1}
            context, _ = self.attention(query, memory, mask, prepared)
            x_t = torch.cat([emb_t, context], dim=-1)
            out, new = self.decoder(x_t[:, None], self._hx(rnn_state))
            o = self._combine(context, out[:, 0])
        else:
            out, new = self.decoder(emb_t[:, None], self._hx(rnn_state))
            o = self._attend_output(out[:, 0], memory, prepared, mask)
        new = new if isinstance(new, tuple) else (new,)
        return self.output(self.drop(o)), (new, memory, prepared, mask)

    def step(self, tokens: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState]:
        """One decoder step: ``tokens [B]`` (previous outputs) → logits ``[B, V]``, new state.

        ``state`` comes from :meth:`encode` (or the previous step); this is the
        ``step(tokens, state) -> (logits, state)`` interface :mod:`rnnkit.decoding` drives.
        """
        return self._decode_step(self.drop(self.tgt_embedding(tokens)), state)

    @staticmethod
    def select_state(state: Seq2SeqState, index: Tensor) -> Seq2SeqState:
        """Rows ``index`` of a decoder state (beam search reorders and expands beams with it).

        The recurrent state has the batch in dim 1 (``[L, B, H]``), the rest in dim 0.
        """
        rnn_state, memory, prepared, mask = state
        return (
            tuple(s.index_select(1, index) for s in rnn_state),
            memory.index_select(0, index),
            prepared.index_select(0, index),
            mask.index_select(0, index),
        )

    def _decoder_inputs(self, targets: Tensor) -> Tensor:
        sos = torch.full_like(targets[:, :1], self.config.sos_id)
        return torch.cat([sos, targets[:, :-1]], dim=1)

    def decode(self, targets: Tensor, state: Seq2SeqState) -> Tensor:
        """Teacher-forced (or scheduled-sampling) logits ``[B, T, V]`` for ``targets [B, T]``."""
        inputs = self._decoder_inputs(targets)
        p = self.teacher_forcing_ratio if self.training else 1.0
        rnn_state, memory, prepared, mask = state
        if p >= 1.0 and self.config.attention != "additive":
            # Every input is known: the decoder runs over the whole target in one call.
            out, _ = self.decoder(self.drop(self.tgt_embedding(inputs)), self._hx(rnn_state))
            return self.output(self.drop(self._attend_output(out, memory, prepared, mask)))
        logits = []
        previous = inputs[:, 0]
        for t in range(inputs.shape[1]):
            if t > 0:
                previous = inputs[:, t]
                if p < 1.0:
                    guess = logits[-1].detach().argmax(-1)
                    keep = torch.rand(inputs.shape[0], device=inputs.device) < p
                    previous = torch.where(keep, previous, guess)
            step_logits, state = self.step(previous, state)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)

    # -- the head protocol -------------------------------------------------------------------
    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Mean cross-entropy over the non-padding target positions."""
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=self.config.pad_id,
        )

    def forward(
        self,
        inputs: Tensor,
        targets: Tensor | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor | None, Tensor | None]:
        """Teacher-forced logits and the loss; without targets, the encoder's memory.

        Args:
            inputs: ``[B, S]`` padded source ids.
            targets: ``[B, T]`` target ids ending in ``<eos>``, padded with ``pad_id`` (any
                negative id counts as padding too). ``None``: nothing to decode against.
            lengths: ``[B]`` source lengths.

        Returns:
            ``(logits [B, T, V], loss)`` with targets; ``(memory [B, S, H], None)`` without
            (use :meth:`translate` to decode).

        Raises:
            ValueError: ids that are not ``[B, T]`` integer tensors, or batch sizes that differ.
        """
        state = self.encode(inputs, lengths)
        if targets is None:
            return state[1], None
        self._check_ids("targets", targets)
        if targets.shape[0] != inputs.shape[0]:
            raise ValueError(
                f"Argument `targets` must have one row per source row ({inputs.shape[0]}), got "
                f"{targets.shape[0]}."
            )
        targets = targets.masked_fill(targets < 0, self.config.pad_id)
        logits = self.decode(targets, state)
        if self.training:
            with torch.no_grad():
                self.teacher_forcing_steps += 1
        return logits, self.loss(logits, targets)

    def metrics(self, outputs: Tensor, batch: Any) -> dict[str, tuple[float, float]]:
        """Teacher-forced token accuracy and whole-sequence accuracy, as ``(correct, count)``."""
        targets = batch.targets.masked_fill(batch.targets < 0, self.config.pad_id)
        counted = targets != self.config.pad_id
        right = (outputs.argmax(-1) == targets) | ~counted
        token_correct = (right & counted).sum()
        return {
            "accuracy": (float(token_correct), float(counted.sum())),
            "sequence_accuracy": (float(right.all(dim=1).sum()), float(targets.shape[0])),
        }

    # -- translation -------------------------------------------------------------------------
    def translate(
        self,
        inputs: Tensor,
        lengths: Tensor | None = None,
        *,
        max_length: int = 100,
        beam_size: int = 1,
        alpha: float = 0.0,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> list[list[int]]:
        """Decode every source row: greedy, sampled, or beam search; ``<eos>`` ends a row.

        Args:
            inputs: ``[B, S]`` padded source ids.
            lengths: ``[B]`` source lengths (``None``: all full).
            max_length: most target tokens per row (``<eos>`` included).
            beam_size: ``> 1`` runs :func:`rnnkit.decoding.beam_search`.
            alpha: beam search length normalisation (0: none).
            temperature, top_k, top_p, seed: sampling (``temperature=0``: greedy), beam 1 only.

        Returns:
            One list of target ids per row, without ``<eos>``.
        """
        from rnnkit.decoding import beam_search, generate

        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                state = self.encode(inputs, lengths)
                prime = torch.full(
                    (inputs.shape[0], 1), self.config.sos_id, dtype=torch.long,
                    device=inputs.device,
                )
                if beam_size == 1:
                    out = generate(
                        self.step, prime, max_length, state=state, temperature=temperature,
                        top_k=top_k, top_p=top_p, seed=seed, eos_id=self.config.eos_id,
                    )
                else:
                    out = beam_search(
                        self.step, prime, max_length, beam_size=beam_size, state=state,
                        eos_id=self.config.eos_id, alpha=alpha, select_state=self.select_state,
                    )
        finally:
            self.train(was_training)
        rows = []
        for row in out.tolist():
            if self.config.eos_id in row:
                row = row[: row.index(self.config.eos_id)]
            rows.append(row)
        return rows
