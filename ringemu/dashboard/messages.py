"""The dashboard's messages: small dataclasses posted to the app.

``post_message`` is the one call that is safe from a worker thread, so everything a source or
a command worker has to say reaches the UI as one of these. ``StateChanged`` is the high-rate
one: it may replace a pending ``StateChanged``, so however many event batches arrive while the
UI is busy, they cost one repaint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message


@dataclass
class EventBatch(Message):
    """Monitor events, oldest first, gathered by a source (at most ~10 batches a second)."""

    events: list[dict] = field(default_factory=list)


@dataclass
class StateChanged(Message):
    """The folded ring state moved on: repaint. A burst of these collapses into one."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StateChanged)


@dataclass
class SourceNotice(Message):
    """Something the user should know about the source (ring unreachable, replay finished)."""

    text: str
    severity: str = "information"  # information, warning or error (as ``App.notify``)


@dataclass
class CommandDone(Message):
    """The ring answered (or did not answer) a control request sent from a key."""

    cmd: dict
    reply: dict
