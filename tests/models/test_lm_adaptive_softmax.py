"""LanguageModel with an adaptive softmax: the equation by hand, the cheap training loss equal
to the full log-probabilities' loss (value and gradients), generation, checkpoints, refusals."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from rnnkit.cli import main
from rnnkit.decoding import beam_search, generate
from rnnkit.models.language_model import GenerationStep, LanguageModel
from rnnkit.train.trainer import training_precision

V, CUTOFFS = 40, [6, 20]


def model_and_batch(cell: str = "lstm", seed: int = 0, **options):
    torch.manual_seed(seed)
    model = LanguageModel(V, 8, 32, num_layers=2, cell=cell, pad_id=0,
                          adaptive_cutoffs=CUTOFFS, **options)
    inputs = torch.randint(1, V, (3, 9))
    targets = torch.randint(1, V, (3, 9))
    targets[0, 7:] = 0  # padding, not counted
    lengths = torch.tensor([9, 5, 8])  # steps past the end not counted either
    return model, inputs, targets, lengths


def test_log_probabilities_follow_the_two_level_equation() -> None:
    model, inputs, _, _ = model_and_batch()
    model.eval()
    with torch.no_grad():
        features, _ = model.features(inputs)
        log_p = model.scores(features)  # [B, T, V]
        h = features.reshape(-1, 32)
        head = torch.log_softmax(model.decoder.head(h), dim=-1)  # [N, c_1 + clusters]
        expected = torch.empty(h.shape[0], V)
        expected[:, : CUTOFFS[0]] = head[:, : CUTOFFS[0]]
        bounds = [*CUTOFFS, V]
        for k, tail in enumerate(model.decoder.tail):
            projection, output = tail[0], tail[1]
            assert projection.out_features == 32 // 4 ** (k + 1)  # H / div^(k+1)
            within = torch.log_softmax(output(projection(h)), dim=-1)
            cluster = head[:, CUTOFFS[0] + k : CUTOFFS[0] + k + 1]  # log p(cluster k)
            expected[:, bounds[k] : bounds[k + 1]] = cluster + within
    torch.testing.assert_close(log_p.reshape(-1, V), expected)
    torch.testing.assert_close(log_p.logsumexp(-1), torch.zeros(3, 9), atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_training_loss_equals_the_full_log_probabilities_loss_and_gradients(cell: str) -> None:
    model, inputs, targets, lengths = model_and_batch(cell)
    model.train()  # dropout is 0: training and evaluation compute the same function
    outputs, cheap = model(inputs, targets, lengths)
    assert outputs is None and model.metrics(outputs, None) == {}
    cheap_grads = torch.autograd.grad(cheap, list(model.parameters()), allow_unused=True)
    model.eval()
    log_p, full = model(inputs, targets, lengths)
    assert log_p is not None and log_p.shape == (3, 9, V)
    full_grads = torch.autograd.grad(full, list(model.parameters()), allow_unused=True)
    # by hand: mean over the counted positions of -log p(target)
    counted = (targets != 0) & (torch.arange(9)[None, :] < lengths[:, None])
    picked = log_p.gather(-1, targets[..., None])[..., 0]
    torch.testing.assert_close(full, -picked[counted].mean())
    torch.testing.assert_close(cheap, full)
    for name, a, b in zip([n for n, _ in model.named_parameters()], cheap_grads, full_grads,
                          strict=True):
        if a is None or b is None:
            assert a is None and b is None, name
            continue
        torch.testing.assert_close(a, b, msg=name)


def test_a_stream_chunk_carries_the_state_and_returns_no_logits_in_training() -> None:
    model, inputs, targets, _ = model_and_batch()
    model.train()
    outputs, loss, state = model.forward_stream(inputs[:, :4], None, targets[:, :4])
    assert outputs is None and loss.ndim == 0
    _, loss2, state2 = model.forward_stream(inputs[:, 4:], state, targets[:, 4:])
    model.eval()
    log_p, _ = model.run(inputs)
    _, tail_loss, _ = model.forward_stream(inputs[:, 4:], state, targets[:, 4:])
    torch.testing.assert_close(loss2, tail_loss)
    torch.testing.assert_close(log_p[:, 4:], model.run(inputs[:, 4:], state)[0])
    assert len(state2) == 2


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_generation_step_and_decoding_use_the_log_probabilities(cell: str) -> None:
    model, _, _, _ = model_and_batch(cell)
    model.eval()
    fast = model.generation_step(2)
    assert isinstance(fast, GenerationStep)
    tokens = torch.tensor([3, 25])  # a shortlist word and a tail word
    slow_state = fast_state = None
    with torch.inference_mode():
        for _ in range(4):
            slow, slow_state = model.step(tokens, slow_state)
            quick, fast_state = fast(tokens, fast_state)
            torch.testing.assert_close(quick, slow)
            tokens = quick.argmax(-1)

        def prime(tokens, state):
            scores, new_state = model.run(tokens, state)
            return scores[:, -1], new_state

        sampled = generate(model.generation_step(1), [1, 2], 12, prime_fn=prime,
                           temperature=0.8, top_k=10, top_p=0.9, seed=3)
        again = generate(model.step, [1, 2], 12, prime_fn=prime,
                         temperature=0.8, top_k=10, top_p=0.9, seed=3)
        beams = beam_search(model.generation_step(3), [1, 2], 6, beam_size=3, prime_fn=prime)
    assert torch.equal(sampled, again)
    assert sampled.numel() == 12 and int(sampled.min()) >= 0 and int(sampled.max()) < V
    assert 0 < beams.numel() <= 6


def test_bf16_autocast_loss_is_close_to_float32() -> None:
    model, inputs, targets, lengths = model_and_batch()
    model.train()
    _, fp32 = model(inputs, targets, lengths)
    with training_precision("bf16", "cpu"):
        _, bf16 = model(inputs, targets, lengths)
    bf16.backward()
    bf16, fp32 = float(bf16.detach()), float(fp32.detach())
    assert math.isfinite(bf16) and bf16 != fp32 and abs(bf16 - fp32) < 0.02 * fp32


def test_the_plain_decoder_is_unchanged_and_old_configs_load() -> None:
    model = LanguageModel(V, 8, 12, num_layers=1)
    assert not model.adaptive and isinstance(model.decoder, nn.Linear)
    config = model.config_dict()
    assert config["adaptive_cutoffs"] == [] and config["adaptive_div_value"] == 4.0
    for key in ("adaptive_cutoffs", "adaptive_div_value"):  # a checkpoint written before them
        del config[key]
    assert not LanguageModel.from_config_dict(config).adaptive
    adaptive, *_ = model_and_batch(adaptive_div_value=2.0)
    rebuilt = LanguageModel.from_config_dict(adaptive.config_dict())
    assert rebuilt.adaptive and rebuilt.decoder.cutoffs == [*CUTOFFS, V]
    assert rebuilt.decoder.tail[0][0].out_features == 16


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"adaptive_cutoffs": [20, 6]}, "must be increasing integers in (0, vocab_size = 40)"),
        ({"adaptive_cutoffs": [6, 40]}, "must be increasing integers in (0, vocab_size = 40)"),
        ({"adaptive_cutoffs": [0, 6]}, "must be increasing integers"),
        ({"adaptive_cutoffs": [6, True]}, "must be increasing integers"),
        ({"adaptive_cutoffs": "6,20"}, "must be a list of increasing token ids, got str"),
        ({"adaptive_cutoffs": [6], "adaptive_div_value": 0.5}, "must be a number >= 1"),
        ({"adaptive_cutoffs": [6], "tie_weights": True}, "does not combine with adaptive"),
        ({"adaptive_cutoffs": [2, 6, 20]}, "leaves the last of 3 tail clusters no unit"),
    ],
)
def test_bad_options_are_refused_in_one_sentence(options, message) -> None:
    names = "^Argument `(adaptive_cutoffs|adaptive_div_value|tie_weights=True)`"
    with pytest.raises(ValueError, match=names) as err:
        LanguageModel(V, 12, 12, num_layers=1, **options)
    assert message in str(err.value)


def test_adaptive_loss_needs_an_adaptive_model() -> None:
    plain = LanguageModel(V, 8, 12, num_layers=1)
    with pytest.raises(ValueError, match="needs a LanguageModel built with adaptive_cutoffs"):
        plain.adaptive_loss(torch.zeros(1, 2, 12), torch.zeros(1, 2, dtype=torch.long))


TEXT = " ".join(f"w{i % 7} w{(i * 5) % 31} the a" for i in range(400)) + "\n"


def test_train_lm_with_adaptive_softmax_samples_and_resumes(tmp_path, capsys) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    run = tmp_path / "run"
    options = ["--data.level", "word", "--data.batch_size", "4", "--data.bptt", "12",
               "--model.hidden_size", "16", "--model.embedding_dim", "8",
               "--model.adaptive_cutoffs", "[4, 12]", "--progress", "false"]
    code = main(["train", "lm", "--text", str(corpus), "--out", str(run), "--max-steps", "8",
                 "--max-epochs", "0", "--train.eval_every", "4", *options])
    assert code == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["config"]["adaptive_cutoffs"] == [4, 12]
    rows = (run / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    valid = [r.split(",") for r in rows[1:] if r.split(",")[header.index("split")] == "val"]
    assert valid and all(r[header.index("accuracy")] for r in valid)  # evaluation has accuracy
    capsys.readouterr()
    assert main(["sample", str(run), "--length", "6", "--seed", "1", "--prime", "the"]) == 0
    assert main(["sample", str(run), "--length", "6", "--beam", "3", "--prime", "the"]) == 0
    assert len(capsys.readouterr().out.split()) >= 2
    assert main(["train", "lm", "--resume", str(run), "--max-steps", "10"]) == 0
    assert json.loads((run / "trainer_state.json").read_text())["step"] == 10


def test_train_lm_refuses_adaptive_softmax_with_tied_weights_before_writing(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    run = tmp_path / "run"
    code = main(["train", "lm", "--text", str(corpus), "--out", str(run),
                 "--model.tie_weights", "true", "--model.adaptive_cutoffs", "[4]"])
    assert code == 2
    err = capsys.readouterr().err
    assert "`model.tie_weights` and `model.adaptive_cutoffs` do not combine" in err
    assert not run.exists()
    code = main(["train", "lm", "--text", str(corpus), "--out", str(run), "--data.level", "word",
                 "--data.batch_size", "4", "--data.bptt", "12",
                 "--model.adaptive_cutoffs", "[4, 400]"])
    assert code == 2
    assert "vocab_size" in capsys.readouterr().err
    assert not run.exists()
