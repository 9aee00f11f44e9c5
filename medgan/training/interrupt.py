"""Stopping a training run cleanly on Ctrl-C (SIGINT) or SIGTERM: the loop finishes the current
step, writes a checkpoint and raises ``KeyboardInterrupt``, so ``--resume`` continues exactly. A
second signal acts at once, as it would without this.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """Context manager: while active, SIGINT and SIGTERM only set :attr:`signal`.

    Handlers are installed from the main thread only, and not for a signal the process ignores
    (a background job started without job control ignores SIGINT).

    Args:
        announce: write one line to stderr when a signal arrives.
    """

    def __init__(self, announce: bool = True) -> None:
        self.announce = announce
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """Whether a stop was asked for."""
        return self.signal is not None

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                previous = signal.getsignal(sig)
                if previous is not signal.SIG_IGN:
                    self._previous[sig] = previous
                    signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signum
        self._restore()  # a second signal takes the normal way out
        if self.announce:  # os.write: safe inside a handler, unlike print on a buffered stream
            os.write(2, f"\n{signal.Signals(signum).name}: stopping after this step to write a checkpoint "
                        "(send it again to stop at once)\n".encode())

    def _restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}

    def __exit__(self, *exc: object) -> None:
        self._restore()
