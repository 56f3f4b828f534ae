"""Character- and word-level recurrent language model: embedding → recurrent layer → decoder.

The model predicts token ``t+1`` from tokens ``≤ t``::

    e_t      = E[x_t]                                  [B, T, D]
    h_t      = RNN(e_t, h_{t-1})                       [B, T, H]
    logits_t = W_dec h_t + b_dec                       [B, T, V]
    loss     = mean_t  -log softmax(logits_t)[x_{t+1}]  over counted positions

Adaptive softmax (``adaptive_cutoffs``; Grave et al. 2017, ``torch.nn.AdaptiveLogSoftmaxWithLoss``)
replaces the decoder for large vocabularies. The ids, most frequent first (as
:class:`rnnkit.data.Vocabulary` numbers words), are cut at ``c_1 < c_2 < ... < c_n``: the head
scores the shortlist ``[0, c_1)`` and one entry per tail cluster ``k``, and each cluster scores
its own words through a projection to ``H / div^k`` units::

    log p(w | h_t) = log softmax(W_head h_t)[w]                            w <  c_1
    log p(w | h_t) = log softmax(W_head h_t)[k] + log softmax(W_k P_k h_t)[w - c_k]
                                                                           c_k <= w < c_{k+1}

Training computes a tail only for the rows whose target lies in it, so most positions cost the
head alone; the outputs are then log-probabilities ``[B, T, V]`` (exactly normalised) in place
of logits, which every decoding strategy takes as they are (softmax and its temperature, top-k,
top-p and beam search do not change when a constant is added per row).

Conditioning (the one-to-many shape): a category (``categories``, e.g. the language a name
comes from) or a feature vector (``condition_size``, e.g. an image's features for a caption)
sets the initial state of every layer::

    [h_0; c_0]  = tanh(W_cond z + b_cond)        z: one-hot category or feature vector

A category model reads its category from the first column of ``inputs`` when ``forward`` is
not given ``condition`` (so a plain ``Batch`` carries it through the trainer); a feature model
is always given ``condition``. See :meth:`LanguageModel.forward`.

Generation: :meth:`LanguageModel.step` runs the layer on one step; :meth:`generation_step`
returns a :class:`GenerationStep`, the same computation with the weights laid out once for
matrix-vector products into preallocated buffers (no module calls, no allocations in the
recurrence), which is what sampling at batch 1 should use.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from rnnkit.nn import GRU, LSTM, RNN
from rnnkit.nn.regularizers import check_probability, embedding_dropout

__all__ = ["GenerationStep", "LanguageModel", "LanguageModelConfig", "check_adaptive_cutoffs"]

State = tuple[torch.Tensor, ...]

#: Cells a language model can be built on, and the layer class each uses.
_LAYERS = {"rnn": RNN, "lstm": LSTM, "peephole_lstm": LSTM, "gru": GRU}


def _check_categories(categories: Sequence[str]) -> list[str]:
    if isinstance(categories, str) or not isinstance(categories, Sequence):
        raise ValueError(
            f"Argument `categories` must be a list of names, got {type(categories).__name__}."
        )
    seen: set[str] = set()
    for position, name in enumerate(categories):
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"Argument `categories` must hold non-empty names, got {name!r} at position "
                f"{position}."
            )
        if name in seen:
            raise ValueError(f"Argument `categories` names {name!r} twice; names must be unique.")
        seen.add(name)
    return list(categories)


def check_adaptive_cutoffs(cutoffs: Sequence[int], vocab_size: int | None = None) -> list[int]:
    """The adaptive softmax's cutoffs as a list, refused in one sentence unless they are
    increasing integers in ``(0, vocab_size)`` (without ``vocab_size``: positive).

    >>> check_adaptive_cutoffs((20, 100), vocab_size=500)
    [20, 100]
    """
    if isinstance(cutoffs, str) or not isinstance(cutoffs, Sequence):
        raise ValueError(
            "Argument `adaptive_cutoffs` must be a list of increasing token ids, got "
            f"{type(cutoffs).__name__}."
        )
    values = list(cutoffs)
    limit = float("inf") if vocab_size is None else vocab_size
    bad = [c for c in values if isinstance(c, bool) or not isinstance(c, int)]
    if bad or any(not 0 < c < limit for c in values) or any(
        a >= b for a, b in itertools.pairwise(values)
    ):
        where = "positive" if vocab_size is None else f"in (0, vocab_size = {vocab_size})"
        raise ValueError(
            f"Argument `adaptive_cutoffs` must be increasing integers {where}, got {values!r}."
        )
    return values


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
    embedding_dropout: float = 0.0  # drop whole words from the embedding in training (0: off)
    categories: list[str] = field(default_factory=list)  # names of categories that condition
    condition_size: int = 0  # size of a feature vector that sets the initial state (0: none)
    adaptive_cutoffs: list[int] = field(default_factory=list)  # adaptive softmax (empty: off)
    adaptive_div_value: float = 4.0  # each tail cluster's projection is div times smaller


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
        embedding_dropout: probability of dropping a whole word -- every occurrence of a
            vocabulary row in the batch -- from the embedding in training (Gal & Ghahramani
            2016, Merity et al. 2017; :func:`rnnkit.nn.regularizers.embedding_dropout`).
        categories: names of the categories that can set the initial state (conditioning);
            category ``k`` is ``categories[k]``.
        condition_size: size of a feature vector that sets the initial state instead.
        adaptive_cutoffs: increasing ids in ``(0, V)`` that split the vocabulary (most
            frequent first) into the adaptive softmax's shortlist and tail clusters; empty
            (the default) for the plain linear decoder and softmax.
        adaptive_div_value: the adaptive softmax's ``div``: tail cluster ``k`` is scored from
            a projection to ``H / div^k`` units.

    Shape:
        inputs ``[B, T]`` int64 → logits ``[B, T, V]`` (a category model: ``[B, 1 + T]``,
        the category ids in column 0, unless ``condition`` is given). With adaptive softmax
        the outputs are log-probabilities ``[B, T, V]``, except that :meth:`forward` in
        training with targets returns ``None`` for them: only the loss is computed, which
        is the point of it.

    Raises:
        ValueError: an unknown cell, a size that is not positive, ``tie_weights`` with
            ``embedding_dim != hidden_size`` or with adaptive softmax, repeated categories,
            both kinds of conditioning, or adaptive cutoffs that are not increasing ids in
            ``(0, V)``.

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
        embedding_dropout: float = 0.0,
        categories: Sequence[str] = (),
        condition_size: int = 0,
        adaptive_cutoffs: Sequence[int] = (),
        adaptive_div_value: float = 4.0,
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
        check_probability("embedding_dropout", embedding_dropout)
        categories = _check_categories(categories)
        if isinstance(condition_size, bool) or not isinstance(condition_size, int) or (
            condition_size < 0
        ):
            raise ValueError(
                f"Argument `condition_size` must be an integer >= 0, got {condition_size!r}."
            )
        if categories and condition_size:
            raise ValueError(
                "Arguments `categories` and `condition_size` do not combine: the initial state "
                f"is set by a category or by a feature vector, got {len(categories)} categories "
                f"and condition_size={condition_size}."
            )
        if tie_weights and embedding_dim != hidden_size:
            raise ValueError(
                "Argument `tie_weights=True` needs embedding_dim == hidden_size, got "
                f"embedding_dim={embedding_dim} and hidden_size={hidden_size}."
            )
        cutoffs = check_adaptive_cutoffs(adaptive_cutoffs, vocab_size)
        if cutoffs and tie_weights:
            raise ValueError(
                "Argument `tie_weights=True` does not combine with adaptive softmax: its head "
                "and tail clusters have no matrix shaped like the embedding; got cutoffs "
                f"{cutoffs}."
            )
        if isinstance(adaptive_div_value, bool) or not isinstance(
            adaptive_div_value, (int, float)
        ) or not adaptive_div_value >= 1.0:
            raise ValueError(
                f"Argument `adaptive_div_value` must be a number >= 1, got {adaptive_div_value!r}."
            )
        if cutoffs and int(hidden_size // adaptive_div_value ** len(cutoffs)) < 1:
            raise ValueError(
                f"Argument `adaptive_div_value` = {adaptive_div_value!r} leaves the last of "
                f"{len(cutoffs)} tail clusters no unit: its projection has hidden_size / div^"
                f"{len(cutoffs)} = {hidden_size} / {adaptive_div_value ** len(cutoffs):g} < 1; "
                "use fewer cutoffs, a smaller div or more hidden units."
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
            embedding_dropout=float(embedding_dropout),
            categories=list(categories),
            condition_size=condition_size,
            adaptive_cutoffs=cutoffs,
            adaptive_div_value=float(adaptive_div_value),
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
        self.decoder: nn.Linear | nn.AdaptiveLogSoftmaxWithLoss
        if cutoffs:
            self.decoder = nn.AdaptiveLogSoftmaxWithLoss(
                hidden_size, vocab_size, cutoffs, div_value=float(adaptive_div_value),
                head_bias=True,
            )
        else:
            self.decoder = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.decoder.weight = self.embedding.weight
        # every layer's initial state, all state tensors side by side: [L * sum(state sizes)]
        state_total = num_layers * sum(self.rnn.state_sizes)
        self.condition: nn.Module | None = None
        if categories:
            self.condition = nn.Embedding(len(categories), state_total)
        elif condition_size:
            self.condition = nn.Linear(condition_size, state_total)

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

    @property
    def adaptive(self) -> bool:
        """Whether the decoder is an adaptive softmax (``adaptive_cutoffs`` given)."""
        return isinstance(self.decoder, nn.AdaptiveLogSoftmaxWithLoss)

    def features(
        self, inputs: torch.Tensor, state: State | None = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """The top layer's outputs ``[B, T, H]`` as the decoder reads them (after dropout),
        and the recurrent state after the last step."""
        self._check_inputs(inputs)
        p_word = self.config.embedding_dropout
        if p_word and self.training:
            emb = embedding_dropout(
                inputs, self.embedding.weight, p_word, padding_idx=self.embedding.padding_idx
            )
        else:
            emb = self.embedding(inputs)
        emb = self.drop(emb)
        if state is not None and len(state) == 1:  # RNN and GRU layers take h_0 alone
            state = state[0]
        if lengths is not None:
            out, new_state = self.rnn(emb, state, lengths=lengths)
        else:
            out, new_state = self.rnn(emb, state)
        if not isinstance(new_state, tuple):
            new_state = (new_state,)
        return self.drop(out), new_state

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """Next-token scores ``[..., V]`` of features ``[..., H]``: the linear decoder's
        logits, or the adaptive softmax's log-probabilities (every tail computed)."""
        if isinstance(self.decoder, nn.AdaptiveLogSoftmaxWithLoss):
            flat = features.reshape(-1, features.shape[-1])
            return self.decoder.log_prob(flat).view(*features.shape[:-1], -1)
        return self.decoder(features)

    def run(
        self, inputs: torch.Tensor, state: State | None = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """Return logits ``[B, T, V]`` (adaptive softmax: log-probabilities) and the recurrent
        state after the last step."""
        features, new_state = self.features(inputs, state, lengths)
        return self.scores(features), new_state

    def _counted(
        self, targets: torch.Tensor, lengths: torch.Tensor | None
    ) -> torch.Tensor:
        """``targets`` with the steps past ``lengths`` set to ``pad_id`` (not counted)."""
        if lengths is None:
            return targets
        steps = torch.arange(targets.shape[1], device=targets.device)
        past_end = steps[None, :] >= lengths.to(targets.device)[:, None]
        return targets.masked_fill(past_end, self.config.pad_id)

    def adaptive_loss(
        self, features: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The adaptive softmax's mean cross-entropy over counted positions, computing each
        tail cluster only for the positions whose target lies in it.

        Equal to :meth:`loss` of :meth:`scores` (the full log-probabilities), at a fraction
        of the cost.

        Shape:
            features ``[B, T, H]``, targets ``[B, T]``, lengths ``[B]`` → scalar.

        Raises:
            ValueError: the model has no adaptive softmax, or ``targets`` does not match
                ``features``.
        """
        if not isinstance(self.decoder, nn.AdaptiveLogSoftmaxWithLoss):
            raise ValueError(
                "adaptive_loss needs a LanguageModel built with adaptive_cutoffs; this one has "
                "a linear decoder (use loss)."
            )
        if targets.shape != features.shape[:2]:
            raise ValueError(
                f"Argument `targets` must have shape {tuple(features.shape[:2])} (one id per "
                f"input step), got {tuple(targets.shape)}."
            )
        flat = self._counted(targets, lengths).reshape(-1)
        keep = flat != self.config.pad_id
        h = features.reshape(-1, features.shape[-1])[keep]  # [N, H]
        w = flat[keep]  # [N]
        # Written out rather than calling the module: its loss copies float32 and bfloat16
        # results into one buffer and fails under autocast. The softmaxes run in float32.
        cutoffs = self.decoder.cutoffs  # [c_1, ..., c_n, V]
        shortlist = self.decoder.shortlist_size
        bounds = torch.tensor(cutoffs[:-1], device=w.device)
        cluster = torch.bucketize(w, bounds, right=True)  # 0: shortlist, k: tail cluster k
        head_index = torch.where(cluster == 0, w, shortlist + cluster - 1)
        head = torch.log_softmax(self.decoder.head(h).float(), dim=-1)
        log_p = head.gather(1, head_index[:, None])[:, 0]  # log p(w) or log p(cluster k)
        for k, tail in enumerate(self.decoder.tail, start=1):
            rows = (cluster == k).nonzero()[:, 0]
            if rows.numel() == 0:
                continue
            within = torch.log_softmax(tail(h[rows]).float(), dim=-1)
            local = (w[rows] - cutoffs[k - 1])[:, None]
            log_p = log_p.index_add(0, rows, within.gather(1, local)[:, 0])
        return -log_p.mean()

    def loss(
        self, logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean cross-entropy over counted positions (``pad_id`` and steps past ``lengths``).

        ``logits`` may be log-probabilities (the adaptive softmax's :meth:`scores`): the
        softmax of log-probabilities is the distribution itself."""
        if targets.shape != logits.shape[:2]:
            raise ValueError(
                f"Argument `targets` must have shape {tuple(logits.shape[:2])} (one id per input "
                f"step), got {tuple(targets.shape)}."
            )
        targets = self._counted(targets, lengths)
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=self.config.pad_id,
        )

    # -- conditioning ------------------------------------------------------------------------
    def category_ids(self, names: Sequence[str]) -> torch.Tensor:
        """The ids ``[B]`` of category names.

        Raises:
            ValueError: a name that is not one of the model's categories (they are listed).
        """
        categories = self.config.categories
        index = {name: i for i, name in enumerate(categories)}
        for name in names:
            if name not in index:
                raise ValueError(
                    f"Argument `category` must be one of {categories}, got {name!r}."
                    if categories
                    else "Argument `category` needs a model trained with categories; this one "
                    "has none."
                )
        return torch.tensor([index[name] for name in names], dtype=torch.long)

    def initial_state(self, condition: torch.Tensor) -> State:
        """The initial state a category or a feature vector sets, ``tanh(W_cond z + b_cond)``.

        Args:
            condition: ``[B]`` category ids (a model with ``categories``) or ``[B, F]``
                features (a model with ``condition_size = F``).

        Returns:
            ``(h_0,)`` or ``(h_0, c_0)``, each ``[num_layers, B, H]``: the ``state`` that
            :meth:`run`, :meth:`step` and :func:`rnnkit.decoding.generate` take.

        Raises:
            ValueError: an unconditional model, or a condition of the wrong shape, type or
                range.
        """
        c = self.config
        if self.condition is None:
            raise ValueError(
                "Argument `condition` needs a conditional LanguageModel (built with categories "
                "or condition_size); this one has neither."
            )
        if c.categories:
            if condition.dim() != 1 or condition.dtype not in (torch.int64, torch.int32):
                raise ValueError(
                    "Argument `condition` must be [B] integer category ids, got shape "
                    f"{tuple(condition.shape)} and dtype {condition.dtype}."
                )
            if condition.numel() and (
                int(condition.min()) < 0 or int(condition.max()) >= len(c.categories)
            ):
                raise ValueError(
                    f"Argument `condition` must hold category ids in [0, {len(c.categories)}), "
                    f"got {condition.tolist()}."
                )
        elif condition.dim() != 2 or condition.shape[1] != c.condition_size or (
            not condition.is_floating_point()
        ):
            raise ValueError(
                f"Argument `condition` must be [B, {c.condition_size}] float features, got shape "
                f"{tuple(condition.shape)} and dtype {condition.dtype}."
            )
        z = torch.tanh(self.condition(condition))  # [B, L * S]
        sizes = list(self.rnn.state_sizes)
        z = z.view(z.shape[0], c.num_layers, sum(sizes)).transpose(0, 1)  # [L, B, S]
        return tuple(part.contiguous() for part in z.split(sizes, dim=-1))

    def _conditioned(
        self, inputs: torch.Tensor, condition: torch.Tensor | None
    ) -> tuple[torch.Tensor, State | None]:
        """Split off the category column if there is one; return inputs and initial state."""
        c = self.config
        if self.condition is None:
            if condition is not None:
                raise ValueError(
                    "Argument `condition` needs a conditional LanguageModel (built with "
                    "categories or condition_size); this one has neither."
                )
            return inputs, None
        if condition is None:
            if c.condition_size:
                raise ValueError(
                    "Argument `condition` is required: this LanguageModel's initial state is "
                    f"set by a feature vector of size {c.condition_size}, got None."
                )
            self._check_inputs(inputs)
            if inputs.shape[1] < 2:
                raise ValueError(
                    "Argument `inputs` of a category model holds the category ids in column 0 "
                    f"and tokens after it; got shape {tuple(inputs.shape)}, with no tokens."
                )
            condition, inputs = inputs[:, 0], inputs[:, 1:]
        return inputs, self.initial_state(condition)

    def forward(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        condition: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Logits for every position, and the loss when ``targets`` are given.

        With adaptive softmax the outputs are log-probabilities, and in training with
        ``targets`` they are ``None``: only the loss is computed (:meth:`adaptive_loss`).

        A conditional model starts from :meth:`initial_state` of ``condition``; a category
        model given no ``condition`` reads the category ids from column 0 of ``inputs``
        (``[B, 1 + T]``; ``lengths`` count the ``T`` tokens), so that a trainer batch carries
        them.

        Shape:
            inputs ``[B, T]``, targets ``[B, T]`` (next tokens), lengths ``[B]``, condition
            ``[B]`` or ``[B, F]`` → logits ``[B, T, V]``, loss scalar or ``None``.
        """
        inputs, state = self._conditioned(inputs, condition)
        if targets is not None and self.training and self.adaptive:
            features, _ = self.features(inputs, state, lengths)
            return None, self.adaptive_loss(features, targets, lengths)
        logits, _ = self.run(inputs, state, lengths)
        loss = None if targets is None else self.loss(logits, targets, lengths)
        return logits, loss

    def forward_stream(
        self, inputs: torch.Tensor, state: State | None, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, State]:
        """One chunk of a truncated-BPTT stream: logits, loss and the state to carry on
        (adaptive softmax in training with targets: no logits, ``None``, as in
        :meth:`forward`)."""
        if targets is not None and self.training and self.adaptive:
            features, new_state = self.features(inputs, state)
            return None, self.adaptive_loss(features, targets), new_state
        logits, new_state = self.run(inputs, state)
        loss = None if targets is None else self.loss(logits, targets)
        return logits, loss, new_state

    def step(self, tokens: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """One generation step: ``tokens [B]`` → next-token logits ``[B, V]`` and the state."""
        logits, new_state = self.run(tokens[:, None], state)
        return logits[:, -1], new_state

    def generation_step(self, batch_size: int = 1) -> Any:
        """The fastest ``step(tokens, state) -> (logits, state)`` for generating ``batch_size``
        rows: a :class:`GenerationStep` for plain LSTM, GRU and Elman layers in eval mode,
        else :meth:`step`. Build it when the weights are final (it copies them)."""
        if not self.training and GenerationStep.supports(self):
            return GenerationStep(self, batch_size)
        return self.step

    def metrics(
        self, outputs: torch.Tensor | None, batch: Any
    ) -> dict[str, tuple[float, float]]:
        """Next-token accuracy over counted positions, as ``(correct, count)`` (none for the
        ``None`` outputs of adaptive-softmax training)."""
        if outputs is None:
            return {}
        targets = batch.targets
        counted = targets != self.config.pad_id
        if batch.lengths is not None:
            steps = torch.arange(targets.shape[1], device=targets.device)
            counted &= steps[None, :] < batch.lengths.to(targets.device)[:, None]
        correct = (outputs.argmax(-1) == targets) & counted
        return {"accuracy": (float(correct.sum()), float(counted.sum()))}


class GenerationStep:
    """A language model's ``step`` for generation, with the weights laid out once.

    Computes what :meth:`LanguageModel.step` computes in eval mode, for a fixed number of
    rows, with no module calls and no allocations in the recurrence: the weights of each
    layer are concatenated and transposed once (``[I + H, G·H]``, LSTM gates reordered to
    ``i, f, o, g`` so one sigmoid covers three of them) and every step writes into buffers
    made at construction::

        buffer  [B, D + L·H] = [ x | h_0 | h_1 | ... | h_{L-1} ]
        layer l reads [ x or h_{l-1} | h_l ] (a view), one addmm into gates [B, G·H], then
        updates c_l and writes h_l in place -- which is also layer l+1's input

    (GRU layers keep separate input and hidden products, as their candidate gate needs.)

    The returned logits and state are these buffers: the next call overwrites them (an
    adaptive softmax's log-probabilities are a new tensor each step). Passing
    back the state it returned costs nothing; any other state (``None``, a state from
    :meth:`LanguageModel.run`, beams reordered by :func:`rnnkit.decoding.beam_search`) is
    copied in first.

    Args:
        model: a :class:`LanguageModel` whose cell is ``lstm``, ``gru`` or ``rnn``.
        batch_size: ``B``, the rows every call takes.

    Raises:
        ValueError: a cell this class does not cover (see :meth:`supports`), or a
            ``batch_size`` that is not a positive integer.

    Example:
        >>> model = LanguageModel(vocab_size=7, embedding_dim=4, hidden_size=5, num_layers=2)
        >>> fast = GenerationStep(model.eval())
        >>> tokens = torch.tensor([3])
        >>> with torch.inference_mode():
        ...     slow_logits, _ = model.step(tokens, None)
        ...     fast_logits, _ = fast(tokens, None)
        >>> torch.allclose(slow_logits, fast_logits, atol=1e-6)
        True
    """

    def __init__(self, model: LanguageModel, batch_size: int = 1) -> None:
        if not self.supports(model):
            raise ValueError(
                "Argument `model` must be a LanguageModel with a plain lstm, gru or rnn cell for "
                f"GenerationStep, got cell {model.config.cell!r}."
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"Argument `batch_size` must be a positive integer, got {batch_size!r}."
            )
        rnn = model.rnn
        self.cell = rnn.spec.name
        self.nonlinearity = rnn.nonlinearity
        B, D, H, L = batch_size, model.config.embedding_dim, rnn.hidden_size, rnn.num_layers
        self.batch_size, self.hidden_size, self.num_layers = B, H, L
        first = rnn.direction_parameters(0)["weight_ih"]
        kw: dict[str, Any] = {"dtype": first.dtype, "device": first.device}
        self.weights: list[torch.Tensor] = []  # [I + H, G*H] (GRU: [I, 3H])
        self.biases: list[torch.Tensor] = []  # [B, G*H]
        self.weights_hh: list[torch.Tensor] = []  # GRU only: [H, 3H]
        self.biases_hh: list[torch.Tensor] = []
        with torch.no_grad():
            self.embedding = model.embedding.weight.detach()
            # the adaptive softmax's head and tails are applied as they are (one call)
            self.adaptive = model.decoder if model.adaptive else None
            if not model.adaptive:
                self.decoder_weight = model.decoder.weight.detach().t().contiguous()
                self.decoder_bias = model.decoder.bias.detach().expand(B, -1).contiguous()
                self.logits = torch.zeros(B, self.decoder_weight.shape[1], **kw)
            for layer in range(L):
                p = {k: v.detach() for k, v in rnn.direction_parameters(layer).items()}
                G = p["weight_ih"].shape[0]
                b_ih = p.get("bias_ih", torch.zeros(G, **kw))
                b_hh = p.get("bias_hh", torch.zeros(G, **kw))
                if self.cell == "gru":
                    self.weights.append(p["weight_ih"].t().contiguous())
                    self.biases.append(b_ih.expand(B, G).contiguous())
                    self.weights_hh.append(p["weight_hh"].t().contiguous())
                    self.biases_hh.append(b_hh.expand(B, G).contiguous())
                    continue
                order = torch.arange(G, device=first.device)
                if self.cell == "lstm":  # i f g o -> i f o g
                    order = torch.cat([order[: 2 * H], order[3 * H :], order[2 * H : 3 * H]])
                weight = torch.cat([p["weight_ih"], p["weight_hh"]], dim=1)[order]
                self.weights.append(weight.t().contiguous())
                self.biases.append((b_ih + b_hh)[order].expand(B, G).contiguous())
        G = self.biases[0].shape[1]
        if self.cell == "gru":
            self.x = torch.zeros(B, D, **kw)
            self.h = torch.zeros(L, B, H, **kw)
            self.gx = torch.zeros(B, G, **kw)
            self.gh = torch.zeros(B, G, **kw)
            self.tmp = torch.zeros(B, H, **kw)
            self.state: tuple[torch.Tensor, ...] = (self.h,)
            return
        self.buffer = torch.zeros(B, D + L * H, **kw)
        self.x = self.buffer[:, :D]
        self.layer_inputs = [
            self.buffer[:, (0 if k == 0 else D + (k - 1) * H) : D + (k + 1) * H] for k in range(L)
        ]
        self.hs = [self.buffer[:, D + k * H : D + (k + 1) * H] for k in range(L)]
        self.gates = torch.zeros(B, G, **kw)
        h_all = self.buffer[:, D:].view(B, L, H).transpose(0, 1)  # [L, B, H], a view
        if self.cell == "lstm":
            self.c = torch.zeros(L, B, H, **kw)
            self.tmp = torch.zeros(B, H, **kw)
            self.state = (h_all, self.c)
        else:
            self.state = (h_all,)

    @staticmethod
    def supports(model: LanguageModel) -> bool:
        """Whether ``model``'s layer is one this class computes (plain LSTM, GRU, Elman)."""
        rnn = model.rnn
        return (
            rnn.spec.name in ("lstm", "gru", "rnn")
            and not rnn.bidirectional
            and not rnn.proj_size
            and rnn.bias
            and type(rnn) in (LSTM, GRU, RNN)
            and rnn.path == "fused"  # no option that changes the step (zoneout, layer norm)
        )

    def _load(self, state: State | None) -> None:
        if state is None:
            for mine in self.state:
                mine.zero_()
            return
        for mine, given in zip(self.state, state, strict=True):
            mine.copy_(given)

    def __call__(self, tokens: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """``tokens [B]`` → next-token logits ``[B, V]`` and the state (both buffers)."""
        if tokens.shape != (self.batch_size,):
            raise ValueError(
                f"Argument `tokens` must have shape ({self.batch_size},) for this "
                f"GenerationStep, got {tuple(tokens.shape)}."
            )
        if state is not self.state:
            self._load(state)
        if self.x.is_contiguous():  # batch 1 (or a GRU): straight into the buffer
            torch.index_select(self.embedding, 0, tokens, out=self.x)
        else:
            self.x.copy_(self.embedding.index_select(0, tokens))
        H = self.hidden_size
        if self.cell == "lstm":
            g, tmp = self.gates, self.tmp
            for k in range(self.num_layers):
                torch.addmm(self.biases[k], self.layer_inputs[k], self.weights[k], out=g)
                g[:, : 3 * H].sigmoid_()
                g[:, 3 * H :].tanh_()
                c = self.c[k]
                c.mul_(g[:, H : 2 * H]).addcmul_(g[:, :H], g[:, 3 * H :])
                torch.tanh(c, out=tmp)
                torch.mul(g[:, 2 * H : 3 * H], tmp, out=self.hs[k])
            top = self.hs[-1]
        elif self.cell == "rnn":
            g = self.gates
            for k in range(self.num_layers):
                torch.addmm(self.biases[k], self.layer_inputs[k], self.weights[k], out=g)
                if self.nonlinearity == "tanh":
                    torch.tanh(g, out=self.hs[k])
                else:
                    torch.clamp(g, min=0.0, out=self.hs[k])  # relu
            top = self.hs[-1]
        else:
            x, gx, gh, tmp = self.x, self.gx, self.gh, self.tmp
            for k in range(self.num_layers):
                h = self.h[k]
                torch.addmm(self.biases[k], x, self.weights[k], out=gx)
                torch.addmm(self.biases_hh[k], h, self.weights_hh[k], out=gh)
                rz = gx[:, : 2 * H].add_(gh[:, : 2 * H]).sigmoid_()
                n = gx[:, 2 * H :].addcmul_(rz[:, :H], gh[:, 2 * H :]).tanh_()
                torch.sub(h, n, out=tmp)  # h' = (1 - z) n + z h = n + z (h - n)
                h.copy_(n.addcmul_(rz[:, H:], tmp))
                x = h
            top = self.h[-1]
        if self.adaptive is not None:  # log-probabilities, a new tensor each step
            return self.adaptive.log_prob(top), self.state
        torch.addmm(self.decoder_bias, top, self.decoder_weight, out=self.logits)
        return self.logits, self.state
