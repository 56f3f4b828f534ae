"""The cell specification: names, shapes and refusals."""

from __future__ import annotations

import pytest

from rnnkit.spec import CELL_NAMES, get_spec


def test_lstm_shapes_follow_torch_layout() -> None:
    shapes = get_spec("lstm").parameter_shapes(3, 5)
    assert shapes == {
        "weight_ih": (20, 3),
        "weight_hh": (20, 5),
        "bias_ih": (20,),
        "bias_hh": (20,),
    }


def test_gru_and_rnn_gate_counts() -> None:
    assert get_spec("gru").parameter_shapes(2, 4)["weight_hh"] == (12, 4)
    assert get_spec("rnn").parameter_shapes(2, 4, bias=False) == {
        "weight_ih": (4, 2),
        "weight_hh": (4, 4),
    }


def test_jordan_parameters_are_named_as_in_the_course() -> None:
    shapes = get_spec("jordan").parameter_shapes(3, 2, output_size=1)
    assert shapes == {
        "weight_ih": (2, 3),
        "weight_yh": (2, 1),
        "bias_ih": (2,),
        "bias_yh": (2,),
        "weight_hy": (1, 2),
        "bias_y": (1,),
    }
    assert get_spec("jordan").state_shapes(4, 2, output_size=1) == ((4, 1),)


def test_peephole_and_layer_norm_and_projection() -> None:
    shapes = get_spec("peephole_lstm").parameter_shapes(3, 2, layer_norm=True)
    assert shapes["weight_ci"] == shapes["weight_cf"] == shapes["weight_co"] == (2,)
    assert shapes["ln_ih_weight"] == (8,) and shapes["ln_c_bias"] == (2,)
    assert "ln_c_weight" not in get_spec("gru").parameter_shapes(3, 2, layer_norm=True)
    proj = get_spec("lstm").parameter_shapes(3, 6, proj_size=2)
    assert proj["weight_hh"] == (24, 2) and proj["weight_hr"] == (2, 6)
    assert get_spec("lstm").state_shapes(7, 6, proj_size=2) == ((7, 2), (7, 6))


@pytest.mark.parametrize("name", CELL_NAMES)
def test_gate_slices_cover_the_stack(name: str) -> None:
    spec = get_spec(name)
    rows = [spec.gate_slice(g, 3) for g in spec.gates]
    assert [(s.start, s.stop) for s in rows] == [(3 * k, 3 * k + 3) for k in range(len(rows))]


def test_refusals_name_the_argument() -> None:
    with pytest.raises(ValueError, match="`cell` must be one of"):
        get_spec("transformer")
    with pytest.raises(ValueError, match="`hidden_size` must be a positive integer, got 0"):
        get_spec("lstm").parameter_shapes(3, 0)
    with pytest.raises(ValueError, match="`layer_norm=True`"):
        get_spec("rnn").parameter_shapes(3, 2, layer_norm=True)
    with pytest.raises(ValueError, match="`proj_size` applies only"):
        get_spec("gru").parameter_shapes(3, 2, proj_size=1)
    with pytest.raises(ValueError, match="`output_size` is required"):
        get_spec("jordan").parameter_shapes(3, 2)
    with pytest.raises(ValueError, match="`gate` must be one of"):
        get_spec("lstm").gate_slice("r", 2)
