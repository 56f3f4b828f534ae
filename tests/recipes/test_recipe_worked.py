"""The worked-example recipes against golden numbers computed by hand.

The golden numbers were computed independently of rnnkit, with plain Python ``math`` on the
equations written in each test's docstring, and are written here as literals.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.recipes import run_recipe


def _run_json(args: list[str]) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(args)
    assert status == 0
    return json.loads(out.getvalue())


def test_worked_elman_jordan_outputs(tmp_path: Path) -> None:
    """3 inputs, 2 tanh units, 1 sigmoid output; U, V, W, b = (0.2, 0.2), c = 0.5.

    Elman: a(t) = Uᵀx(t) + Wᵀh(t-1) + b, h = tanh(a), y = σ(Vᵀh + c), h(0) = 0.
      t=1: a = (-1 + 1 - 0.2 + 0.2, 0.5 + 0.2 + 2 + 0.2) = (0, 2.9); h = (0, tanh 2.9 =
           0.993963); y = σ(-1.5·0.993963 + 0.5) = σ(-0.990945) = 0.270726.
      t=2: a = (1 + 0.5 - 0.4 + 1.5·0.993963 + 0.2, -0.5 + 0.1 + 4 + 0.2) = (2.790945, 3.8);
           h = (0.992497, 0.999000); y = σ(2·0.992497 - 1.5·0.999 + 0.5) = 0.728395.
      t=3: a = (1.7 + 2·0.992497 + 1.5·0.999, -1.7 + 1.3·0.992497) + ... = (5.383494,
           -0.209753); h = (0.999958, -0.206730); y = 0.943214.
      t=4: a = (-2.3 + 2·0.999958 - 1.5·0.206730, 1.1 + 1.3·0.999958) = (-0.610180,
           2.399945); h = (-0.544254, 0.983673); y = 0.112644.
    Jordan: a(t) = Uᵀx(t) + (2.0, 1.3)·y(t-1) + b, y(0) = 0.
      t=1: as Elman, y = 0.270726.
      t=2: a = (1.3 + 2·0.270726, 3.8 - 0.4 + ... ) = (1.841451, 4.151943);
           h = (0.950934, 0.999505); y = 0.711486.
      t=3: h = (0.997405, -0.519072); y = 0.963506.   t=4: h = (-0.356603, 0.982065);
           y = 0.156263.
    """
    data = _run_json(["recipe", "run", "worked-elman-jordan", "--json", "--out", str(tmp_path)])
    assert data["recipe"] == "worked-elman-jordan"
    results = data["results"]
    assert results["elman"]["outputs"] == pytest.approx(
        [0.270726, 0.728395, 0.943214, 0.112644], abs=1e-5)
    assert results["jordan"]["outputs"] == pytest.approx(
        [0.270726, 0.711486, 0.963506, 0.156263], abs=1e-5)
    elman_h = [[0.0, 0.993963], [0.992497, 0.999000], [0.999958, -0.206730],
               [-0.544254, 0.983673]]
    jordan_h = [[0.0, 0.993963], [0.950934, 0.999505], [0.997405, -0.519072],
                [-0.356603, 0.982065]]
    for got, want in ((results["elman"]["hidden"], elman_h),
                      (results["jordan"]["hidden"], jordan_h)):
        for row, expected in zip(got, want, strict=True):
            assert row == pytest.approx(expected, abs=1e-5)
    assert (tmp_path / "results.json").is_file()
    assert (tmp_path / "elman_jordan.png").stat().st_size > 1000


def test_worked_many_to_many_bptt_and_update(tmp_path: Path) -> None:
    """All weights and biases 0.1 (b = bias_ih, bias_hh = 0), x1 = (4,0,0,0), x2 = (0,8,2,0).

    a1 = 0.1·4 + 0.1 = 0.5, h1 = tanh 0.5 = 0.462117 (each unit);
    q1 = 3·0.1·h1 + 0.1 (both classes) → ŷ1 = (0.5, 0.5), L1 = ln 2 = 0.693147;
    a2 = 0.1·10 + 0.1 + 0.3·h1 = 1.238635, h2 = tanh a2 = 0.845066; ŷ2 = (0.5, 0.5);
    L = 2 ln 2 = 1.386294.
    dL/dq_t = ŷ_t - y_t: (-0.5, 0.5) then (0.5, -0.5). dL/dh_t = Vᵀ dL/dq_t = 0 (V's rows are
    equal), so dL/dU = dL/dW = dL/db = 0 and dL/dc = 0.
    dL/dV[0, j] = -0.5·h1 + 0.5·h2 = 0.191474; dL/dV[1, j] = -0.191474.
    After one step with η = 1: V[0, j] = -0.091474, V[1, j] = 0.291474.
    Loss with the new V: q_t = (3·(-0.091474)·h_t + 0.1, 3·0.291474·h_t + 0.1),
    L = -log ŷ1[0] - log ŷ2[1] = 1.314609.
    """
    result = run_recipe("worked-many-to-many", out=tmp_path, stream=io.StringIO()).results
    assert result["loss"] == pytest.approx(1.386294, abs=1e-6)
    assert result["loss_per_step"] == pytest.approx([0.693147, 0.693147], abs=1e-6)
    assert result["hidden"][0] == pytest.approx([0.462117] * 3, abs=1e-6)
    assert result["hidden"][1] == pytest.approx([0.845066] * 3, abs=1e-6)
    assert result["pre_activations"][1] == pytest.approx([1.238635] * 3, abs=1e-6)
    assert result["grads"]["V"][0] == pytest.approx([0.191474] * 3, abs=1e-6)
    assert result["grads"]["V"][1] == pytest.approx([-0.191474] * 3, abs=1e-6)
    for name in ("U", "W", "b", "c"):
        flat = result["grads"][name]
        flat = [v for row in flat for v in row] if isinstance(flat[0], list) else flat
        assert flat == pytest.approx([0.0] * len(flat), abs=1e-12)
    assert result["updated"]["V"][0] == pytest.approx([-0.091474] * 3, abs=1e-6)
    assert result["updated"]["V"][1] == pytest.approx([0.291474] * 3, abs=1e-6)
    assert result["loss_after_update"] == pytest.approx(1.314609, abs=1e-6)
    # the full trace of `rnnkit explain` is kept, in rnnkit's names
    assert result["explain"]["updated"]["weight_hy"][1] == pytest.approx([0.291474] * 3, abs=1e-6)
