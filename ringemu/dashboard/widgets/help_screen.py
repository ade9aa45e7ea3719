"""The help overlay (``?``): every key, and what ``q`` does for this dashboard."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = """\
[b]Keys[/b]

  [b]\u2191 \u2193 \u2190 \u2192[/b] or [b]j K[/b]   select a station (the ring wraps)
  [b]l[/b]   lose: the selected station drops the next token or frame
  [b]d[/b]   duplicate: it releases an extra free token
  [b]c[/b]   corrupt: the next token or frame it sends has a bad FCS
  [b]k[/b]   kill it (SIGKILL; shift-K moves the selection up)
  [b]p[/b]   pause it for {pause:g} s (SIGSTOP, then SIGCONT)
  [b]s[/b]   take a snapshot now
  [b]?[/b]   this help
  [b]q[/b]   {quit}

[b]The ring[/b]
  \\[ i ] is a station: green alive, yellow paused, red dead.
  On a link, \u25cf is a free token and \u25a0 a busy frame, where the latest complete
  snapshot found them; * marks a station whose frame is out.
  Alarms stay in the log after they clear.

[dim]escape, ? or q closes this help[/dim]"""


def quit_text(owns_ring: bool, commands: bool) -> str:
    if owns_ring:
        return "quit, and end the ring this dashboard started"
    if not commands:
        return "quit the replay"
    return "detach: quit the dashboard, the ring keeps running"


class HelpScreen(ModalScreen[None]):
    """See the module docstring."""

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "close help"),
    ]

    def __init__(self, owns_ring: bool, commands: bool, pause: float) -> None:
        super().__init__()
        self.text = KEYS.format(quit=quit_text(owns_ring, commands), pause=pause)
        if not commands:
            self.text += "\n[b yellow]This is a replay: keys that act on the ring are disabled.[/]"

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static(self.text)

    def action_dismiss(self, result=None) -> None:
        self.dismiss(None)
