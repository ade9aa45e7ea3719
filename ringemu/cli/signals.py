"""Turning SIGTERM (``ringemu down``) and SIGHUP into the same orderly stop as Ctrl-C."""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator


class StopRequested(Exception):
    """Raised in the main thread when the ring was asked to stop by a signal."""


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """The first SIGTERM or SIGHUP raises ``StopRequested``; later ones are ignored, so a
    second request (a remote launcher's stdin ending as ``down`` signals it) cannot cut the
    orderly stop the first one began."""
    fired = []

    def handler(signum, frame):  # noqa: ARG001
        if fired:
            return
        fired.append(signum)
        raise StopRequested(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
