"""Parameter dicts: checking them against the expected names and shapes, and zero gradients.

Examples:
    >>> import numpy as np
    >>> check_params({"w": np.zeros((2, 3))}, {"w": (2, 2)})
    Traceback (most recent call last):
    ...
    ValueError: Parameter `w` has shape (2, 3), expected (2, 2).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["check_params", "zeros_like"]


def check_params(
    params: object, shapes: Mapping[str, tuple[int, ...]], *, argument: str = "params"
) -> np.dtype:
    """Check that ``params`` holds exactly the names in ``shapes``, each with its shape.

    Args:
        params: a dict name -> NumPy float array.
        shapes: the expected name -> shape.
        argument: the argument's name for messages.

    Returns:
        The common floating dtype of the arrays.

    Raises:
        TypeError: ``params`` is not a dict, a value is not a float32/float64 array.
        ValueError: a parameter is missing or unknown, a shape does not fit, dtypes differ.
    """
    if not isinstance(params, Mapping):
        raise TypeError(
            f"Argument `{argument}` must be a dict of NumPy arrays, got {type(params).__name__}."
        )
    for name, shape in shapes.items():
        if name not in params:
            raise ValueError(
                f"Parameter `{name}` is missing from `{argument}`: expected an array of shape "
                f"{tuple(shape)}."
            )
    unknown = [name for name in params if name not in shapes]
    if unknown:
        value = params[unknown[0]]
        got = f" (shape {tuple(np.shape(value))})" if hasattr(value, "shape") else ""
        raise ValueError(
            f"Parameter `{unknown[0]}`{got} is not a parameter of this network; expected only "
            f"{', '.join(shapes)}."
        )
    dtype = None
    for name, shape in shapes.items():
        value = params[name]
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"Parameter `{name}` must be a NumPy array, got {type(value).__name__}."
            )
        if value.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"Parameter `{name}` must be a float32 or float64 array, got {value.dtype}."
            )
        if tuple(value.shape) != tuple(shape):
            raise ValueError(
                f"Parameter `{name}` has shape {tuple(value.shape)}, expected {tuple(shape)}."
            )
        if dtype is None:
            dtype = value.dtype
        elif value.dtype != dtype:
            raise ValueError(
                f"Parameter `{name}` has dtype {value.dtype} but the others are {dtype}; "
                f"expected one dtype for every parameter."
            )
    return np.dtype(dtype if dtype is not None else np.float64)


def zeros_like(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A dict of zero arrays shaped like ``params``: the accumulators of a backward pass.

    >>> zeros_like({"b": np.ones(2)})
    {'b': array([0., 0.])}
    """
    return {name: np.zeros_like(value) for name, value in params.items()}
