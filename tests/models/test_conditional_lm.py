"""Conditioning a LanguageModel: a category or a feature vector sets the initial state."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models import LanguageModel, build_model
from rnnkit.tasks.lm import CategoryBatches

SOS, EOS = 1, 2
WORDS = {"cat": [3, 4, 5], "dog": [6, 7, 8], "owl": [7, 6, 3, 5]}  # token ids per word
V = 9


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def greedy(model: LanguageModel, state, length: int = 6) -> list[int]:
    tokens, out = torch.tensor([SOS]), []
    with torch.no_grad():
        for _ in range(length):
            logits, state = model.step(tokens, state)
            tokens = logits.argmax(-1)
            if int(tokens) == EOS:
                break
            out.append(int(tokens))
    return out


@pytest.mark.usefixtures("one_thread")
def test_a_category_chooses_the_sequence() -> None:
    names = list(WORDS)
    model = LanguageModel(V, 8, 16, 1, categories=names)
    batches = CategoryBatches(
        list(range(3)),
        [[SOS, *w] for w in WORDS.values()],
        [[*w, EOS] for w in WORDS.values()],
        batch_size=3,
    )
    (batch,) = batches
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        _, loss = model(batch.inputs, batch.targets, batch.lengths)  # categories in column 0
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    for name, word in WORDS.items():
        assert greedy(model, model.initial_state(model.category_ids([name]))) == word


@pytest.mark.usefixtures("one_thread")
def test_a_feature_vector_chooses_the_sequence() -> None:
    model = LanguageModel(V, 8, 16, 2, cell="gru", condition_size=3)
    features = torch.eye(3)
    inputs = torch.tensor([[SOS, 3, 4, 5, 0], [SOS, 6, 7, 8, 0], [SOS, 7, 6, 3, 5]])
    targets = torch.tensor([[3, 4, 5, EOS, -100], [6, 7, 8, EOS, -100], [7, 6, 3, 5, EOS]])
    lengths = torch.tensor([4, 4, 5])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        _, loss = model(inputs, targets, lengths, condition=features)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    for row, word in enumerate(WORDS.values()):
        assert greedy(model, model.initial_state(features[row : row + 1])) == word


def test_the_category_column_equals_passing_the_condition() -> None:
    model = LanguageModel(V, 4, 6, 2, categories=["a", "b"]).eval()
    tokens = torch.tensor([[SOS, 3, 4], [SOS, 5, 0]])
    categories = torch.tensor([1, 0])
    with_column, _ = model(torch.cat([categories[:, None], tokens], 1), lengths=[3, 2])
    with_argument, _ = model(tokens, lengths=[3, 2], condition=categories)
    torch.testing.assert_close(with_column, with_argument)
    h, c = model.initial_state(categories)
    assert h.shape == c.shape == (2, 2, 6)
    assert not torch.allclose(h[:, 0], h[:, 1])  # the categories start from different states


def test_checkpoint_config_keeps_the_categories() -> None:
    model = LanguageModel(V, 4, 6, 1, categories=["x", "y"])
    again = build_model("language_model", model.config_dict())
    assert again.config.categories == ["x", "y"]
    again.load_state_dict(model.state_dict())
    torch.testing.assert_close(
        again.initial_state(torch.tensor([1]))[0], model.initial_state(torch.tensor([1]))[0]
    )


def test_bad_conditioning_is_named() -> None:
    with pytest.raises(ValueError, match="`categories` and `condition_size` do not combine"):
        LanguageModel(V, categories=["a"], condition_size=2)
    with pytest.raises(ValueError, match="`categories` names 'a' twice"):
        LanguageModel(V, categories=["a", "a"])
    with pytest.raises(ValueError, match="`condition_size` must be an integer >= 0"):
        LanguageModel(V, condition_size=-1)
    categorical = LanguageModel(V, 4, 4, 1, categories=["a", "b"])
    with pytest.raises(ValueError, match=r"`category` must be one of \['a', 'b'\], got 'c'"):
        categorical.category_ids(["c"])
    with pytest.raises(ValueError, match=r"category ids in \[0, 2\), got \[2\]"):
        categorical.initial_state(torch.tensor([2]))
    with pytest.raises(ValueError, match="holds the category ids in column 0 and tokens after"):
        categorical(torch.tensor([[1], [0]]))
    featured = LanguageModel(V, 4, 4, 1, condition_size=3)
    with pytest.raises(ValueError, match="`condition` is required"):
        featured(torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match=r"`condition` must be \[B, 3\] float features"):
        featured.initial_state(torch.ones(1, 2))
    plain = LanguageModel(V, 4, 4, 1)
    with pytest.raises(ValueError, match="`condition` needs a conditional LanguageModel"):
        plain(torch.tensor([[1, 2]]), condition=torch.tensor([0]))
