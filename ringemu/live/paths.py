"""Where a live ring keeps its sockets, its records, and how other commands find it.

Two places per ring:

- the *runtime folder* ``<parent>/ringemu-<uid>/<run id>/`` (``<parent>`` is
  ``$RINGEMU_RUNTIME``, default ``/tmp``): the ``ipc://`` sockets (short paths, as ipc needs),
  ``ring.json``, which says how to reach the ring (endpoints) and which processes it is made of
  (pid, process group, start time), and on tcp ``keys.json``, the run's CURVE keys.
  ``ringemu inject``/``down``/``dashboard`` find the newest running ring here. Everything in it
  is trusted (the monitor signals the pids ``ring.json`` records), so ``ringemu-<uid>`` must be
  ours and 0700: ringemu makes it so when it creates it, and refuses one that is not, rather
  than change the mode of a folder it did not make (``$RINGEMU_RUNTIME=/tmp`` must never lock
  /tmp for everyone).
- the *run folder* ``<runs>/<run id>/`` (``--runs-dir``, ``$RINGEMU_RUNS``, default ``./runs``):
  what stays after the ring is gone: ``config.json``, ``events.jsonl``, one log per process,
  ``capture.pcap`` when asked for, ``summary.json`` for headless runs; ``<runs>/latest`` links to
  the newest run.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from ringemu.errors import ConfigError

log = logging.getLogger(__name__)


def runtime_root() -> Path:
    """``<parent>/ringemu-<uid>``, checked if it exists (it may not: no ring ran yet)."""
    root = Path(os.environ.get("RINGEMU_RUNTIME") or "/tmp") / f"ringemu-{os.getuid()}"
    if os.path.lexists(root):
        _check_private(root)
    return root


def ensure_runtime_root() -> Path:
    """``runtime_root()``, created 0700 if missing (its parent too, like ``mkdir -p``)."""
    root = runtime_root()
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        root.mkdir(mode=0o700)
    except FileExistsError:
        _check_private(root)  # made by someone else meanwhile: check it like any other
    except OSError as e:
        raise ConfigError(f"cannot create the runtime folder {root}: {e}") from None
    else:
        os.chmod(root, 0o700)  # ours, just made: the umask must not widen or narrow it
    return root


def _check_private(root: Path) -> None:
    """A runtime folder must be a real directory (not a link), ours, mode 0700."""
    try:
        st = os.lstat(root)
    except OSError as e:
        raise ConfigError(f"runtime folder {root}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"runtime folder {root} is not a directory; remove it or set "
                          "RINGEMU_RUNTIME to another parent folder")
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid != os.getuid() or mode != 0o700:
        raise ConfigError(f"runtime folder {root} must be yours with mode 0700 (owner uid "
                          f"{st.st_uid}, mode {mode:04o}); ringemu will not use or change it")


def runs_root(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("RINGEMU_RUNS") or "runs")


def link_latest(runs: Path, run_id: str) -> None:
    """Point ``<runs>/latest`` at ``run_id`` (atomically: a reader never sees it missing)."""
    latest = runs / "latest"
    tmp = runs / f".latest-{os.getpid()}"
    try:
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(run_id)
        tmp.replace(latest)
    except OSError as e:
        log.warning("cannot update %s: %s", latest, e)


def new_run_id() -> str:
    t = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(t))
    return f"{stamp}-{int(t * 1000) % 1000:03d}-{os.getpid()}"


def proc_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if it is gone.

    Recorded at launch and compared before any signal, so a recycled pid is never signalled.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[19])  # field 22 overall


def proc_state(pid: int) -> str | None:
    """The kernel's one-letter state of ``pid`` (R, S, T for stopped, Z...), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(b")") + 2:].split()[0].decode()


def same_process(pid: int, start_time: int | None) -> bool:
    """Is ``pid`` still the process we started (same kernel start time)?"""
    return start_time is not None and proc_start_time(pid) == start_time


@dataclass
class RingInfo:
    """The contents of ``ring.json``: how to reach a ring and what it is made of."""

    run_id: str
    runtime_dir: str
    run_dir: str
    stations: int
    endpoints: dict
    launcher: dict
    processes: list[dict]
    started: float
    spec: str | None = None
    """The ring spec this launcher started its parts from (``ringemu.live.spec``)."""
    host: str | None = None
    """The spec's name of the host whose parts these are."""
    remote: dict | None = None
    """For a ring started over ssh (``ringemu.live.remote``): how to reach each host (its ssh
    command and ringemu command), so ``ringemu down`` can end what was started there."""

    @property
    def path(self) -> Path:
        return Path(self.runtime_dir) / "ring.json"

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=1))
        tmp.replace(self.path)
        Path(self.run_dir, "ring.json").write_text(json.dumps(self.__dict__, indent=1))

    @classmethod
    def load(cls, path: Path) -> "RingInfo":
        try:
            data = json.loads(Path(path).read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError) as e:
            raise ConfigError(f"{path}: not a ringemu ring description ({e})") from None

    def launcher_alive(self) -> bool:
        return same_process(self.launcher["pid"], self.launcher.get("start_time"))

    def process(self, role: str, index: int | None = None) -> dict | None:
        for p in self.processes:
            if p["role"] == role and p.get("index") == index:
                return p
        return None


def running_rings() -> list[RingInfo]:
    """Rings whose launcher is alive, newest first."""
    root = runtime_root()
    rings = []
    if root.is_dir():
        for entry in root.iterdir():
            f = entry / "ring.json"
            if f.is_file():
                try:
                    info = RingInfo.load(f)
                except ConfigError:
                    continue
                if info.launcher_alive():
                    rings.append(info)
    return sorted(rings, key=lambda r: r.started, reverse=True)


def find_ring(which: str | None) -> RingInfo:
    """The ring a command should talk to: ``which`` is a run id, a run folder or a ring.json;
    by default the most recently started ring that is still running."""
    if which:
        p = Path(which)
        for candidate in (p / "ring.json", p, runtime_root() / which / "ring.json"):
            if candidate.is_file():
                return RingInfo.load(candidate)
        raise ConfigError(f"no ring found at {which!r}")
    rings = running_rings()
    if not rings:
        raise ConfigError("no running ring found (start one with 'ringemu up')")
    return rings[0]


def event_from(data: bytes | str) -> dict | None:
    """One event (a JSON object) from a line or a message; None for anything else."""
    try:
        e = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return e if isinstance(e, dict) else None


def read_events(path: Path) -> list[dict]:
    """The events of a recorded run, skipping lines that are not JSON objects."""
    try:
        with open(path, encoding="utf-8") as f:
            return [e for e in map(event_from, f) if e is not None]
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from None
