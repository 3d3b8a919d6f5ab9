"""A tiny text progress bar for long runs (stderr by default, no dependency).

It is updated once per chunk of steps, never per order, so it costs nothing
measurable; it redraws at most every ``interval`` seconds.  Off unless asked
for (``SimConfig(progress=True)``).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """``[#########.........]  45%  45,000/100,000 steps  0.8s  eta 1.0s``.

    >>> import io
    >>> out = io.StringIO()
    >>> bar = ProgressBar(10, stream=out, width=10, interval=0)
    >>> bar.update(5); bar.close()
    >>> out.getvalue().splitlines()[-1].split()[:3]
    ['[##########]', '100%', '10/10']
    """

    def __init__(
        self,
        total: int,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        width: int = 30,
        unit: str = "steps",
        interval: float = 0.1,
    ) -> None:
        self.total = max(int(total), 1)
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.unit = unit
        self.interval = interval
        self.done = 0
        self._t0 = time.perf_counter()
        self._last = -1.0e9
        self._closed = False
        self._width_drawn = 0

    def update(self, n: int) -> None:
        """Advance by ``n`` and redraw if ``interval`` has passed."""
        self.done = min(self.total, self.done + n)
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            self._draw(now)

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self._closed:
            return
        self._closed = True
        if self.enabled:
            self.done = self.total
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        frac = self.done / self.total
        fill = int(round(frac * self.width))
        elapsed = now - self._t0
        eta = elapsed * (1 - frac) / frac if frac > 0 else 0.0
        line = (
            f"\r[{'#' * fill}{'.' * (self.width - fill)}] {frac:4.0%}"
            f"  {self.done:,}/{self.total:,} {self.unit}  {elapsed:.1f}s"
        )
        if frac < 1:
            line += f"  eta {eta:.1f}s"
        pad = max(0, self._width_drawn - len(line))
        self._width_drawn = len(line)
        self.stream.write(line + " " * pad)
        self.stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
