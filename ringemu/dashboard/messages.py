"""The dashboard's messages: small dataclasses a worker thread posts to the app.

``post_message`` is safe from a worker thread, so the rare things a worker has to say (a notice,
a command's reply) reach the UI as one of these. Events do not: they are many, and go through
the app's ``Inbox`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


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
