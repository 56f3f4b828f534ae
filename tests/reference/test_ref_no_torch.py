"""The reference engine stands alone: it imports and runs with torch made unimportable."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_reference_runs_without_torch(tmp_path) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        sys.modules["torch"] = None  # any `import torch` now raises ImportError
        import numpy as np
        import rnnkit.reference as ref
        from rnnkit.reference import fit, flow, gradcheck, optim, trace
        from rnnkit.cli import main

        net = ref.Network("lstm", 2, 3, num_layers=2, bidirectional=True, output_size=2,
                          output_activation="softmax")
        params = net.init_params(seed=0)
        x = np.random.default_rng(0).normal(size=(2, 4, 2))
        value, grads, fwd = net.loss_and_grads(params, x, np.zeros((2, 4), dtype=int))
        gru = ref.Network("gru", 2, 2)
        result = gradcheck.check_network_gradients(gru, gru.init_params(), x)
        assert result.ok, result.table()
        assert main(["gradcheck", "rnn"]) == 0
        from rnnkit import spec_variants  # the variants' specs, and the reference cells
        assert spec_variants.lstm_variant_spec("fgr").state_names == ("h", "c", "a")
        fgr = ref.Network("lstm", 2, 2, variant="fgr", bidirectional=True)
        assert gradcheck.check_network_gradients(fgr, fgr.init_params(), x[:1, :2]).ok
        assert main(["gradcheck", "mut2", "--steps", "2", "--hidden-size", "2"]) == 0
        assert "torch" not in {m.split(".")[0] for m, v in sys.modules.items() if v is not None}
        print("OK", value > 0)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("OK True")
