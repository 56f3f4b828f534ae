"""Task heads. Every head has ``forward(inputs, targets=None, lengths=None) -> (outputs, loss)``
and the checkpoint protocol ``config_dict()`` / ``from_config_dict(d)``.

``MODELS`` maps the name stored in a checkpoint's ``config.json`` to the class, so a run
directory rebuilds its model without unpickling anything.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from rnnkit.models.classifier import SequenceClassifier
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.regressor import SequenceRegressor
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.models.tagger import SequenceTagger

__all__ = [
    "MODELS",
    "LanguageModel",
    "LanguageModelConfig",
    "Seq2Seq",
    "SequenceClassifier",
    "SequenceRegressor",
    "SequenceTagger",
    "build_model",
    "model_name",
]

#: name stored in checkpoints -> model class
MODELS: dict[str, type[nn.Module]] = {
    "language_model": LanguageModel,
    "sequence_classifier": SequenceClassifier,
    "sequence_tagger": SequenceTagger,
    "sequence_regressor": SequenceRegressor,
    "seq2seq": Seq2Seq,
}


def build_model(name: str, config: dict[str, Any]) -> nn.Module:
    """Rebuild a model from its registry ``name`` and ``config_dict()``.

    Raises:
        ValueError: ``name`` is not a registered model.
    """
    if name not in MODELS:
        raise ValueError(f"Model name must be one of {sorted(MODELS)}, got {name!r}.")
    return MODELS[name].from_config_dict(config)  # type: ignore[attr-defined]


def model_name(model: nn.Module) -> str:
    """The registry name of ``model``'s class.

    Raises:
        ValueError: the class is not registered.
    """
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise ValueError(
        f"Model class {type(model).__name__} is not registered in rnnkit.models.MODELS."
    )
