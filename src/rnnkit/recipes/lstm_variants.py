"""Benchmark: which recurrent cell learns to add? The LSTM ablations, GRU and MUT1-3 on Arith.

The task (:mod:`rnnkit.data.arith`; Jozefowicz et al. 2015): two integers of up to 8 digits
written ``"12345+678="``, the model writes the digits of the sum and an end mark. Fixed,
disjoint train / validation / test sets from one seeded generator.

The model is one recurrent layer that reads the whole line left to right and predicts each
next character (embedding ``H`` -> cell ``H`` -> linear -> softmax); the loss is taken on the
answer's characters only. One network per cell, not an encoder and a decoder, so that the
comparison is of the cell alone, with nothing handed from one network to another. The sum is
written most significant digit first, as in the problem. Writing it reversed (``reverse=True``,
least significant digit first, the order in which carries arise) is the known trick; in short
calibration runs (LSTM, 64 and 128 units, 1500-4000 steps) it did worse here: its first digit
needs the last digits of both operands, the first of which lies in the middle of the line, and
stayed at chance (10%), where the most significant digit first was right 79% of the time.
Whichever is chosen applies to every cell alike.

Metric: test *sequence* accuracy, the fraction of test problems whose every answer character
(digits and end mark) is right. It is computed in one teacher-forced pass: greedy decoding
writes the true answer exactly when every teacher-forced argmax is right (up to its first
mistake, greedy decoding sees the same inputs as teacher forcing; at that mistake both fail),
so the two accuracies are equal (:func:`greedy_answers` decodes for real; a test checks it).
Beside it the table gives the fraction of answer characters right (teacher forced) and the
cross-entropy per answer character, which still rank the cells where few whole sums come out
right.

The budget: 10,000 steps of 64 problems per run (2 to 3 minutes on one core, 5.5 for FGR;
two runs at a time). Calibration with the LSTM (one seed): 4,000 steps gave 4% test sequence
accuracy, 12,000 steps 11% (the GRU 6%), the validation accuracy still rising; a learning
rate of 0.01 instead of 0.003 gave 1% at 4,000 steps; both operands zero-padded to 8 digits
(aligned) gave no gain at 4,000 steps (2%; all digits least significant first 0.5%). The sum
of two 8-digit numbers needs all 16 digits held in the state before the first answer digit:
one layer of 128 units learns that slowly, and how slowly is what the table compares.

Every cell gets the same hidden size, embedding, optimiser, schedule, batch and number of
steps, and is trained from ``seeds`` different seeds; the table reports the mean and the
standard deviation of the test sequence accuracy per cell. Target (issue 8): the table over
every cell of :data:`CELLS`, at least 3 seeds each. Beside it the run reports what the table
says of Jozefowicz et al.'s finding -- that a forget-gate bias of 1 closes the gap between the
LSTM and the GRU (:func:`forget_bias_finding`) -- as a finding, not as a target: the first
full run (3 seeds) put the LSTM at 9.4% and the GRU at 4.6%, so there was no gap to close, and
the bias changed the LSTM by -0.3 points, well inside one seed's spread (1.1 points).

Each finished (cell, seed) run leaves ``RUN/lstm-variants/CELL-seedN/result.json`` beside its
``metrics.csv``. ``--set resume=RUN`` starts a new run that takes every finished run of
``RUN`` trained with the same settings and trains only the others: an interrupted benchmark
goes on where it stopped, and a table of 3 seeds grows to 5 by training 2 more per cell. A run
is deterministic given its seed, so a reused run is the run that would have been trained.

Example:
    >>> [c for c in CELLS][:4]
    ['tanh-rnn', 'lstm', 'lstm-fb1', 'lstm-nfg']
    >>> sequence_accuracy(torch.tensor([[[0., 1.], [1., 0.]]]), torch.tensor([[-100, 0]]))
    1.0
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import rnnkit.nn as rnn
from rnnkit.data.arith import (
    ALPHABET,
    END,
    IGNORE_INDEX,
    PAD,
    decode,
    encode_problems,
    make_splits,
)
from rnnkit.recipes.common import RecipeContext, fmt, table
from rnnkit.train.metrics import MetricsLog

__all__ = [
    "CELLS",
    "ArithModel",
    "Settings",
    "build_layer",
    "greedy_answers",
    "run",
    "sequence_accuracy",
    "train_cell",
]

#: Every cell of the table: name -> label. The names are what ``Settings.cells`` takes.
CELLS: dict[str, str] = {
    "tanh-rnn": "tanh RNN",
    "lstm": "LSTM",
    "lstm-fb1": "LSTM, forget bias 1",
    "lstm-nfg": "LSTM, no forget gate (NFG)",
    "gru": "GRU",
    "mut1": "MUT1",
    "mut2": "MUT2",
    "mut3": "MUT3",
    "lstm-nig": "LSTM, no input gate (NIG)",
    "lstm-nog": "LSTM, no output gate (NOG)",
    "lstm-niaf": "LSTM, no input activation (NIAF)",
    "lstm-noaf": "LSTM, no output activation (NOAF)",
    "lstm-cifg": "LSTM, coupled input-forget gate (CIFG)",
    "lstm-fgr": "LSTM, full gate recurrence (FGR)",
}
_VOCAB = len(ALPHABET) + 1  # the characters and the padding


@dataclass(frozen=True)
class Settings:
    """Sizes of the run: the same model size and training budget for every cell."""

    cells: tuple[str, ...] = tuple(CELLS)  # the cells of the table (names of CELLS)
    seeds: int = 3  # training runs per cell (seeds ctx.seed, ctx.seed + 1, ...)
    hidden: int = 128  # H: units of the recurrent layer (and the embedding size)
    steps: int = 10_000  # Adam steps, the same for every cell
    batch: int = 64  # problems per step
    lr: float = 3e-3  # Adam's peak learning rate (cosine decay to lr / 10)
    clip_norm: float = 1.0  # gradient clipping by global norm
    max_digits: int = 8  # the most digits of an operand
    reverse: bool = False  # write the sum least significant digit first (every cell alike)
    train_size: int = 200_000  # fixed training problems
    valid_size: int = 1000  # validation problems (the accuracy curve)
    test_size: int = 4000  # test problems (the table)
    eval_every: int = 1000  # steps between validation accuracies
    workers: int = 2  # runs at a time, each in its own process on one thread (1 = in-process)
    data_seed: int = 1234  # seed of the train / validation / test problems
    resume: str = ""  # an earlier run (its RUN directory) whose finished runs are reused

    @classmethod
    def reduced(cls) -> Settings:
        """Two cells, one seed, a few steps: seconds."""
        return cls(cells=("lstm", "lstm-fb1"), seeds=1, hidden=16, steps=30, batch=32,
                   train_size=1000, valid_size=100, test_size=200, eval_every=15, workers=1)

    @classmethod
    def full(cls) -> Settings:
        """The benchmark: 14 cells × 3 seeds, about 52 minutes on 2 cores."""
        return cls()


def build_layer(cell: str, hidden: int) -> nn.Module:
    """The recurrent layer of a cell of :data:`CELLS`, ``H`` inputs and units, batch first.

    Raises:
        ValueError: ``cell`` is not a name of :data:`CELLS`.

    >>> build_layer("lstm-cifg", 4)
    LSTM(4, 4, batch_first=True, variant='cifg', path=loop)
    """
    if cell not in CELLS:
        raise ValueError(f"Argument `cell` must be one of {list(CELLS)}, got {cell!r}.")
    if cell == "tanh-rnn":
        return rnn.RNN(hidden, hidden, batch_first=True)
    if cell == "gru":
        return rnn.GRU(hidden, hidden, batch_first=True)
    if cell.startswith("mut"):
        return rnn.MUT(hidden, hidden, kind=int(cell[-1]), batch_first=True)
    if cell == "lstm-fb1":
        return rnn.LSTM(hidden, hidden, batch_first=True, forget_bias=1.0)
    variant = "vanilla" if cell == "lstm" else cell.removeprefix("lstm-")
    return rnn.LSTM(hidden, hidden, batch_first=True, variant=variant)


class ArithModel(nn.Module):
    """Embedding ``H`` -> one recurrent layer ``H`` -> linear read-out over the characters.

    Args:
        cell: a name of :data:`CELLS`.
        hidden: ``H``.

    Shape:
        ``inputs [B, T]`` token ids -> ``logits [B, T, V]``.
    """

    def __init__(self, cell: str, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(_VOCAB, hidden, padding_idx=PAD)
        self.rnn = build_layer(cell, hidden)
        self.out = nn.Linear(hidden, _VOCAB)

    def forward(
        self, inputs: torch.Tensor, state: Any = None
    ) -> tuple[torch.Tensor, Any]:
        """Logits of the next character at every step, and the layer's final state."""
        h, state = self.rnn(self.embedding(inputs), state)
        return self.out(h), state


def sequence_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of sequences whose every target (not :data:`IGNORE_INDEX`) is the argmax.

    Shape:
        ``logits [B, T, V]``, ``targets [B, T]``.
    """
    right = (logits.argmax(-1) == targets) | (targets == IGNORE_INDEX)
    return float(right.all(dim=1).float().mean())


def _evaluate(
    model: ArithModel, inputs: torch.Tensor, targets: torch.Tensor, chunk: int = 1000
) -> tuple[float, np.ndarray, float]:
    """Mean loss, per-problem correctness and the fraction of answer characters right
    (teacher forced) over a whole split."""
    losses, correct, chars_right = [], [], 0
    with torch.no_grad():
        for k in range(0, len(inputs), chunk):
            logits, _ = model(inputs[k : k + chunk])
            t = targets[k : k + chunk]
            losses.append(nn.functional.cross_entropy(
                logits.transpose(1, 2), t, ignore_index=IGNORE_INDEX, reduction="sum"))
            hit = logits.argmax(-1) == t
            chars_right += int(hit.sum())  # ignored positions (-100) never equal an argmax
            correct.append((hit | (t == IGNORE_INDEX)).all(dim=1).numpy())
    n_targets = int((targets != IGNORE_INDEX).sum())
    return float(sum(losses)) / n_targets, np.concatenate(correct), chars_right / n_targets


def greedy_answers(model: ArithModel, problems: Sequence[tuple[int, int]]) -> list[str]:
    """Decode each answer greedily from the prompt ``"a+b="``, feeding back each character.

    The state is carried from step to step (the prompt is never re-read); decoding stops at
    the end mark or after ``len(str(a + b)) + 2`` characters.

    Returns:
        The answers as written by the model (digits, without the end mark).
    """
    out = []
    with torch.no_grad():
        for a, b in problems:
            prompt, _ = encode_problems([(a, b)])
            k = decode(prompt[0].tolist()).index("=") + 1
            logits, state = model(prompt[:, :k])
            written = ""
            for _ in range(len(str(a + b)) + 2):
                token = int(logits[0, -1].argmax())
                char = decode([token]) if token != PAD else ""
                if char == END or char == "":
                    break
                written += char
                logits, state = model(torch.tensor([[token]]), state)
            out.append(written)
    return out


def _schedule(step: int, settings: Settings) -> float:
    # Cosine from lr to lr / 10 over the run.
    progress = step / max(settings.steps, 1)
    return settings.lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * progress)))


def train_cell(
    cell: str,
    seed: int,
    settings: Settings,
    data: dict[str, tuple[torch.Tensor, torch.Tensor]],
    run_dir: Path | None = None,
) -> dict[str, Any]:
    """Train one cell from one seed on the fixed training set; score it on the test set.

    Args:
        cell: a name of :data:`CELLS`.
        seed: seeds the initial weights and the order of the training problems.
        settings: sizes and budget.
        data: ``split -> (inputs, targets)`` for ``train``, ``valid`` and ``test``.
        run_dir: where ``metrics.csv`` goes (``None``: nowhere).

    Returns:
        ``cell``, ``seed``, ``test_accuracy``, ``test_loss``, ``test_char_accuracy`` (answer
        characters right, teacher forced), ``test_correct`` (per problem),
        ``curve`` (``[step, validation accuracy]``), ``parameters``, ``seconds``.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ArithModel(cell, settings.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    train_x, train_y = data["train"]
    # Answers end at different places: trim each batch to its longest sequence.
    last = (train_y != IGNORE_INDEX).long().cumsum(1).argmax(1) + 1
    log = MetricsLog(run_dir / "metrics.csv") if run_dir is not None else None
    curve: list[list[float]] = []
    start = time.perf_counter()
    running = 0.0
    for step in range(1, settings.steps + 1):
        rows = torch.from_numpy(rng.integers(0, len(train_x), settings.batch))
        T = int(last[rows].max())
        logits, _ = model(train_x[rows, :T])
        loss = nn.functional.cross_entropy(
            logits.transpose(1, 2), train_y[rows, :T], ignore_index=IGNORE_INDEX)
        opt.zero_grad()
        loss.backward()
        grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), settings.clip_norm))
        for group in opt.param_groups:
            group["lr"] = _schedule(step - 1, settings)
        opt.step()
        running += loss.item()
        if step % settings.eval_every == 0 or step == settings.steps:
            model.eval()
            valid_loss, valid_right, _ = _evaluate(model, *data["valid"])
            model.train()
            curve.append([step, float(valid_right.mean())])
            if log is not None:
                n = step - (curve[-2][0] if len(curve) > 1 else 0)
                log.write({"step": step, "epoch": step * settings.batch / len(train_x),
                           "split": "train", "loss": running / n,
                           "lr": _schedule(step - 1, settings), "grad_norm": grad_norm,
                           "elapsed": time.perf_counter() - start})
                log.write({"step": step, "epoch": step * settings.batch / len(train_x),
                           "split": "val", "loss": valid_loss,
                           "sequence_accuracy": float(valid_right.mean()),
                           "elapsed": time.perf_counter() - start})
            running = 0.0
    seconds = time.perf_counter() - start
    if log is not None:
        log.close()
    model.eval()
    test_loss, test_right, test_chars = _evaluate(model, *data["test"])
    return {"cell": cell, "seed": seed, "test_accuracy": float(test_right.mean()),
            "test_loss": test_loss, "test_char_accuracy": test_chars,
            "test_correct": test_right.tolist(), "curve": curve,
            "parameters": sum(p.numel() for p in model.parameters()), "seconds": seconds,
            "model": model}


#: Settings that do not change what one (cell, seed) run computes: a resumed run may differ
#: from the one it reuses in these, and in nothing else.
_TABLE_ONLY = ("cells", "seeds", "workers", "resume")
RESULT_FILE = "result.json"
#: What :func:`_report` reads from each run's result.
_RESULT_KEYS = ("cell", "seed", "test_accuracy", "test_loss", "test_char_accuracy",
                "test_correct", "curve", "parameters", "seconds")


def _run_settings(settings: Settings) -> dict[str, Any]:
    """The settings one (cell, seed) run depends on, as stored in its ``result.json``."""
    return {k: v for k, v in dataclasses.asdict(settings).items() if k not in _TABLE_ONLY}


def _save_result(folder: Path, result: dict[str, Any], settings: Settings) -> None:
    """Write one finished run's ``result.json`` (beside, then renamed: never half a file)."""
    record = {k: v for k, v in result.items() if k != "model"}
    record["settings"] = _run_settings(settings)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (RESULT_FILE + ".partial")
    partial.write_text(json.dumps(record) + "\n", encoding="utf-8")
    os.replace(partial, folder / RESULT_FILE)


def _finished_runs(
    settings: Settings, jobs: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], tuple[Path, dict[str, Any]]]:
    """The runs of ``settings.resume`` that this run reuses: ``(cell, seed) -> (folder,
    result)``, each checked against these settings before anything is trained.

    Raises:
        FileNotFoundError: ``resume`` is not a run of this recipe.
        ValueError: a finished run there was trained with other settings, or its
            ``result.json`` is not one this recipe wrote.
    """
    if not settings.resume:
        return {}
    source = Path(settings.resume).expanduser() / "lstm-variants"
    if not source.is_dir():
        raise FileNotFoundError(
            f"Setting `resume` = {settings.resume!r} is not an lstm-variants run (it has no "
            "lstm-variants/ folder)."
        )
    mine = _run_settings(settings)
    found = {}
    for cell, seed in jobs:
        folder = source / f"{cell}-seed{seed}"
        if not (folder / RESULT_FILE).is_file():
            continue
        try:
            result = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
            theirs = result["settings"]
            complete = (all(k in result for k in _RESULT_KEYS) and result["cell"] == cell
                        and result["seed"] == seed and isinstance(theirs, dict))
        except (ValueError, KeyError, TypeError):
            complete = False
        if not complete:
            raise ValueError(f"Setting `resume`: {folder / RESULT_FILE} is not a result this "
                             "recipe wrote (unreadable or incomplete).")
        changed = [k for k in mine if theirs.get(k) != mine[k]]
        if changed:
            raise ValueError(
                f"Setting `resume` = {settings.resume!r}: its run {cell}-seed{seed} was "
                "trained with " + ", ".join(f"{k}={theirs.get(k)!r}" for k in changed)
                + "; these settings have " + ", ".join(f"{k}={mine[k]!r}" for k in changed)
                + "."
            )
        found[(cell, seed)] = (folder, result)
    return found


def _train_in_worker(
    cell: str, seed: int, settings: Settings,
    data: dict[str, tuple[torch.Tensor, torch.Tensor]], run_dir: Path,
) -> dict[str, Any]:
    torch.set_num_threads(1)
    result = train_cell(cell, seed, settings, data, run_dir)
    result.pop("model")  # a module does not travel back from the process
    _save_result(run_dir, result, settings)
    return result


def _check_settings(settings: Settings) -> None:
    unknown = [c for c in settings.cells if c not in CELLS]
    if unknown or not settings.cells:
        raise ValueError(
            f"Argument `cells` must be a non-empty list of {list(CELLS)}, got "
            f"{list(settings.cells)}."
        )
    for name in ("seeds", "hidden", "steps", "batch", "workers", "eval_every"):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Argument `{name}` must be a positive integer, got {value!r}.")


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Train every cell from every seed, print and plot the table, check the target."""
    _check_settings(settings)
    jobs = [(cell, ctx.seed + k) for cell in settings.cells for k in range(settings.seeds)]
    reused = _finished_runs(settings, jobs)  # checked before anything is made or trained
    start = time.perf_counter()
    splits = make_splits(settings.train_size, settings.valid_size, settings.test_size,
                         settings.max_digits, seed=settings.data_seed)
    data = {name: encode_problems(getattr(splits, name), settings.reverse)
            for name in ("train", "valid", "test")}
    example = "12345+678=" + ("32031" if settings.reverse else "13023")
    ctx.say(f"Arith: sums of two integers of up to {settings.max_digits} digits "
            f"({settings.train_size:,} train / {settings.valid_size:,} validation / "
            f"{settings.test_size:,} test problems, disjoint), e.g. {example}"
            + (" (the sum written least significant digit first)." if settings.reverse
               else "."))
    ctx.say(f"Every cell: embedding {settings.hidden} -> 1 layer of {settings.hidden} units -> "
            f"softmax; {settings.steps} Adam steps of {settings.batch} problems, lr "
            f"{settings.lr:g} cosine to {settings.lr / 10:g}, clip {settings.clip_norm:g}; "
            f"{settings.seeds} seed(s); {settings.workers} run(s) at a time.")
    folder = ctx.path("lstm-variants")
    runs: list[dict[str, Any]] = []
    if reused:
        ctx.say(f"reused from {settings.resume}: {len(reused)} of {len(jobs)} runs, trained "
                "with these settings; the others are trained now.")
    for (cell, seed), (source, result) in reused.items():
        target = folder / f"{cell}-seed{seed}"
        if source.resolve() != target.resolve():  # its files join this run's
            shutil.copytree(source, target, dirs_exist_ok=True)
        runs.append({k: result[k] for k in _RESULT_KEYS})
        ctx.say(f"  {CELLS[cell]:40s} seed {seed}: test sequence accuracy "
                f"{fmt(result['test_accuracy'], 4)} (reused)")
    jobs = [job for job in jobs if job not in reused]
    model_shown: tuple[str, int, ArithModel] | None = None
    if settings.workers == 1:
        for cell, seed in jobs:
            result = train_cell(cell, seed, settings, data, folder / f"{cell}-seed{seed}")
            model = result.pop("model")
            _save_result(folder / f"{cell}-seed{seed}", result, settings)
            model_shown = (cell, seed, model) if model_shown is None else model_shown
            runs.append(result)
            ctx.say(f"  {CELLS[cell]:40s} seed {seed}: test sequence accuracy "
                    f"{fmt(result['test_accuracy'], 4)} ({result['seconds']:.0f} s)")
    else:
        # spawn: a forked child would inherit the parent's torch thread pool state.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(settings.workers, mp_context=context) as pool:
            futures = [pool.submit(_train_in_worker, cell, seed, settings, data,
                                   folder / f"{cell}-seed{seed}") for cell, seed in jobs]
            for future in concurrent.futures.as_completed(futures):
                result = future.result()
                runs.append(result)
                ctx.say(f"  {CELLS[result['cell']]:40s} seed {result['seed']}: test sequence "
                        f"accuracy {fmt(result['test_accuracy'], 4)} "
                        f"({result['seconds']:.0f} s)")
    return _report(ctx, settings, splits, runs, model_shown, start)


MIN_SEEDS = 3  # issue 8: "a table over these cells with 3 seeds each"


def table_complete(rows: Sequence[dict[str, Any]]) -> bool:
    """Issue 8's target: every cell of :data:`CELLS` in ``rows``, each from at least
    :data:`MIN_SEEDS` seeds (a row's ``seeds``).

    >>> table_complete([{"cell": c, "seeds": [0, 1, 2]} for c in CELLS])
    True
    >>> table_complete([{"cell": "lstm", "seeds": [0, 1, 2]}])
    False
    """
    seeds = {r["cell"]: len(r["seeds"]) for r in rows}
    return all(seeds.get(cell, 0) >= MIN_SEEDS for cell in CELLS)


def forget_bias_finding(by_cell: dict[str, dict[str, Any]]) -> str:
    """What the table says of the forget-gate bias: the LSTM with bias 1 against without,
    the difference in points against the seeds' spread, and where the GRU stands.

    Args:
        by_cell: rows by cell name, each with ``mean`` and ``std`` (fractions).

    Returns:
        One or two sentences; ``""`` without both LSTM rows.

    >>> rows = {"lstm": {"mean": 0.094, "std": 0.011}, "lstm-fb1": {"mean": 0.091, "std": 0.005},
    ...         "gru": {"mean": 0.046, "std": 0.001}}
    >>> text = forget_bias_finding(rows)
    >>> text.split(" (")[0], text.split("): ")[1].split(".")[0]
    ('Forget bias 1: 9.1% against 9.4% without', "within the seeds' spread")
    >>> text.split(". ")[-1]
    'The GRU (4.6%) is behind the LSTM, so there is no LSTM-GRU gap for the bias to close here.'
    """
    if "lstm" not in by_cell or "lstm-fb1" not in by_cell:
        return ""
    plain, biased = by_cell["lstm"], by_cell["lstm-fb1"]
    diff = 100 * (biased["mean"] - plain["mean"])
    spread = 100 * max(plain["std"], biased["std"])
    verdict = ("within the seeds' spread" if abs(diff) <= spread else
               "a gain beyond the seeds' spread" if diff > 0 else
               "a loss beyond the seeds' spread")
    text = (f"Forget bias 1: {100 * biased['mean']:.1f}% against {100 * plain['mean']:.1f}% "
            f"without ({diff:+.1f} points; the seeds' standard deviations "
            f"{100 * biased['std']:.1f} and {100 * plain['std']:.1f} points): {verdict}.")
    if "gru" in by_cell:
        gru = by_cell["gru"]["mean"]
        where = ("behind the LSTM, so there is no LSTM-GRU gap for the bias to close here"
                 if gru <= plain["mean"] else "ahead of the LSTM")
        text += f" The GRU ({100 * gru:.1f}%) is {where}."
    return text


def _report(
    ctx: RecipeContext, settings: Settings, splits: Any, runs: list[dict[str, Any]],
    model_shown: tuple[str, int, ArithModel] | None, start: float,
) -> dict[str, Any]:
    digits = np.array([max(len(str(a)), len(str(b))) for a, b in splits.test])
    rows: list[dict[str, Any]] = []
    for cell in settings.cells:
        mine = sorted((r for r in runs if r["cell"] == cell), key=lambda r: r["seed"])
        accs = np.array([r["test_accuracy"] for r in mine])
        correct = np.array([r["test_correct"] for r in mine], dtype=float)
        rows.append({
            "cell": cell, "label": CELLS[cell], "mean": float(accs.mean()),
            "std": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0,
            "seeds": [r["seed"] for r in mine], "accuracies": accs.tolist(),
            "parameters": mine[0]["parameters"],
            # the mean cross-entropy per answer character: it still ranks the cells where
            # few whole sums come out right
            "test_loss": float(np.mean([r["test_loss"] for r in mine])),
            "char_accuracy": float(np.mean([r["test_char_accuracy"] for r in mine])),
            "seconds": float(np.mean([r["seconds"] for r in mine])),
            "by_digits": [float(correct[:, digits == d].mean()) if (digits == d).any() else None
                          for d in range(1, settings.max_digits + 1)],
        })
    ctx.say("")
    for line in table(
        ["cell", "test seq. accuracy", "std", "char accuracy", "test loss/char", "seeds",
         "parameters", "s per run"],
        [[r["label"], fmt(r["mean"], 4), fmt(r["std"], 4), fmt(r["char_accuracy"], 4),
          fmt(r["test_loss"], 4),
          len(r["seeds"]), f"{r['parameters']:,}", f"{r['seconds']:.0f}"] for r in rows]):
        ctx.say("  " + line)
    best = max(rows, key=lambda r: r["mean"])
    met = table_complete(rows)
    ctx.say(f"The table {'covers' if met else 'does not cover'} all {len(CELLS)} cells with at "
            f"least {MIN_SEEDS} seeds each (issue 8's target).")
    finding = forget_bias_finding({r["cell"]: r for r in rows})
    if finding:
        ctx.say(finding)
    if model_shown is not None:
        shown = splits.test[:4]
        cell, seed, model = model_shown
        answers = greedy_answers(model, shown)
        ctx.say(f"greedy answers of the first model trained ({CELLS[cell]}, seed {seed}), as "
                "it writes them:")
        for (a, b), written in zip(shown, answers, strict=True):
            truth = str(a + b)[::-1] if settings.reverse else str(a + b)
            ctx.say(f"  {a}+{b}= {written!r} (right: {truth!r})")
    _plot(ctx, rows, settings)
    wall = time.perf_counter() - start
    table_rows = [{k: r[k] for k in ("cell", "label", "mean", "std", "char_accuracy",
                                     "test_loss", "parameters", "seconds")}
                  | {f"seed_{k}": acc for k, acc in enumerate(r["accuracies"])}
                  for r in rows]
    return {
        "table": rows,
        "best_cell": best["cell"],
        "benchmark": {
            "metric": f"test sequence accuracy of the best cell, {best['label']} "
                      f"(mean of {settings.seeds} seeds)",
            "value": best["mean"],
            "higher_is_better": True,
            "target": MIN_SEEDS,
            "target_text": f"a table over the {len(CELLS)} cells (tanh RNN, LSTM, forget bias "
                           "1, GRU, MUT1-3, the Greff ablations), at least "
                           f"{MIN_SEEDS} seeds each",
            "met": bool(met),
            "finding": finding,
            "published": "Jozefowicz et al. 2015, Arith: forget bias 1 closes the LSTM–GRU "
                         "gap; no forget gate and tanh RNN far behind; MUT1-3 ≈ GRU",
            "setting": (f"{len(settings.cells)} cells × {settings.seeds} seeds, 1 layer of "
                        f"{settings.hidden}, {settings.steps} Adam steps × {settings.batch}, "
                        f"up to {settings.max_digits} digits, "
                        f"{settings.train_size:,}/{settings.valid_size:,}/"
                        f"{settings.test_size:,} problems"
                        + (", sum reversed" if settings.reverse else "")),
            "wall_seconds": wall,
            "table": table_rows,
        },
    }


def _plot(ctx: RecipeContext, rows: list[dict[str, Any]], settings: Settings) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.8 + 0.12 * len(rows)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2, 1)
    y = np.arange(len(rows))[::-1]
    ax.barh(y, [r["mean"] for r in rows], xerr=[r["std"] for r in rows], color="#9ecae1",
            edgecolor="#3182bd", capsize=3, label="mean ± std over seeds")
    for yk, r in zip(y, rows, strict=True):
        ax.plot(r["accuracies"], [yk] * len(r["accuracies"]), "k.", markersize=5)
    ax.plot([], [], "k.", label="one seed")
    ax.set_yticks(y, [r["label"] for r in rows], fontsize=8)
    top = max(max(r["accuracies"]) for r in rows)
    ax.set_xlim(0, min(1.0, max(0.05, 1.2 * top)))  # low accuracies stay readable
    ax.set_xlabel("test sequence accuracy")
    ax.set_title("Arith: every digit of the sum right", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    heat = fig.add_subplot(1, 2, 2)
    grid = np.array([[np.nan if v is None else v for v in r["by_digits"]] for r in rows])
    image = heat.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    heat.set_yticks(range(len(rows)), [r["label"] for r in rows], fontsize=8)
    heat.set_xticks(range(settings.max_digits), range(1, settings.max_digits + 1))
    heat.set_xlabel("digits of the longer operand")
    heat.set_title("mean accuracy by problem length", fontsize=10)
    fig.colorbar(image, ax=heat, fraction=0.04)
    fig.tight_layout()
    ctx.save_figure(fig, "accuracy.png")
