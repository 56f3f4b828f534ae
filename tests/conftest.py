"""Seeds fixed for every test, so a failure reproduces; one torch thread.

The suite's tensors are tiny: a second thread buys nothing and, on a shared 2-core machine,
can make a step fifty times slower through oversubscription.
"""

from __future__ import annotations

import contextlib
import random

import numpy as np
import pytest

with contextlib.suppress(ImportError):  # the reference engine's tests run without torch
    import torch as _torch

    _torch.set_num_threads(1)  # before any fixture, module-scoped ones included


@pytest.fixture(autouse=True)
def _fixed_seeds() -> None:
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # the reference engine's tests run without torch
        return
    torch.manual_seed(0)
    torch.set_num_threads(1)
