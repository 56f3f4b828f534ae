"""Copy the plots README's Recipes section shows from full runs into docs/recipes/NAME/.

Run each recipe with ``rnnkit recipe run NAME --full --out RUNS/NAME`` first, then::

    python docs/recipes/copy_plots.py RUNS

Each PNG is stored with a 128-colour palette (the plots use a few flat colours, so it looks
the same) to keep the repository small: every copy must stay under 150 KB.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

#: recipe -> the plots README embeds
PLOTS = {
    "worked-many-to-many": ["probabilities.png"],
    "worked-elman-jordan": ["elman_jordan.png"],
    "names-generation": ["loss.png"],
    "names-classification": ["confusion.png", "training.png"],
    "delayed-regression": ["predictions.png"],
    "pairwise-sum": ["learning_curve.png"],
    "char-gru-sentiment": ["cost.png", "accuracy.png"],
    "shakespeare-char-small": ["loss.png"],
    "vanishing-gradients": ["cells.png", "init_rnn.png", "clipping.png"],
    "kalman": ["estimates.png", "training.png"],
}
LIMIT = 150_000  # bytes per PNG


def main(runs: Path) -> int:
    here = Path(__file__).resolve().parent
    total = 0
    for recipe, files in PLOTS.items():
        for name in files:
            source = runs / recipe / name
            if not source.is_file():
                print(f"missing: {source} (run `rnnkit recipe run {recipe} --full "
                      f"--out {runs / recipe}`)", file=sys.stderr)
                return 1
            target = here / recipe / name
            target.parent.mkdir(parents=True, exist_ok=True)
            image = Image.open(source).convert("RGB")
            image.quantize(colors=128, method=Image.Quantize.MEDIANCUT,
                           dither=Image.Dither.NONE).save(target, optimize=True)
            size = target.stat().st_size
            total += size
            print(f"{target.relative_to(here.parent.parent)}  {size / 1000:.0f} KB")
            if size > LIMIT:
                print(f"{target} is over {LIMIT // 1000} KB", file=sys.stderr)
                return 1
    print(f"total {total / 1000:.0f} KB")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
