"""`rnnkit explain ... | head`: a reader that stops early ends the command quietly.

The command sees its stdout closed (BrokenPipeError); like `cat` or `git log`, it stops without
a traceback and with the status 141 (128 + SIGPIPE) a shell shows for them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PARAMS = {"weight_ih": [[1.0, 0.0], [0.5, -2.0]], "weight_hh": [[0.5, 0.2], [0.1, 0.0]]}


@pytest.mark.parametrize("output", [[], ["--json"]], ids=["text", "json"])
def test_a_closed_stdout_ends_quietly(output: list[str], tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(json.dumps(PARAMS))
    # 3000 steps: far more than a pipe holds, so writing goes on after the reader has gone
    (tmp_path / "i.json").write_text(json.dumps([[0.001 * t, 1.0] for t in range(3000)]))
    command = [sys.executable, "-c", "import sys; from rnnkit.cli import main; sys.exit(main())",
               "explain", "rnn", "--params", str(tmp_path / "p.json"), "--inputs",
               str(tmp_path / "i.json"), *output]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(100)  # what `head -c 100` reads
        proc.stdout.close()
        err = proc.stderr.read().decode()
        status = proc.wait(timeout=60)
    assert err == ""
    assert status == 141
