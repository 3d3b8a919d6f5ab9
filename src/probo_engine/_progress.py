"""The package's one text progress bar (stderr by default, no dependency).

Used by the simulator (``SimConfig(progress=True)``: :meth:`ProgressBar.update`
once per chunk of steps) and by journal recovery (``DurableEngine.open(...,
progress=True)``: the bar is the ``progress(done, total, commands)`` callback
itself).  It redraws at most every ``interval`` seconds, so a caller may
report as often as it likes.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """``label [#########.........]  45%  45,000/100,000 steps  0.8s  eta 1.0s``.

    >>> import io
    >>> out = io.StringIO()
    >>> bar = ProgressBar(10, stream=out, width=10, interval=0)
    >>> bar.update(5); bar.close()
    >>> out.getvalue().splitlines()[-1].split()[:3]
    ['[##########]', '100%', '10/10']

    As a callback ``bar(done, total, count)`` it jumps to ``done`` of ``total``
    (the total may change between calls), shows ``count`` ``count_unit`` and
    their rate, and closes itself once ``done >= total``.
    """

    def __init__(
        self,
        total: int = 0,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        width: int = 30,
        unit: str = "steps",
        interval: float = 0.1,
        label: str = "",
        count_unit: str = "",
    ) -> None:
        self.total = max(int(total), 1)
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.unit = unit
        self.interval = interval
        self.label = label
        self.count_unit = count_unit
        self.done = 0
        self.count: int | None = None
        self._t0 = time.perf_counter()
        self._last = -1.0e9
        self._closed = False
        self._width_drawn = 0

    def update(self, n: int) -> None:
        """Advance by ``n`` and redraw if ``interval`` has passed."""
        self.done = min(self.total, self.done + n)
        self._maybe_draw()

    def __call__(self, done: int, total: int, count: int) -> None:
        """The progress-callback form: ``done`` of ``total``, ``count`` items."""
        self.total = max(int(total), 1)
        self.done = min(self.total, max(int(done), 0))
        self.count = count
        if done >= total:
            self.close()
        else:
            self._maybe_draw()

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

    def _maybe_draw(self) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = self.done / self.total
        fill = int(round(frac * self.width))
        elapsed = now - self._t0
        eta = elapsed * (1 - frac) / frac if frac > 0 else 0.0
        line = (
            f"\r{self.label + ' ' if self.label else ''}"
            f"[{'#' * fill}{'.' * (self.width - fill)}] {frac:4.0%}"
            f"  {self.done:,}/{self.total:,} {self.unit}  {elapsed:.1f}s"
        )
        if self.count is not None:
            rate = self.count / max(elapsed, 1e-9)
            line += f"  {self.count:,} {self.count_unit} ({rate:,.0f}/s)"
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
