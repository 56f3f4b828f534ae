"""Load the scripts of bench/ (not a package) as modules, for the bench tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_bench(name: str) -> ModuleType:
    """``bench/NAME.py`` as the module ``rnnkit_bench_NAME`` (registered in sys.modules; a
    second call returns the same module, so every test file sees one copy)."""
    loaded = sys.modules.get(f"rnnkit_bench_{name}")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(f"rnnkit_bench_{name}",
                                                  ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
