"""``rnnkit sample RUN``: continue a prompt with a language-model run, or translate it with a
seq2seq run.

Sampling draws each token from ``softmax(logits / temperature)``, optionally restricted to the
``--top-k`` most likely tokens or the ``--top-p`` nucleus; ``--temperature 0`` is greedy;
``--beam N`` runs beam search instead (deterministic, so it does not combine with the sampling
options). ``--seed`` makes a sample reproducible.

A prompt token the run's vocabulary does not hold is mapped to ``<unk>`` when the vocabulary
has one (a note on stderr names it); otherwise the command stops with one sentence naming the
token and its position. Character-level language models have no ``<unk>``.

A conditional language model (trained with ``--data.conditional true``) takes ``--category``:
its sequence starts at ``<sos>`` from the state the category sets (after ``--prime``, if
given) and ends at ``<eos>``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from rnnkit.tasks.lm import join_continuation

__all__ = ["add_arguments", "encode_prime", "join_continuation", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit sample`` options."""
    parser.add_argument("run", metavar="RUN", help="run directory of a lm or seq2seq run")
    parser.add_argument(
        "--prime",
        default=None,
        help="text to continue (lm; default: start of a line) or to translate (seq2seq)",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="softmax temperature; 0 = greedy (default: 1 for lm, 0 for seq2seq)",
    )
    parser.add_argument("--top-k", type=int, default=None, help="sample among the K most likely")
    parser.add_argument("--top-p", type=float, default=None, help="sample within the P nucleus")
    parser.add_argument("--beam", type=int, default=1, help="beam search with N beams (1 = off)")
    parser.add_argument(
        "--alpha", type=float, default=0.0, help="beam search length normalisation (0 = none)"
    )
    parser.add_argument(
        "--length",
        type=int,
        default=None,
        help="tokens to generate (default: 200 for lm; seq2seq: twice the source length + 10)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the sampler")
    parser.add_argument(
        "--category", default=None, help="the category that conditions a conditional lm run"
    )
    parser.add_argument("--last", action="store_true", help="use the last checkpoint, not best/")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _check(args: argparse.Namespace) -> None:
    if args.beam < 1:
        raise ValueError(f"Option `--beam` expects a positive integer, got {args.beam}.")
    if args.alpha < 0:
        raise ValueError(f"Option `--alpha` expects a number >= 0, got {args.alpha}.")
    if args.length is not None and args.length < 1:
        raise ValueError(f"Option `--length` expects a positive integer, got {args.length}.")
    if args.temperature is not None and args.temperature < 0:
        raise ValueError(f"Option `--temperature` expects a number >= 0, got {args.temperature}.")
    if args.top_k is not None and args.top_k < 1:
        raise ValueError(f"Option `--top-k` expects a positive integer, got {args.top_k}.")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise ValueError(f"Option `--top-p` expects a number in (0, 1], got {args.top_p}.")
    if args.beam > 1:
        given = [
            name
            for name, value in (
                ("--temperature", args.temperature),
                ("--top-k", args.top_k),
                ("--top-p", args.top_p),
            )
            if value is not None
        ]
        if given:
            raise ValueError(
                f"Option `--beam {args.beam}` searches deterministically and does not combine "
                f"with {', '.join(given)}; drop one of them."
            )


def encode_prime(vocab: Any, prime: str, *, warn: bool = True) -> list[int]:
    """Ids of a prompt; unknown tokens become ``<unk>`` (noted on stderr) or raise.

    Raises:
        ValueError: an empty prompt, or a token outside a vocabulary without ``<unk>`` (the
            message names the token and its position).
    """
    tokens = vocab.tokenize(prime)
    if not tokens:
        raise ValueError(
            "Option `--prime` is empty; give at least one "
            f"{'character' if vocab.level == 'char' else 'word'}."
        )
    unknown = [(i, tok) for i, tok in enumerate(tokens) if tok not in vocab]
    kind = "character" if vocab.level == "char" else "word"
    if unknown:
        position, token = unknown[0]
        if vocab.unk_id is None:
            raise ValueError(
                f"Option `--prime` holds the {kind} {token!r} at position {position}, which is "
                "not in the run's vocabulary (and the vocabulary has no <unk> token)."
            )
        if warn:
            listed = ", ".join(f"{tok!r} (position {i})" for i, tok in unknown)
            print(f"rnnkit sample: note: {kind}s not in the vocabulary, mapped to <unk>: {listed}.",
                  file=sys.stderr)
    return vocab.encode(tokens)


def _default_start(vocab: Any) -> list[int]:
    """Where a language model starts without a prompt: a line boundary if it knows one."""
    for token in ("<eos>", "\n"):
        if token in vocab:
            return [vocab.stoi[token]]
    return [0]


def _sample_lm(
    run: Any, args: argparse.Namespace, write: Callable[[str], object] | None = None
) -> dict[str, Any]:
    """Sample from a language model run. With ``write`` (sampling, not beam search), the
    prompt and then each token's text go to it as they are generated."""
    from rnnkit.tasks.lm import TextStream, render_tokens, sample_ids

    vocab, model = run.vocab, run.model
    prime = "" if args.prime is None else args.prime
    length = 200 if args.length is None else args.length
    state, eos_id = None, None
    if model.config.categories:
        if args.category is None:
            raise ValueError(
                "Option `--category NAME` is required: this language model was trained with the "
                f"categories {model.config.categories}."
            )
        state = model.initial_state(model.category_ids([args.category]))
        ids = [vocab.sos_id, *(encode_prime(vocab, prime) if prime else [])]
        eos_id = vocab.eos_id  # a conditional model ends its sequence
    else:
        if args.category is not None:
            raise ValueError(
                f"Option `--category` needs a language model trained with categories; "
                f"{args.run!r} has none."
            )
        ids = _default_start(vocab) if args.prime is None else encode_prime(vocab, prime)
    on_token: Callable[[int], None] | None = None
    if write is not None and args.beam == 1:
        stream = TextStream(vocab, prime, write)
        # a conditional model's <eos> ends the sample; it is not part of the text
        on_token = lambda token: None if token == eos_id else stream(token)  # noqa: E731

    out = sample_ids(
        model,
        ids,
        length,
        state=state,
        temperature=1.0 if args.temperature is None else args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        beam_size=args.beam,
        alpha=args.alpha,
        eos_id=eos_id,
        on_token=on_token,
    )
    text = render_tokens(vocab, out)
    return {"task": "lm", "category": args.category, "prime": prime, "text": text,
            "tokens": len(out), "streamed": on_token is not None}


def _sample_seq2seq(run: Any, args: argparse.Namespace) -> dict[str, Any]:
    from rnnkit.tasks.seq2seq import prepare_source, translate_lines, vocabs_from_run

    if args.prime is None:
        raise ValueError(
            "Option `--prime TEXT` is required for a seq2seq run: the text to translate."
        )
    source, target = vocabs_from_run(run)
    text = prepare_source(run, args.prime)
    encode_prime(source, text)  # refuses an empty prompt, notes unknown tokens
    (translation,) = translate_lines(
        run.model,
        source,
        target,
        [text],
        beam_size=args.beam,
        alpha=args.alpha,
        max_length=args.length or 0,
        temperature=0.0 if args.temperature is None else args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
    )
    return {"task": "seq2seq", "prime": args.prime, "translation": translation}


def run(args: argparse.Namespace) -> int:
    """Sample from (or translate with) the run in ``args.run`` and print the result."""
    from rnnkit.tasks import load_run

    _check(args)
    loaded = load_run(args.run, best=not args.last)
    if loaded.task == "lm":
        result = _sample_lm(loaded, args, write=None if args.json else _write_now)
        shown = join_continuation(loaded.vocab.level, result["prime"], result["text"])
        if result.pop("streamed"):
            shown = ""  # already printed, piece by piece
    elif loaded.task == "seq2seq":
        result = _sample_seq2seq(loaded, args)
        shown = result["translation"]
    else:
        raise ValueError(
            f"`rnnkit sample` works on lm and seq2seq runs; {args.run!r} was trained for "
            f"{loaded.task!r} (use `rnnkit predict`)."
        )
    result.update(
        beam=args.beam, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
        seed=args.seed,
    )
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(shown)
    return 0


def _write_now(text: str) -> None:
    """Write generated text to stdout at once, so a long sample shows as it grows."""
    sys.stdout.write(text)
    sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="rnnkit sample")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
