"""Exercise: generate person names letter by letter (Portuguese names).

The course's cell concatenates the one-hot letter with the hidden state, applies one linear
map and tanh, and reads the next letter through a linear layer and a log-softmax::

    h_t = tanh(W [x_t ; h_{t-1}] + b)          =  tanh(W_ih x_t + W_hh h_{t-1} + b)
    log p(next letter) = log_softmax(V h_t + c)

Splitting ``W`` into the columns that meet ``x_t`` and those that meet ``h_{t-1}`` shows
that this is exactly an Elman cell, so the recipe uses :class:`rnnkit.nn.RNN` (with
``learn_initial_state=True`` for the learned ``h_0``). The alphabet is every character of
the training names, accented letters included, plus an end-of-name marker ``<eos>`` that
each name is trained to end with. Hidden size 128, learning rate 0.0005 (Adam; the course
names no optimiser), negative log-likelihood, 1,000 epochs, one name per update.

Generation starts from a random first letter (one a training name starts with) and picks
each next letter among the top-1 (greedy), top-2 or top-3 most likely, in proportion to
their probabilities, until ``<eos>``; sampling from the whole softmax, at temperature 1 and
1.5, is shown too.
The course asks whether the model just memorises: the recipe counts how many generated
names are copies of training names, for the model as trained and for a regularised one
(dropout on the hidden state and weight decay), and for each way of choosing letters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.data.vocab import Vocabulary
from rnnkit.decoding import generate
from rnnkit.nn import RNN
from rnnkit.recipes.common import (
    RecipeContext,
    fmt,
    line_plot,
    one_thread,
    read_lines,
    resolve_data,
    table,
)

__all__ = ["EOS", "NameGenerator", "Settings", "run"]

EOS = "<eos>"
#: label -> (temperature, top_k) of each way of choosing the next letter
STRATEGIES: dict[str, tuple[float, int | None]] = {
    "top-1": (0.0, None),
    "top-2": (1.0, 2),
    "top-3": (1.0, 3),
    "sample": (1.0, None),
    "sample T=1.5": (1.5, None),
}


@dataclass
class Settings:
    """Settings of the names-generation recipe."""

    hidden_size: int = 128  # units of the Elman cell
    lr: float = 0.0005  # Adam learning rate
    epochs: int = 1000  # passes over the names
    batch_size: int = 1  # names per update (1: the course's loop, one name at a time)
    dropout: float = 0.5  # dropout on the hidden state of the regularised model
    weight_decay: float = 0.1  # decoupled weight decay (AdamW) of the regularised model
    samples: int = 30  # names generated per way of choosing letters
    max_length: int = 20  # the longest generated name

    @classmethod
    def reduced(cls) -> Settings:
        """A run of some seconds: batches of 8 names, 120 epochs at a higher rate."""
        return cls(epochs=120, batch_size=8, lr=0.005)

    @classmethod
    def full(cls) -> Settings:
        """The exercise's settings."""
        return cls()


class NameGenerator(nn.Module):
    """One-hot letter → Elman cell (learned ``h_0``) → dropout → linear → log-softmax.

    Args:
        vocab_size: ``V``, letters plus ``<eos>``.
        hidden_size: ``H``.
        dropout: dropout on the hidden state before the output layer (training only).

    Shape:
        ids ``[B, T]`` → log-probabilities ``[B, T, V]``.
    """

    def __init__(self, vocab_size: int, hidden_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = RNN(vocab_size, hidden_size, batch_first=True, learn_initial_state=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, vocab_size)

    def forward(
        self, ids: torch.Tensor, state: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities of the next letter at every step, and the last state."""
        x = nn.functional.one_hot(ids, self.vocab_size).float()
        h, state_n = self.rnn(x, state, lengths=lengths)
        return torch.log_softmax(self.out(self.drop(h)), dim=-1), state_n

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """One generation step: ``tokens [B]`` → next-letter log-probabilities ``[B, V]``."""
        logp, state = self(tokens[:, None], state)
        return logp[:, -1], state


def _read(ctx: RecipeContext) -> list[str]:
    path = resolve_data(ctx, "names", "Portuguese.txt")
    if Path(path).is_dir():
        raise ValueError(f"Argument `--data` must be a names file or a folder with "
                         f"Portuguese.txt, got the folder {str(path)!r}.")
    return sorted(set(read_lines(path)))


def _batches(
    names: list[str], vocab: Vocabulary, batch_size: int, rng: random.Random
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Shuffled batches ``(inputs [B, T], targets [B, T], lengths [B])``; targets end in
    ``<eos>`` and are ``-100`` (ignored) past each name's end."""
    order = names[:]
    rng.shuffle(order)
    out = []
    eos = vocab.stoi[EOS]
    for start in range(0, len(order), batch_size):
        chunk = [vocab.encode(n) for n in order[start : start + batch_size]]
        T = max(len(ids) for ids in chunk)
        inputs = torch.full((len(chunk), T), eos, dtype=torch.long)
        targets = torch.full((len(chunk), T), -100, dtype=torch.long)
        for b, ids in enumerate(chunk):
            inputs[b, : len(ids)] = torch.tensor(ids)
            targets[b, : len(ids)] = torch.tensor([*ids[1:], eos])
        out.append((inputs, targets, torch.tensor([len(ids) for ids in chunk])))
    return out


def _train(
    names: list[str], vocab: Vocabulary, settings: Settings, seed: int, regularised: bool
) -> tuple[NameGenerator, list[float]]:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = NameGenerator(len(vocab), settings.hidden_size,
                          settings.dropout if regularised else 0.0)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr,
                            weight_decay=settings.weight_decay if regularised else 0.0)
    losses = []
    model.train()
    for _ in range(settings.epochs):
        total, count = 0.0, 0
        for inputs, targets, lengths in _batches(names, vocab, settings.batch_size, rng):
            logp, _ = model(inputs, None, lengths)
            loss = nn.functional.nll_loss(logp.reshape(-1, logp.shape[-1]), targets.reshape(-1),
                                          ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n = int((targets != -100).sum())
            total += loss.item() * n
            count += n
        losses.append(total / count)
    model.eval()
    return model, losses


def _generate(
    model: NameGenerator, vocab: Vocabulary, firsts: list[str], settings: Settings,
    temperature: float, top_k: int | None, seed: int,
) -> list[str]:
    prime = torch.tensor([[vocab.stoi[c]] for c in firsts])
    ids = generate(model.step, prime, settings.max_length - 1, temperature=temperature,
                   top_k=top_k, eos_id=vocab.stoi[EOS], seed=seed)
    eos = vocab.stoi[EOS]
    out = []
    for first, row in zip(firsts, ids.tolist(), strict=True):
        letters = row[: row.index(eos)] if eos in row else row
        out.append(first + "".join(vocab.itos[i] for i in letters))
    return out


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Train the course's model and a regularised one; generate; count copies."""
    with one_thread():
        return _run(ctx, settings)


def _run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    names = _read(ctx)
    vocab = Vocabulary.build(names, level="char", specials=(EOS,))
    accented = sorted(c for c in vocab.itos[1:] if not c.isascii())
    ctx.say(f"{len(names)} distinct training names, alphabet of {len(vocab) - 1} characters "
            f"(accented: {' '.join(accented) or 'none'}) plus {EOS}.")
    ctx.say("The exercise's cell, tanh(W [x_t; h_{t-1}] + b), is an Elman cell: W [x; h] = "
            "W_ih x + W_hh h. Model: rnnkit.nn.RNN with a learned h_0, linear output, "
            "log-softmax, negative log-likelihood.")
    ctx.say(f"Training: hidden {settings.hidden_size}, Adam lr {settings.lr:g}, "
            f"{settings.epochs} epochs, {settings.batch_size} name(s) per update.")
    rng = random.Random(ctx.seed)
    starts = sorted({n[0] for n in names})
    firsts = [rng.choice(starts) for _ in range(settings.samples)]
    training = set(names)
    results: dict[str, Any] = {"train_size": len(names), "alphabet": vocab.itos[1:],
                               "first_letters": firsts}
    curves = {}
    for key, regularised, label in (
        ("course", False, "as in the course"),
        ("regularised", True, f"regularised: dropout {settings.dropout:g} on h_t, weight decay "
                              f"{settings.weight_decay:g}"),
    ):
        model, losses = _train(names, vocab, settings, ctx.seed, regularised)
        curves[f"{label} (last {fmt(losses[-1], 3)})"] = (list(range(1, len(losses) + 1)),
                                                          losses)
        ctx.say("")
        ctx.say(f"Model {label}: final training loss {fmt(losses[-1], 4)} nats per letter")
        rows, per = [], {}
        for strategy, (temperature, top_k) in STRATEGIES.items():
            generated = _generate(model, vocab, firsts, settings, temperature, top_k, ctx.seed)
            copies = sum(g in training for g in generated)
            per[strategy] = {"names": generated, "copies": copies, "distinct": len(set(generated)),
                             "copy_rate": copies / len(generated)}
            rows.append([strategy, f"{copies}/{len(generated)}", len(set(generated)),
                         ", ".join(generated[:6])])
        for line in table(["choice", "copies of training names", "distinct", "examples"], rows):
            ctx.say("  " + line)
        results[key] = {"final_loss": losses[-1], "losses": losses, "generation": per}
    course, reg = results["course"]["generation"], results["regularised"]["generation"]
    ctx.say("")
    total_c = sum(v["copies"] for v in course.values())
    total_r = sum(v["copies"] for v in reg.values())
    n_all = settings.samples * len(STRATEGIES)
    ctx.say(
        f"Memorisation: choosing the top-1 letter, {course['top-1']['copies']} of "
        f"{settings.samples} generated names are copies of training names "
        f"({reg['top-1']['copies']} with regularisation); top-3, {course['top-3']['copies']} "
        f"({reg['top-3']['copies']}); sampling at temperature 1.5, "
        f"{course['sample T=1.5']['copies']} ({reg['sample T=1.5']['copies']}). Over all ways "
        f"of choosing, {total_c} of {n_all} are copies as trained and {total_r} of {n_all} "
        "regularised. A model trained to a low loss on a few dozen names has mostly learned "
        "them by heart: greedy choice from a first letter replays one of them; "
        + ("regularisation and flatter sampling (more letters to choose from, a higher "
           "temperature) make new names more often, some of them implausible."
           if total_r < total_c else
           "in this run regularisation did not lower the count; flatter sampling (more letters "
           "to choose from, a higher temperature) is what makes new names.")
    )
    counts = "; ".join(
        f"{label} {course[strategy]['copies']} → {reg[strategy]['copies']}"
        for label, strategy in (("top-1", "top-1"), ("top-3", "top-3"),
                                ("sampling at T = 1.5", "sample T=1.5")))
    line_plot(ctx, "loss.png", curves,
              title="Names generation: training loss (negative log-likelihood per letter)",
              xlabel="epoch", ylabel="NLL (nats per letter)",
              note=(f"Copies of training names among {settings.samples} generated, as trained → "
                    f"regularised: {counts}. The lower training loss goes with more "
                    "copying."))
    return results
