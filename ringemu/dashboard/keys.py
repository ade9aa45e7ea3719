"""The dashboard's keys, in one place read by the app's bindings, its help screen and
``ringemu dashboard --help``, so the three cannot disagree.

The fault keys come from the fault registry (``ringemu.faults.FAULTS``): every kind the live
ring supports that has a ``key`` gets that key, a footer label and the registry's help text.
Selection uses the arrows or ``j``/``K``: ``k`` is the kill key, so shift-K moves up. Textual-free,
so the CLI can read it without loading the app.
"""

from __future__ import annotations

from dataclasses import dataclass

from ringemu.faults import FAULTS, FaultKind, Shell, check_arg, kinds_for

KEY_ARGS: dict[FaultKind, float] = {FaultKind.PAUSE: 2.0}
"""The argument a fault key passes where the registry's default is not what someone at the
screen wants (a pause long enough to watch the alarm it causes). Seconds: the dashboard drives
live rings only."""

APP_KEYS = {"up": "select", "down": "select", "left": "select", "right": "select",
            "j": "select", "K": "select", "r": "restart", "s": "snapshot", "v": "panels",
            "question_mark": "help", "q": "leave"}
"""Keys the app binds besides the fault keys; a registry key among them is a mistake."""


@dataclass(frozen=True, slots=True)
class FaultKey:
    """One fault key: ``key`` injects ``kind`` (with ``arg``) at the selected station."""

    key: str
    kind: FaultKind
    arg: float | None
    help: str

    @property
    def label(self) -> str:
        """The footer's words: ``lose``, ``pause 2s``."""
        return self.kind.value if self.arg is None else f"{self.kind.value} {self.arg:g}s"

    @property
    def action(self) -> str:
        return f"inject('{self.kind.value}')"


def fault_keys() -> tuple[FaultKey, ...]:
    """The registry's keyed fault kinds that the live shell supports, in registry order."""
    keys = []
    for kind in kinds_for(Shell.LIVE):
        info = FAULTS[kind]
        if info.key is None:
            continue
        if info.key in APP_KEYS:
            raise ValueError(f"fault {kind} wants key {info.key!r}, which the dashboard uses "
                             f"for {APP_KEYS[info.key]}")
        arg = None if info.arg is None else check_arg(kind, KEY_ARGS.get(kind))
        text = info.help if arg is None else info.help.replace("ARG", f"{arg:g}")
        keys.append(FaultKey(info.key, kind, arg, text))
    return tuple(keys)


FAULT_KEYS = fault_keys()
BY_KIND = {k.kind: k for k in FAULT_KEYS}


def leave_label(owns_ring: bool, commands: bool, short: bool = False) -> str:
    """The footer's words for ``q``: what leaving does to the ring (``short``: for an
    80-column footer, where the help screen says the rest)."""
    if owns_ring:
        return "quit + end ring"
    if not commands:
        return "quit"
    return "detach" if short else "detach (ring keeps running)"


def leave_text(owns_ring: bool, commands: bool) -> str:
    """The help screen's words for ``q``."""
    if owns_ring:
        return "quit, and end the ring this dashboard started"
    if not commands:
        return "quit the replay"
    return "detach: quit the dashboard, the ring keeps running"


RESTART_TEXT = ("restart the selected station if it is dead: the ring starts its process "
                "again and inserts it between its neighbours")
PANELS_TEXT = ("switch the lower panel between the stations, the snapshot with its plots and "
               "the alarm log (when the terminal is too small to show them side by side)")


def keys_summary() -> str:
    """Every key in one paragraph, for ``ringemu dashboard --help``."""
    faults = ", ".join(f"{k.key} {k.kind.value}" + ("" if k.arg is None else f" ({k.arg:g} s)")
                       for k in FAULT_KEYS)
    return (f"Keys: arrows or j/K select a station (K moves up: k kills); {faults}; "
            "r restart a dead station; s snapshot; v switch panels (small terminal); ? help; "
            "q quit.")
