"""SequenceTagger's character features: encoding, padding, unseen words, save/load, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.config import TrainConfig
from rnnkit.data.batching import PaddedBatches
from rnnkit.data.synthetic import write_conllu
from rnnkit.models.tagger import SequenceTagger, word_char_ids
from rnnkit.tasks import load_run
from rnnkit.tasks.tag import WordDropoutBatches
from rnnkit.train import Trainer

CHARS = ["<pad>", "<unk>", *"abcdefghijklmnopqrstuvwxyz"]
# Word vocabulary: <pad> <unk> and three known words.
WORDS = ["<pad>", "<unk>", "the", "dog", "runs"]


def tagger(kind: str, **kwargs) -> SequenceTagger:
    torch.manual_seed(0)
    settings = {"embedding_dim": 4, "hidden_size": 6, "char_embedding_dim": 3,
                "char_hidden_size": 5, "max_word_length": 6, **kwargs}
    return SequenceTagger(2, vocab_size=len(WORDS), char_features=kind, char_vocab=CHARS,
                          **settings)


def rows(model: SequenceTagger, words: list[str]) -> np.ndarray:
    stoi = {w: i for i, w in enumerate(WORDS)}
    return model.encode_words([stoi.get(w, 1) for w in words], words)


def test_word_char_ids_keep_the_prefix_and_the_suffix() -> None:
    ids = {c: i for i, c in enumerate(CHARS)}
    # a=2 ... z=27; "quickly" (7 letters) in 5 slots: "qui" + "ly"
    assert word_char_ids("quickly", ids, 5) == [18, 22, 10, 13, 26]
    assert word_char_ids("Ab", ids, 4) == [1, 3, 0, 0]  # "A" is not in the vocabulary: <unk>
    assert word_char_ids("abcdef", ids, 6) == [2, 3, 4, 5, 6, 7]
    with pytest.raises(ValueError, match=r"`word` must be a non-empty string, got ''"):
        word_char_ids("", ids, 4)
    with pytest.raises(ValueError, match=r"`max_word_length` must be an integer >= 2, got 1"):
        word_char_ids("ab", ids, 1)


@pytest.mark.parametrize("kind", ["lstm", "cnn"])
def test_sizes_and_encoded_rows(kind: str) -> None:
    model = tagger(kind)
    assert model.char_size == (10 if kind == "lstm" else 5)
    assert model.rnn.input_size == 4 + model.char_size
    encoded = rows(model, ["the", "zebra"])
    assert encoded.tolist() == [[2, 21, 9, 6, 0, 0, 0], [1, 27, 6, 3, 19, 2, 0]]
    logits, loss = model(torch.as_tensor(encoded)[None], torch.tensor([[0, 1]]))
    assert logits.shape == (1, 2, 2) and loss is not None and loss.ndim == 0


@pytest.mark.parametrize("kind", ["lstm", "cnn"])
def test_unseen_words_are_told_apart_by_their_characters(kind: str) -> None:
    model = tagger(kind).eval()
    # both are <unk> to the word vocabulary; only the characters differ
    a, b = (torch.as_tensor(rows(model, [w]))[None] for w in ("quickly", "table"))
    assert a[0, 0, 0] == b[0, 0, 0] == 1
    assert not torch.allclose(model(a)[0], model(b)[0])
    # the same characters give the same vector, whatever the batch or the position
    pair = torch.as_tensor(rows(model, ["table", "dog", "table"]))[None]
    features = model.word_features(pair[..., 1:])
    torch.testing.assert_close(features[0, 0], features[0, 2])
    torch.testing.assert_close(features[0, 0], model.word_features(b[..., 1:])[0, 0])


def test_char_lstm_vector_is_the_final_states_of_a_hand_run_bilstm() -> None:
    model = tagger("lstm").eval()
    word = torch.as_tensor(rows(model, ["dog"]))[None, :, 1:]  # [1, 1, 6]: d o g 0 0 0
    c = model.char_embedding(word[0, 0, :3])  # [3, E_c]
    rnn = torch.nn.LSTM(3, 5, bidirectional=True, batch_first=True)
    rnn.load_state_dict(model.char_rnn.state_dict())
    _, (h_n, _) = rnn(c[None])
    expected = torch.cat([h_n[0, 0], h_n[1, 0]])
    torch.testing.assert_close(model.word_features(word)[0, 0], expected, rtol=1e-5, atol=1e-6)


def test_char_cnn_vector_is_a_max_over_the_word_only() -> None:
    model = tagger("cnn").eval()
    word = torch.as_tensor(rows(model, ["dog"]))[None, :, 1:]
    c = model.char_embedding(word[0, 0, :3]).T[None]  # [1, E_c, 3]: the word, unpadded
    expected = torch.relu(model.char_conv(c)).amax(-1)[0]
    torch.testing.assert_close(model.word_features(word)[0, 0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "cnn"])
def test_padding_changes_neither_tags_nor_loss(kind: str) -> None:
    model = tagger(kind).eval()
    short = torch.as_tensor(rows(model, ["the", "dog"]))
    long = torch.as_tensor(rows(model, ["the", "zebra", "runs"]))
    batch = torch.zeros(2, 3, short.shape[1], dtype=torch.long)
    batch[0, :2], batch[1] = short, long
    alone, loss_alone = model(short[None], torch.tensor([[0, 1]]))
    padded, _ = model(batch, torch.tensor([[0, 1, -100], [1, 0, 1]]), torch.tensor([2, 3]))
    torch.testing.assert_close(padded[0, :2], alone[0], rtol=1e-5, atol=1e-6)
    _, loss_first = model(batch[:1], torch.tensor([[0, 1, 1]]), torch.tensor([2]))
    torch.testing.assert_close(loss_first, loss_alone, rtol=1e-5, atol=1e-6)


def test_learns_a_suffix_rule_for_words_it_never_saw(tmp_path) -> None:
    # tag 1 for words ending in "ly", 0 otherwise; every word is <unk> to the word vocabulary,
    # so only the characters can tell; held-out words are new spellings.
    rng = np.random.default_rng(0)
    letters = list("abcdefghijkmnopqrstuvwxz")  # no "l", no "y": the suffix alone decides

    def sentences(n: int) -> tuple[list[list[str]], list[list[int]]]:
        words, tags = [], []
        for _ in range(n):
            stems = ["".join(rng.choice(letters, rng.integers(2, 5))) for _ in range(4)]
            flags = rng.integers(0, 2, 4).tolist()
            words.append([s + "ly" if f else s for s, f in zip(stems, flags, strict=True)])
            tags.append(flags)
        return words, tags

    model = tagger("cnn", max_word_length=8)
    data = {}
    for name, n in (("train", 64), ("test", 32)):
        words, tags = sentences(n)
        inputs = [model.encode_words([1] * len(ws), ws) for ws in words]
        data[name] = PaddedBatches(inputs, step_targets=tags, batch_size=16, shuffle=True)
    Trainer(model, data["train"], TrainConfig(lr=0.03, max_epochs=10, progress=False),
            tmp_path / "run", val_data=data["test"], model_name="sequence_tagger",
            run_config={"task": "tag"}).fit()
    model.eval()
    right = count = 0.0
    with torch.no_grad():
        for batch in data["test"]:
            r, c = model.metrics(model(batch.inputs, lengths=batch.lengths)[0], batch)["accuracy"]
            right, count = right + r, count + c
    assert right / count >= 0.95  # chance: 0.5

    # the checkpoint rebuilds the same tagger, character vocabulary included
    run = load_run(tmp_path / "run", best=False)
    assert run.model.config.char_vocab == CHARS and run.model.config.char_features == "cnn"
    batch = next(iter(data["test"]))
    torch.testing.assert_close(run.model(batch.inputs, lengths=batch.lengths)[0],
                               model(batch.inputs, lengths=batch.lengths)[0])
    assert run.model.encode_words([1], ["newly"]).tolist() == model.encode_words(
        [1], ["newly"]).tolist()


def test_without_char_features_nothing_changes() -> None:
    model = SequenceTagger(3, vocab_size=5, embedding_dim=4, hidden_size=4)
    assert model.char_size == 0 and model.config.char_features == "none"
    assert model.encode_words([2, 3], ["x", "y"]).tolist() == [2, 3]
    assert not [k for k in model.state_dict() if k.startswith("char_")]
    assert model.rnn.input_size == 4


def test_bad_options_and_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match=r"`char_features` must be one of \['none', 'lstm', "):
        SequenceTagger(2, vocab_size=5, char_features="gru", char_vocab=CHARS)
    with pytest.raises(ValueError, match=r"`char_vocab` must list the characters"):
        SequenceTagger(2, vocab_size=5, char_features="lstm")
    with pytest.raises(ValueError, match=r"must start with \['<pad>', '<unk>'\]"):
        SequenceTagger(2, vocab_size=5, char_features="lstm", char_vocab=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"needs token input \(`vocab_size`\)"):
        SequenceTagger(2, input_size=3, char_features="cnn", char_vocab=CHARS)
    with pytest.raises(ValueError, match=r"`char_hidden_size` must be a positive integer"):
        SequenceTagger(2, vocab_size=5, char_features="cnn", char_vocab=CHARS,
                       char_hidden_size=0)
    with pytest.raises(ValueError, match=r"`max_word_length` must be an integer >= 2, got 1"):
        SequenceTagger(2, vocab_size=5, max_word_length=1)
    model = tagger("lstm")
    with pytest.raises(ValueError, match=r"must be a \[B, T, 1 \+ W\] integer tensor"):
        model(torch.tensor([[2, 3]]))
    bad = torch.as_tensor(rows(model, ["dog"]))[None].clone()
    bad[0, 0, 2] = len(CHARS)
    with pytest.raises(ValueError, match=r"character ids in \[0, 28\)"):
        model(bad)
    with pytest.raises(ValueError, match=r"same length, got 2 and 1"):
        model.encode_words([2, 3], ["the"])


def test_word_dropout_drops_rare_words_anew_each_epoch() -> None:
    # id 2 is frequent (never dropped), id 3 is rare (half the time), id 4 always
    drop = np.array([0.0, 0.0, 0.0, 0.5, 1.0])
    sequences = [[2, 3, 4, 3] * 50] * 4
    data = WordDropoutBatches(sequences, drop=drop, unk_id=1, step_targets=[[0] * 200] * 4,
                              batch_size=2, seed=3)
    first = torch.cat([b.inputs for b in data])
    assert torch.equal(first, torch.cat([b.inputs for b in data]))  # same epoch: same draw
    data.set_epoch(1)
    second = torch.cat([b.inputs for b in data])
    assert not torch.equal(first, second)
    original = torch.tensor(sequences)
    for inputs in (first, second):
        assert bool((inputs[original == 2] == 2).all())
        assert bool((inputs[original == 4] == 1).all())
        assert 0.4 < float((inputs[original == 3] == 1).float().mean()) < 0.6
    # rows of word and character ids: only the word column changes
    rows = [np.array([[4, 7, 8], [2, 9, 0]])]
    batch = next(iter(WordDropoutBatches(rows, drop=drop, unk_id=1, batch_size=1)))
    assert batch.inputs.tolist() == [[[1, 7, 8], [2, 9, 0]]]
    with pytest.raises(ValueError, match=r"`drop` must be a 1-D array of probabilities"):
        WordDropoutBatches(rows, drop=np.array([0.5, 2.0]), unk_id=1, batch_size=1)


def test_train_tag_with_char_features_tags_unseen_words(tmp_path: Path, capsys) -> None:
    # the tag of a word is its ending ("-ed" VERB, else NOUN); test words are new spellings
    rng = np.random.default_rng(0)

    def sentences(n: int) -> tuple[list[list[str]], list[list[str]]]:
        words, tags = [], []
        for _ in range(n):
            stems = ["".join(rng.choice(list("abcfghijkmnopqrstuvwxz"), 3)) for _ in range(3)]
            flags = rng.integers(0, 2, 3).tolist()
            words.append([w + "ed" if f else w for w, f in zip(stems, flags, strict=True)])
            tags.append(["VERB" if f else "NOUN" for f in flags])
        return words, tags

    for name, n in (("train", 64), ("valid", 16)):
        write_conllu(tmp_path / f"{name}.conllu", *sentences(n))
    run = tmp_path / "run"
    argv = ["train", "tag", "--train", str(tmp_path / "train.conllu"), "--valid",
            str(tmp_path / "valid.conllu"), "--out", str(run), "--max-steps", "40",
            "--train.lr", "0.03", "--train.progress", "false", "--data.batch_size", "8",
            "--data.min_freq", "1", "--data.word_dropout", "0.25", "--data.lowercase", "true",
            "--model.char_features", "cnn", "--model.char_hidden_size", "8",
            "--model.char_embedding_dim", "4", "--model.hidden_size", "8",
            "--model.embedding_dim", "4"]
    assert main(argv) == 0
    config = json.loads((run / "config.json").read_text())["model"]["config"]
    assert config["char_features"] == "cnn" and "z" in config["char_vocab"]
    capsys.readouterr()
    assert main(["predict", str(run), "Bobed zuk", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tags"] == ["VERB", "NOUN"]
    capsys.readouterr()
    assert main(["eval", str(run), str(tmp_path / "valid.conllu"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] >= 0.9
    bad = [*argv[:8], "--data.word_dropout", "-1"]
    assert main(bad) == 2
    assert "Option `data.word_dropout` expects a float >= 0" in capsys.readouterr().err
