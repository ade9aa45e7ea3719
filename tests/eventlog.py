"""JSON lines a process prints (a ring's events), read in a thread and stamped with when each
arrived here: the live tests wait on them and time detection and recovery with them."""

from __future__ import annotations

import json
import threading
import time


class EventLog:
    """The JSON lines a process prints, each stamped with when it arrived here."""

    def __init__(self, stream) -> None:
        self.lines: list[tuple[float, dict]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for raw in stream:
            try:
                e = json.loads(raw)
            except ValueError:
                continue
            if isinstance(e, dict):
                with self.lock:
                    self.lines.append((time.monotonic(), e))

    def since(self, t: float) -> list[tuple[float, dict]]:
        with self.lock:
            return [(at, e) for at, e in self.lines if at >= t]

    def wait(self, pred, after: float = 0.0, timeout: float = 60.0) -> tuple[float, dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, e in self.since(after):
                if pred(e):
                    return at, e
            time.sleep(0.05)
        raise AssertionError(f"no such event within {timeout:g} s")


def ok_snapshot(e: dict) -> bool:
    return e.get("event") == "snapshot" and e.get("verdict") == "OK" and e.get("count") == 1
