"""Trainer tests run single-threaded (bit-identical comparisons, and quick on a shared CPU) and
skip drawing PNGs unless a test asks for the ``plots`` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def plots() -> None:
    """Request this fixture to let the trainer draw its plots."""


@pytest.fixture(autouse=True)
def _no_plots(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "plots" not in request.fixturenames:
        monkeypatch.setattr("rnnkit.train.trainer.plot_metrics", lambda *args, **kwargs: [])
