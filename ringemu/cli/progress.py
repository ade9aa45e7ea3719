"""Progress on long work: one line on a terminal, rewritten in place, nothing when piped.

``ringemu run``, long ``ringemu sim`` runs and ``scripts/bench`` show how far they are (time
left, snapshots, alarms so far) on stderr when it is a terminal; with ``--json`` or a pipe they
show nothing extra, so scripts read clean output.
"""

from __future__ import annotations

import sys
import time

import click


class Progress:
    """A progress line for work of ``total`` units (seconds, rotations)."""

    def __init__(self, total: float, enabled: bool, every: float = 0.5, unit: str = "s") -> None:
        self.total = total
        self.enabled = enabled
        self.every = every
        self.unit = unit
        self.started = time.monotonic()
        self._next = 0.0
        self._shown = False

    @classmethod
    def for_terminal(cls, total: float, quiet: bool = False, **kw) -> Progress:
        return cls(total, enabled=not quiet and sys.stderr.isatty(), **kw)

    def due(self, done: float) -> bool:
        """Time to redraw (never when disabled)."""
        if not self.enabled:
            return False
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.every
        return True

    def show(self, done: float, text: str) -> None:
        if not self.enabled:
            return
        left = self.eta(done)
        when = f", {left:,.0f} s left" if left is not None else ""
        click.echo(f"\r\033[K{done:,.1f}/{self.total:,g} {self.unit}{when}: {text}", err=True,
                   nl=False)
        self._shown = True

    def eta(self, done: float) -> float | None:
        """Wall seconds left, from the pace so far."""
        spent = time.monotonic() - self.started
        if done <= 0 or spent <= 0:
            return None
        return max(0.0, (self.total - done) * spent / done)

    def clear(self) -> None:
        if self._shown:
            click.echo("\r\033[K", err=True, nl=False)
            self._shown = False
