"""The progress bar: step, loss, metric, tokens/s and time left, on stderr (tqdm)."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

__all__ = ["Progress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``3725.0`` -> ``'1:02:05'``, ``65`` -> ``'1:05'``.

    Example:
        >>> format_seconds(3725.0), format_seconds(65)
        ('1:02:05', '1:05')
    """
    seconds = max(round(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """A tqdm bar over optimizer steps, or nothing when ``enabled`` is false.

    The time left is the smaller of what the step rate predicts for ``total`` steps and
    what remains of ``max_time``.

    Args:
        total: steps the run will make in all, or ``None`` when unknown.
        initial: steps already made (a resumed run).
        enabled: draw the bar.
        max_time: this invocation's time budget in seconds (0 = none).
    """

    def __init__(self, total: int | None, initial: int, enabled: bool, max_time: float) -> None:
        self.enabled = enabled
        self.total = total
        self.initial = initial
        self.max_time = max_time
        self.start = time.monotonic()
        self._bar = (
            tqdm(
                total=total,
                initial=initial,
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
                mininterval=0.5,
            )
            if enabled
            else None
        )

    def time_left(self, step: int) -> float | None:
        """Seconds left, or ``None`` when neither the total nor a time budget is known."""
        elapsed = time.monotonic() - self.start
        estimates = []
        done = step - self.initial
        if self.total is not None and done > 0:
            estimates.append(elapsed / done * max(self.total - step, 0))
        if self.max_time > 0:
            estimates.append(max(self.max_time - elapsed, 0.0))
        return min(estimates) if estimates else None

    def update(self, step: int, fields: dict[str, float | str]) -> None:
        """Move the bar to ``step`` and show ``fields`` plus the time left."""
        if self._bar is None:
            return
        shown = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items()]
        left = self.time_left(step)
        if left is not None:
            shown.append(f"left={format_seconds(left)}")
        self._bar.set_postfix_str(", ".join(shown), refresh=False)
        self._bar.update(step - self._bar.n)

    def write(self, message: str) -> None:
        """Print a line on stderr without breaking the bar (printed even when disabled)."""
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)

    def close(self) -> None:
        """Finish the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
