"""Seeds fixed for every test, so a failure reproduces."""

from __future__ import annotations

import random

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _fixed_seeds() -> None:
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # the reference engine's tests run without torch
        return
    torch.manual_seed(0)
