"""Progress of a training run that a user can see: a tqdm bar on a terminal, and plain lines every
few seconds when stderr goes to a log file or a pipe (where a bar would stay silent).

A plain line reads ``lesion-gan: step 120/2000 (6%), 1.52 steps/s, ETA 0:20:36, D 1.21, G_adv 0.693``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TextIO


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` of a number of seconds."""
    seconds = int(round(max(0.0, seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Shows how far a run is: a bar on a terminal, a plain line every ``seconds`` otherwise.

    Args:
        name: what is running (the family's name).
        total: the step the run ends at.
        start: the step it starts from (a resumed run starts later).
        enabled: show anything at all.
        seconds: seconds between plain lines (a line also follows the first step and the last).
        stream: where to write (default ``sys.stderr``).
    """

    def __init__(self, name: str, total: int, start: int, enabled: bool = True, seconds: float = 30.0,
                 stream: TextIO | None = None) -> None:
        self.name, self.total, self.start, self.seconds = name, total, start, seconds
        self.stream = stream if stream is not None else sys.stderr
        self.losses: Mapping[str, float] = {}
        self.began = self.last_line = time.monotonic()
        self.plain = enabled and not _is_terminal(self.stream)
        self.bar = None
        if enabled and not self.plain:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=start, dynamic_ncols=True, desc=name, file=self.stream)

    def update(self, done: int, losses: Mapping[str, float] | None = None) -> None:
        """Record that ``done`` steps are finished (``losses``: the newest logged values)."""
        if losses is not None:
            self.losses = losses
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            if losses is not None:
                self.bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
        elif self.plain:
            now = time.monotonic()
            if done == self.start + 1 or done >= self.total or now - self.last_line >= self.seconds:
                self.last_line = now
                print(self.line(done, now), file=self.stream, flush=True)

    def line(self, done: int, now: float) -> str:
        """The plain progress line after ``done`` steps at monotonic time ``now``."""
        rate = (done - self.start) / max(now - self.began, 1e-9)
        eta = format_duration((self.total - done) / rate) if rate > 0 else "?"
        parts = [f"{self.name}: step {done}/{self.total} ({100 * done / max(self.total, 1):.0f}%)",
                 f"{rate:.3g} steps/s", f"ETA {eta}"]
        parts += [f"{k} {v:.3g}" for k, v in self.losses.items()]
        return ", ".join(parts)

    def close(self) -> None:
        """Close the bar (plain lines need nothing)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
