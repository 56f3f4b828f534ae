"""Generation speed at batch 1: rnnkit against the plain per-character loop, in the same run.

Both sides generate ``--chars`` characters (default 2,000) by sampling from the same 3-layer
512-unit character LSTM language model (same weights, ``V = 65`` as tiny Shakespeare,
embedding 128, temperature 1):

  plain    the course-notebook loop: ``torch.nn.Embedding`` → ``torch.nn.LSTM`` (called once
           per character with the carried ``(h, c)``) → ``torch.nn.Linear`` → softmax →
           ``torch.multinomial``, under ``torch.no_grad()`` (no inference mode)
  rnnkit   :class:`rnnkit.models.LanguageModel` driven by :func:`rnnkit.decoding.generate`
           (the model's fastest generation step when it has one, else ``model.step``)
  numpy    the yardstick: the same weights as float32 NumPy arrays, one matrix-vector product
           per layer (``[x, h] @ [W_ih; W_hh]``) and the gate arithmetic in NumPy, the
           softmax and a draw from NumPy's generator -- no framework in the loop at all. At
           batch 1 the step reads every weight once (22 MB for this model), so this loop is
           close to what the machine's memory bandwidth allows; ``rnnkit / numpy`` says how
           near rnnkit comes to it

Warm-up first, then ``--repeats`` timed runs taking turns between the sides so that load on
the machine hits both alike; the table shows the median characters per second and the ratio.
Wall-clock and process CPU time are both recorded (with one thread they agree on a quiet
machine; on a busy one the CPU time is the steadier). As a check the sides are also run
greedily (temperature 0) and the share of the first 200 characters on which rnnkit agrees
with each is reported (same weights, so it should be 1.0 unless float rounding flips a
near-tie).

NumPy's BLAS takes its thread count from the environment when it loads (OpenBLAS: all cores
unless ``OPENBLAS_NUM_THREADS`` says otherwise); set it to ``--threads`` so that the yardstick
runs on as many threads as torch (the result records both).

Usage:
    OPENBLAS_NUM_THREADS=1 python bench/generate.py     # 2,000 characters, 5 repeats, 1 thread
    python bench/generate.py --quick                    # 300 characters, 2 repeats
    OPENBLAS_NUM_THREADS=2 python bench/generate.py --threads 2 --repeats 9

Writes bench/results/generate.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.decoding import generate
from rnnkit.models import LanguageModel

RESULTS = Path(__file__).resolve().parent / "results" / "generate.json"
VOCAB, EMBEDDING, HIDDEN, LAYERS = 65, 128, 512, 3


class PlainLoop:
    """The notebook way: torch.nn modules called once per character."""

    def __init__(self, model: LanguageModel) -> None:
        cfg = model.config
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim)
        self.lstm = nn.LSTM(cfg.embedding_dim, cfg.hidden_size, cfg.num_layers, batch_first=True)
        self.linear = nn.Linear(cfg.hidden_size, cfg.vocab_size)
        # the same weights as the rnnkit model (rnnkit.nn.LSTM's state_dict is torch's)
        self.embedding.load_state_dict(model.embedding.state_dict())
        self.lstm.load_state_dict(model.rnn.state_dict())
        self.linear.load_state_dict(model.decoder.state_dict())

    def sample(self, prime: int, length: int, temperature: float, seed: int) -> list[int]:
        generator = torch.Generator().manual_seed(seed)
        x = torch.tensor([[prime]])
        hidden = None
        out = []
        with torch.no_grad():
            for _ in range(length):
                output, hidden = self.lstm(self.embedding(x), hidden)
                logits = self.linear(output[:, -1])
                if temperature == 0:
                    x = logits.argmax(-1, keepdim=True)
                else:
                    probs = torch.softmax(logits / temperature, dim=-1)
                    x = torch.multinomial(probs, 1, generator=generator)
                out.append(int(x))
        return out


class NumpyLoop:
    """The yardstick: the model's weights in NumPy, one matrix-vector product per layer."""

    def __init__(self, model: LanguageModel) -> None:
        rnn = model.rnn
        self.embedding = model.embedding.weight.detach().numpy().copy()
        self.layers = []
        for k in range(rnn.num_layers):
            p = {n: v.detach().numpy() for n, v in rnn.direction_parameters(k).items()}
            weight = np.ascontiguousarray(np.concatenate([p["weight_ih"], p["weight_hh"]], 1).T)
            self.layers.append((weight, p["bias_ih"] + p["bias_hh"]))  # [I + H, 4H], [4H]
        self.decoder = np.ascontiguousarray(model.decoder.weight.detach().numpy().T)
        self.decoder_bias = model.decoder.bias.detach().numpy().copy()
        self.hidden = rnn.hidden_size

    def sample(self, prime: int, length: int, temperature: float, seed: int) -> list[int]:
        H = self.hidden
        rng = np.random.default_rng(seed)
        h = [np.zeros(H, np.float32) for _ in self.layers]
        c = [np.zeros(H, np.float32) for _ in self.layers]
        token, out = prime, []
        for _ in range(length):
            x = self.embedding[token]
            for k, (weight, bias) in enumerate(self.layers):
                gates = np.concatenate([x, h[k]]) @ weight + bias  # i f g o
                i, f, g, o = np.split(gates, 4)
                c[k] = c[k] / (1 + np.exp(-f)) + np.tanh(g) / (1 + np.exp(-i))
                h[k] = np.tanh(c[k]) / (1 + np.exp(-o))
                x = h[k]
            logits = x @ self.decoder + self.decoder_bias
            if temperature == 0:
                token = int(logits.argmax())
            else:
                z = logits / temperature
                p = np.exp(z - z.max())
                token = int(rng.choice(len(p), p=p / p.sum()))
            out.append(token)
        return out


def rnnkit_sample(
    model: LanguageModel, prime: int, length: int, temperature: float, seed: int
) -> list[int]:
    """rnnkit's generation: the model's fast step when it offers one, else ``model.step``."""
    fast = getattr(model, "generation_step", None)
    step = fast() if callable(fast) else model.step
    return generate(step, [prime], length, temperature=temperature, seed=seed)[0].tolist()


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def run(chars: int, repeats: int, warmup_chars: int) -> dict[str, Any]:
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, EMBEDDING, HIDDEN, LAYERS).eval()
    plain, yardstick = PlainLoop(model), NumpyLoop(model)
    sides: dict[str, Callable[[int, float, int], list[int]]] = {
        "plain": lambda n, temp, seed: plain.sample(0, n, temp, seed),
        "rnnkit": lambda n, temp, seed: rnnkit_sample(model, 0, n, temp, seed),
        "numpy": lambda n, temp, seed: yardstick.sample(0, n, temp, seed),
    }
    for fn in sides.values():
        fn(warmup_chars, 1.0, 0)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for r in range(repeats):
        for name, fn in sides.items():
            times[name].append(_timed(lambda fn=fn, r=r: fn(chars, 1.0, r)))
    check = min(200, chars)
    greedy = {name: fn(check, 0.0, 0) for name, fn in sides.items()}
    agree = sum(a == b for a, b in zip(greedy["plain"], greedy["rnnkit"], strict=True)) / check
    numpy_agree = sum(
        a == b for a, b in zip(greedy["numpy"], greedy["rnnkit"], strict=True)) / check
    result: dict[str, Any] = {"greedy_agreement_first_200": agree,
                              "numpy_greedy_agreement_first_200": numpy_agree}
    for name, pairs in times.items():
        result[f"{name}_chars_per_s_wall"] = chars / statistics.median(p[0] for p in pairs)
        result[f"{name}_chars_per_s_cpu"] = chars / statistics.median(p[1] for p in pairs)
    for clock in ("wall", "cpu"):
        result[f"ratio_{clock}"] = (
            result[f"rnnkit_chars_per_s_{clock}"] / result[f"plain_chars_per_s_{clock}"]
        )
        result[f"rnnkit_vs_numpy_{clock}"] = (
            result[f"rnnkit_chars_per_s_{clock}"] / result[f"numpy_chars_per_s_{clock}"]
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=2000, help="characters per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per side")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--quick", action="store_true", help="300 characters, 2 repeats")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.chars, args.repeats = 300, 2
    if args.chars < 1 or args.repeats < 1 or args.threads < 1:
        parser.error("--chars, --repeats and --threads must be positive integers.")
    torch.set_num_threads(args.threads)
    result = run(args.chars, args.repeats, warmup_chars=min(100, args.chars))
    report = {
        "benchmark": "batch-1 character generation, characters/s (median), rnnkit vs plain loop",
        "model": {"vocab": VOCAB, "embedding": EMBEDDING, "hidden": HIDDEN, "layers": LAYERS,
                  "cell": "lstm"},
        "chars": args.chars,
        "repeats": args.repeats,
        "threads": args.threads,
        "numpy_blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        **result,
    }
    print(f"{'':8} {'chars/s (wall)':>15} {'chars/s (cpu)':>15}")
    for name in ("plain", "rnnkit", "numpy"):
        print(
            f"{name:8} {result[f'{name}_chars_per_s_wall']:15.0f} "
            f"{result[f'{name}_chars_per_s_cpu']:15.0f}"
        )
    print(f"{'ratio':8} {result['ratio_wall']:15.2f} {result['ratio_cpu']:15.2f}")
    print(f"{'/ numpy':8} {result['rnnkit_vs_numpy_wall']:15.2f} "
          f"{result['rnnkit_vs_numpy_cpu']:15.2f}")
    agreement = result["greedy_agreement_first_200"]
    print(f"greedy agreement on the first 200 characters: {agreement:.3f}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/report.py
    from report import publish

    publish("generate", args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
