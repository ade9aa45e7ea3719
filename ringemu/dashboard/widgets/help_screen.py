"""The help overlay (``?``): every key, what ``q`` does for this dashboard, and how to read
the ring.

The fault keys and their descriptions come from ``dashboard.keys`` (so from the fault registry),
laid out in a grid so a long description wraps under itself, not under its key. On a short
terminal the box loses its padding and scrolls (the keys come first).
"""

from __future__ import annotations

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ringemu.dashboard.keys import FAULT_KEYS, PANELS_TEXT, RESTART_TEXT, leave_text

LEGEND = """\
[b]The ring[/b]
  \\[ i ] is a station: green alive, yellow paused, red dead.
  \\[iA] is the active monitor; the title shows its 802.5 address and the epoch.
  \u2504\\[i ]\u2504 dim, struck through: bypassed, the ring runs without it.
  \\[i\u21bb] is being restarted, until the ring inserts it again (a new epoch).
  On a link, \u25cf is a free token and \u25a0 a busy frame, where the latest complete
  snapshot found them; * marks a station whose frame is out.
  Alarms stay in the log after they clear. The timeline marks faults (orange),
  alarms (red) and ring changes (cyan)."""

CLOSE = "escape, ? or q closes this help"

REPLAY_NOTE = "[b yellow]This is a replay: keys that act on the ring are disabled.[/]"


def key_rows(owns_ring: bool, commands: bool) -> list[tuple[str, str]]:
    """(keys, what they do), in the order the help shows them."""
    select = "select a station (the ring wraps; shift-K moves up, since k kills)"
    return ([("\u2191\u2193\u2190\u2192 jK", select)]
            + [(k.key, f"{k.kind.value}: {k.help}") for k in FAULT_KEYS]
            + [("r", RESTART_TEXT), ("s", "take a snapshot now"), ("v", PANELS_TEXT),
               ("?", "this help"), ("q", leave_text(owns_ring, commands))])


class HelpScreen(ModalScreen[None]):
    """See the module docstring."""

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "close help"),
    ]
    VERTICAL_BREAKPOINTS = [(0, "-compact"), (36, "-roomy")]

    def __init__(self, owns_ring: bool, commands: bool) -> None:
        super().__init__()
        self.rows = key_rows(owns_ring, commands)
        self.commands = commands
        self.text = "\n".join(f"{keys}  {what}" for keys, what in self.rows)
        """The keys as plain text (for tests, and anyone reading the help programmatically)."""

    def compose(self) -> ComposeResult:
        grid = Table.grid(padding=(0, 3))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        for keys, what in self.rows:
            grid.add_row(keys, what)
        parts = [Text("Keys\n", style="bold"), Padding(grid, (0, 0, 0, 2)), Text(),
                 Text.from_markup(LEGEND)]
        if not self.commands:
            parts.append(Text.from_markup(REPLAY_NOTE))
        with VerticalScroll(id="help") as box:
            box.border_subtitle = CLOSE
            yield Static(Group(*parts))

    def action_dismiss(self, result=None) -> None:
        self.dismiss(None)
