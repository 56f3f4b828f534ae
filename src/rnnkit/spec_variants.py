"""The specs of the cell variants of two architecture searches: LSTM ablations and MUT1-3.

Pure Python like :mod:`rnnkit.spec` (no torch, no NumPy), so both engines build from them:
:mod:`rnnkit.nn.variants` (PyTorch: :class:`rnnkit.nn.LSTM` ``variant=...``,
:class:`rnnkit.nn.MUT` ``kind=...``) and :mod:`rnnkit.reference.variants` (NumPy, forward
and backward written out). They are kept out of ``rnnkit.spec``'s registry of cell names:
an ablation is built as the ``lstm`` cell with ``variant=``, a MUT as ``mut1`` ... ``mut3``.

LSTM ablations (Greff et al. 2017, "LSTM: A Search Space Odyssey"), each a change of the
plain LSTM of ``rnnkit.spec`` (gate order i, f, g, o; ``a_i = W_ii x_t + b_ii + W_hi h_{t-1}
+ b_hi`` and so on are the pre-activations)::

    vanilla  i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o),
             c_t = f ⊙ c_{t-1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)
    nig      no input gate:          i = 1           (blocks f, g, o)
    nfg      no forget gate:         f = 1           (blocks i, g, o)
    nog      no output gate:         o = 1           (blocks i, f, g)
    niaf     no input activation:    g = a_g         (blocks i, f, g, o)
    noaf     no output activation:   h_t = o ⊙ c_t   (blocks i, f, g, o)
    cifg     coupled input-forget:   f = 1 - i       (blocks i, g, o)
    fgr      full gate recurrence:   a_k += R_k [i_{t-1}; f_{t-1}; o_{t-1}] for k = i, f, o
                                     (blocks i, f, g, o; weight_ah [3H, 3H])

A gate that is removed has no weights at all: ``weight_ih`` is ``[G*H, I]`` with ``G`` the
number of blocks listed, in that order (CIFG has no forget weights). The full gate recurrence
adds ``weight_ah [3H, 3H]`` (row blocks: the gates i, f, o it feeds; column blocks: the
previous activations i, f, o it reads), and its state carries those activations:
``(h, c, a)`` with ``a_t = [i_t; f_t; o_t]`` of size ``3H``, zero at the start.

MUT1-3 (Jozefowicz et al. 2015, "An Empirical Exploration of Recurrent Network
Architectures", section 3.3), written with ``h_{t-1}`` for the paper's ``h_t``::

    MUT1  z = σ(W_xz x_t + b_z)
          r = σ(W_xr x_t + W_hr h_{t-1} + b_r)
          h_t = tanh(W_hh (r ⊙ h_{t-1}) + tanh(x_t) + b_h) ⊙ z + h_{t-1} ⊙ (1 - z)
    MUT2  z = σ(W_xz x_t + W_hz h_{t-1} + b_z)
          r = σ(x_t + W_hr h_{t-1} + b_r)
          h_t = tanh(W_hh (r ⊙ h_{t-1}) + W_xh x_t + b_h) ⊙ z + h_{t-1} ⊙ (1 - z)
    MUT3  z = σ(W_xz x_t + W_hz tanh(h_{t-1}) + b_z)
          r = σ(W_xr x_t + W_hr h_{t-1} + b_r)
          h_t = tanh(W_hh (r ⊙ h_{t-1}) + W_xh x_t + b_h) ⊙ z + h_{t-1} ⊙ (1 - z)

MUT1 and MUT2 add ``x_t`` itself (MUT1 through a tanh), so they need ``I == H``. Parameters
in torch's layout, one bias per matrix as torch has (each of ``b_z, b_r, b_h`` above is the
sum of the biases present for that gate)::

    MUT1  weight_ih [2H, I] blocks (z, r)      weight_hh [2H, H] blocks (r, h)
    MUT2  weight_ih [2H, I] blocks (z, h)      weight_hh [3H, H] blocks (z, r, h)
    MUT3  weight_ih [3H, I] blocks (z, r, h)   weight_hh [3H, H] blocks (z, r, h)

with ``bias_ih`` and ``bias_hh`` over the same blocks as their matrices.

Example:
    >>> spec = lstm_variant_spec("cifg")
    >>> spec.gates, spec.parameter_shapes(3, 2)["weight_ih"]
    (('i', 'g', 'o'), (6, 3))
    >>> sorted(mut_spec(1).parameter_shapes(4, 4).items())
    [('bias_hh', (8,)), ('bias_ih', (8,)), ('weight_hh', (8, 4)), ('weight_ih', (8, 4))]
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from rnnkit.spec import CellSpec

__all__ = ["LSTM_VARIANTS", "MUT_KINDS", "VariantSpec", "lstm_variant_spec", "mut_spec"]

#: Every value of ``LSTM(..., variant=...)``; ``"vanilla"`` is the plain LSTM of ``rnnkit.spec``.
LSTM_VARIANTS = ("vanilla", "nig", "nfg", "nog", "niaf", "noaf", "cifg", "fgr")
#: Every value of ``MUT(..., kind=...)``.
MUT_KINDS = (1, 2, 3)


@dataclass(frozen=True)
class VariantSpec(CellSpec):
    """A :class:`rnnkit.spec.CellSpec` whose matrices may hold different gate blocks.

    ``gates`` names the blocks of a step's projected input; ``input_gates`` and
    ``recurrent_gates`` the blocks of ``weight_ih`` and ``weight_hh`` (the same as ``gates``
    for the LSTM ablations, not for MUT1 and MUT2).

    Attributes:
        variant: the LSTM ablation (``"nig"`` ... ``"fgr"``) or ``"mut1"`` ... ``"mut3"``.
        input_gates: blocks of ``weight_ih`` and ``bias_ih``, in order.
        recurrent_gates: blocks of ``weight_hh`` and ``bias_hh``, in order.
        input_is_hidden: the step adds ``x_t`` itself to a gate, so ``I`` must equal ``H``.
    """

    variant: str = ""
    input_gates: tuple[str, ...] = ()
    recurrent_gates: tuple[str, ...] = ()
    input_is_hidden: bool = False

    def parameter_shapes(
        self,
        input_size: int,
        hidden_size: int,
        *,
        output_size: int | None = None,
        bias: bool = True,
        layer_norm: bool = False,
        proj_size: int = 0,
    ) -> dict[str, tuple[int, ...]]:
        """Return the variant's parameter names and shapes, in a fixed order.

        Args:
            input_size: ``I``.
            hidden_size: ``H``.
            output_size, layer_norm, proj_size: not defined for the variants (must be unset).
            bias: include ``bias_ih`` and ``bias_hh``.

        Raises:
            ValueError: a size is not a positive integer, ``I != H`` for MUT1 and MUT2, or an
                option that the variants do not have.
        """
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"Argument `{name}` must be a positive integer, got {value!r}.")
        for name, value in (
            ("output_size", output_size),
            ("layer_norm", layer_norm),
            ("proj_size", proj_size),
        ):
            if value is not None and value is not False and value != 0:
                raise ValueError(
                    f"Argument `{name}` is not defined for cell '{self.name}', got {value!r}."
                )
        if self.input_is_hidden and input_size != hidden_size:
            raise ValueError(
                f"Argument `input_size` must equal hidden_size={hidden_size} for cell "
                f"'{self.name}', which adds x_t to a gate, got {input_size}."
            )
        H = hidden_size
        shapes: dict[str, tuple[int, ...]] = {
            "weight_ih": (len(self.input_gates) * H, input_size),
            "weight_hh": (len(self.recurrent_gates) * H, H),
        }
        if bias:
            shapes["bias_ih"] = (len(self.input_gates) * H,)
            shapes["bias_hh"] = (len(self.recurrent_gates) * H,)
        if self.variant == "fgr":
            shapes["weight_ah"] = (3 * H, 3 * H)
        return shapes

    def state_shapes(
        self,
        batch_size: int,
        hidden_size: int,
        *,
        output_size: int | None = None,
        proj_size: int = 0,
    ) -> tuple[tuple[int, int], ...]:
        """Shape of each state tensor, ``[B, H]`` (``[B, 3H]`` for the gate activations ``a``)."""
        return tuple(
            (batch_size, 3 * hidden_size if name == "a" else hidden_size)
            for name in self.state_names
        )


_LSTM_BLOCKS = {
    "nig": ("f", "g", "o"),
    "nfg": ("i", "g", "o"),
    "nog": ("i", "f", "g"),
    "niaf": ("i", "f", "g", "o"),
    "noaf": ("i", "f", "g", "o"),
    "cifg": ("i", "g", "o"),
    "fgr": ("i", "f", "g", "o"),
}
_LSTM_DESCRIPTIONS = {
    "nig": "LSTM without input gate (i = 1)",
    "nfg": "LSTM without forget gate (f = 1)",
    "nog": "LSTM without output gate (o = 1)",
    "niaf": "LSTM without input activation (g = a_g)",
    "noaf": "LSTM without output activation (h = o ⊙ c)",
    "cifg": "LSTM with coupled input and forget gate (f = 1 - i)",
    "fgr": "LSTM with full gate recurrence (gates see i, f, o of the previous step)",
}
# kind -> (blocks of weight_ih, blocks of weight_hh)
_MUT_BLOCKS = {
    1: (("z", "r"), ("r", "h")),
    2: (("z", "h"), ("z", "r", "h")),
    3: (("z", "r", "h"), ("z", "r", "h")),
}


def lstm_variant_spec(variant: str) -> VariantSpec | None:
    """The spec of an LSTM ablation; ``None`` for ``"vanilla"`` (the plain ``lstm`` spec).

    Raises:
        ValueError: ``variant`` is not one of :data:`LSTM_VARIANTS`.

    >>> lstm_variant_spec("fgr").state_names, lstm_variant_spec("vanilla")
    (('h', 'c', 'a'), None)
    """
    if not isinstance(variant, str) or variant not in LSTM_VARIANTS:
        raise ValueError(
            f"Argument `variant` must be one of {list(LSTM_VARIANTS)}, got {variant!r}."
        )
    if variant == "vanilla":
        return None
    blocks = _LSTM_BLOCKS[variant]
    return VariantSpec(
        name=f"lstm_{variant}",
        state_names=("h", "c", "a") if variant == "fgr" else ("h", "c"),
        gates=blocks,
        layer_norm_allowed=False,
        has_cell_state=True,
        description=_LSTM_DESCRIPTIONS[variant],
        variant=variant,
        input_gates=blocks,
        recurrent_gates=blocks,
    )


def mut_spec(kind: int) -> VariantSpec:
    """The spec of MUT1, MUT2 or MUT3 (Jozefowicz et al. 2015).

    Raises:
        ValueError: ``kind`` is not 1, 2 or 3.

    >>> mut_spec(2).recurrent_gates, mut_spec(2).input_is_hidden
    (('z', 'r', 'h'), True)
    """
    if isinstance(kind, bool) or kind not in MUT_KINDS:
        raise ValueError(f"Argument `kind` must be one of {list(MUT_KINDS)}, got {kind!r}.")
    input_gates, recurrent_gates = _MUT_BLOCKS[kind]
    return VariantSpec(
        name=f"mut{kind}",
        state_names=("h",),
        gates=("z", "r", "h"),
        layer_norm_allowed=False,
        has_cell_state=False,
        description=f"MUT{kind} of Jozefowicz et al. 2015",
        variant=f"mut{kind}",
        input_gates=input_gates,
        recurrent_gates=recurrent_gates,
        input_is_hidden=kind in (1, 2),
    )
