"""SequenceClassifier's ``embedding_dropout``: whole words dropped in training only, saved in
the config, refused where it cannot apply."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.classifier import SequenceClassifier


def _pair(p: float) -> tuple[SequenceClassifier, SequenceClassifier]:
    torch.manual_seed(0)
    plain = SequenceClassifier(2, vocab_size=50, embedding_dim=6, hidden_size=5,
                               bidirectional=True, pooling="max")
    dropped = SequenceClassifier(2, vocab_size=50, embedding_dim=6, hidden_size=5,
                                 bidirectional=True, pooling="max", embedding_dropout=p)
    dropped.load_state_dict(plain.state_dict())
    return plain, dropped


def _layer_inputs(model: SequenceClassifier, inputs: torch.Tensor,
                  lengths: torch.Tensor) -> torch.Tensor:
    seen = []
    handle = model.rnn.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    model(inputs, None, lengths)
    handle.remove()
    return seen[0]


def test_evaluation_ignores_embedding_dropout() -> None:
    plain, dropped = _pair(0.5)
    plain.eval()
    dropped.eval()
    inputs = torch.tensor([[3, 4, 5, 3], [7, 8, 0, 0]])
    lengths = torch.tensor([4, 2])
    assert torch.equal(plain(inputs, None, lengths)[0], dropped(inputs, None, lengths)[0])


def test_training_drops_every_occurrence_of_a_word_and_scales_the_rest() -> None:
    p = 0.3
    _, dropped = _pair(p)
    dropped.train()
    torch.manual_seed(1)
    inputs = torch.randint(1, 50, (8, 30))
    x = _layer_inputs(dropped, inputs, torch.full((8,), 30))
    table = dropped.embedding.weight.detach()
    kept, lost = set(), set()
    for word in inputs.unique().tolist():
        rows = x[inputs == word]
        if bool((rows == 0).all()):
            lost.add(word)
        else:
            # every occurrence kept, scaled by 1 / (1 - p)
            torch.testing.assert_close(rows, table[word].expand_as(rows) / (1 - p))
            kept.add(word)
    assert lost and kept and len(kept | lost) == len(inputs.unique())


def test_dropped_words_get_no_gradient_this_step() -> None:
    _, dropped = _pair(0.5)
    dropped.train()
    inputs = torch.randint(1, 50, (6, 12), generator=torch.Generator().manual_seed(2))
    torch.manual_seed(2)
    x = _layer_inputs(dropped, inputs, torch.full((6,), 12))
    lost = [w for w in inputs.unique().tolist() if bool((x[inputs == w] == 0).all())]
    assert lost
    dropped.zero_grad()
    torch.manual_seed(2)  # the same mask again
    _, loss = dropped(inputs, torch.tensor([0, 1, 0, 1, 1, 0]), torch.full((6,), 12))
    loss.backward()
    grad = dropped.embedding.weight.grad
    assert bool((grad[lost] == 0).all())
    assert float(grad[inputs.unique()].abs().sum()) > 0


def test_embedding_dropout_is_saved_and_old_configs_load() -> None:
    model = SequenceClassifier(2, vocab_size=10, embedding_dim=4, hidden_size=3,
                               embedding_dropout=0.25)
    config = model.config_dict()
    assert config["embedding_dropout"] == 0.25
    assert SequenceClassifier.from_config_dict(config).config.embedding_dropout == 0.25
    del config["embedding_dropout"]  # a checkpoint written before the option existed
    assert SequenceClassifier.from_config_dict(config).config.embedding_dropout == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocab_size": 10, "embedding_dropout": 1.0},
         r"Argument `embedding_dropout` must be a number in \[0, 1\), got 1\.0"),
        ({"vocab_size": 10, "embedding_dropout": -0.1},
         r"Argument `embedding_dropout` must be a number in \[0, 1\), got -0\.1"),
        ({"input_size": 3, "embedding_dropout": 0.2},
         r"Argument `embedding_dropout` needs token input \(vocab_size\); the model reads "
         r"features \(input_size=3\), got embedding_dropout=0\.2"),
    ],
)
def test_bad_embedding_dropout_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SequenceClassifier(2, hidden_size=3, **kwargs)  # type: ignore[arg-type]
