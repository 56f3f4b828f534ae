"""rnnkit: recurrent neural networks from the equations to trained models.

``rnnkit.spec`` describes every cell once; ``rnnkit.nn`` is the fast PyTorch engine and
``rnnkit.reference`` the NumPy engine with the backward pass written out. Submodules are
imported on use, so ``import rnnkit.reference`` works without torch.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
