"""Starting and ending the processes of a live ring, exactly and only those.

Stations and the monitor are forked from the launcher, which has already imported ZeroMQ and
the codec (64 forks take a fraction of a second; 64 fresh interpreters take seconds). Each child
becomes the leader of its own process group, is recorded with its pid, process group and kernel
start time, and asks the kernel for SIGKILL if the launcher dies, so no path leaves a station
running. Nothing is ever killed by name: only recorded groups whose leader is still the very
process we started (same start time) are signalled.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable

from ringemu.live.paths import proc_start_time, same_process

log = logging.getLogger(__name__)


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL | None:
    """libc, loaded once in the launcher so that every forked child has it already."""
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            return None
    return _LIBC


def die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this process when its parent (the launcher) dies."""
    libc = _libc()
    if libc is not None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def setup_logging(path: str | None) -> None:
    """Log to ``path`` (a run-folder file) or stderr; replaces any inherited handlers."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler: logging.Handler
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def fork_child(target: Callable[[], int], log_file: str | None) -> dict:
    """Fork a child in its own process group running ``target``; returns its record.

    The child's stdin is /dev/null and its stdout/stderr go to ``log_file``, so nothing it
    prints can reach the terminal (a dashboard may own it). The child never returns into the
    caller's code: it leaves with ``os._exit``.
    """
    return fork_children([(target, log_file)])[0]


def fork_children(children: list[tuple[Callable[[], int], str | None]]) -> list[dict]:
    """Fork every ``(target, log_file)`` as ``fork_child`` does; returns their records.

    The forks come in a tight loop and the records (the kernel's start times) are read
    afterwards: between two forks the launcher writes as little memory as it can, because
    each page it writes after a fork is copied (it is shared with the child until then), and
    that copying, not the fork itself, was most of a launch's cost in the launcher. A pid
    cannot be reused before we reap it, so reading its start time later is as safe. The
    children wait at a gate (a pipe) until the last is forked: starting at once, they took
    the CPU from the loop that forks them (64 forks took 0.57 s instead of 0.07 s).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    _libc()
    pids = []
    fork, setpgid = os.fork, os.setpgid
    gate_r, gate_w = os.pipe()
    try:
        for target, log_file in children:
            pid = fork()
            if pid == 0:  # child: wait at the gate until every sibling is forked
                os.close(gate_w)
                os.read(gate_r, 1)  # end of file once the launcher closes its end
                os.close(gate_r)
                _child(parent, target, log_file)
            try:
                setpgid(pid, pid)  # also from the parent: the group exists before we record it
            except OSError:
                pass  # the child already did it, or already exited
            pids.append(pid)
    finally:
        os.close(gate_w)  # open the gate
        os.close(gate_r)
    return [{"pid": pid, "pgid": pid, "start_time": proc_start_time(pid)} for pid in pids]


def _child(parent: int, target: Callable[[], int], log_file: str | None) -> None:
    """The forked child: its own process group, dies with the launcher, never returns."""
    code = 1
    try:
        os.setpgid(0, 0)
        die_with_parent()
        if os.getppid() != parent:
            os._exit(1)
        _redirect_stdio(log_file)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the launcher's to handle
        code = target()
    except BaseException:  # noqa: BLE001 - report anything, then leave
        try:
            logging.getLogger(__name__).exception("child crashed")
        finally:
            os._exit(1)
    os._exit(code)


def _redirect_stdio(log_file: str | None) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        out = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    else:
        out = devnull
    os.dup2(out, 1)
    os.dup2(out, 2)


def reap(pid: int) -> int | None:
    """Collect ``pid`` if it has exited; returns its exit status (negative: killed by signal)."""
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return -999  # not our child (or already reaped)
    if got == 0:
        return None
    return os.waitstatus_to_exitcode(status)


def end_groups(records: list[dict], grace: float = 1.0) -> None:
    """End every recorded process group still led by the process we started.

    SIGTERM first (a station closes its sockets and writes its capture), SIGKILL after
    ``grace`` seconds for any that remain. Children of ours are reaped.
    """
    live = [r for r in records if _alive(r)]
    for r in live:
        _signal_group(r, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while live and time.monotonic() < deadline:
        live = [r for r in live if _alive(r)]
        if live:
            time.sleep(0.01)
    for r in live:
        # a stopped (SIGSTOPped) process cannot act on SIGTERM; SIGKILL works regardless
        _signal_group(r, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(_alive(r) for r in records):
        time.sleep(0.01)


def _alive(r: dict) -> bool:
    if r.get("exit") is not None:
        return False
    status = reap(r["pid"])
    if status is not None and status != -999:
        r["exit"] = status
        return False
    return same_process(r["pid"], r.get("start_time"))


def _signal_group(r: dict, sig: int) -> None:
    if not same_process(r["pid"], r.get("start_time")):
        return
    try:
        os.killpg(r["pgid"], sig)
    except ProcessLookupError:
        pass
    except PermissionError as e:
        log.warning("cannot signal process group %d: %s", r["pgid"], e)


def machine_load() -> float:
    """Runnable processes per CPU over the last minute (1: every CPU busy)."""
    try:
        return os.getloadavg()[0] / max(1, len(os.sched_getaffinity(0)))
    except OSError:
        return 1.0


def load_factor(load: float | None = None) -> int:
    """How much longer than on an idle machine to allow for what waits on the scheduler:
    1 up to a load of 1, then doubling with the load (2 up to 2, 4 up to 4...), at most 64.
    In steps, so that a wobbling load does not change every timer each time it is read."""
    load = machine_load() if load is None else load
    factor = 1
    while load > factor and factor < 64:
        factor *= 2
    return factor


def startup_limit(stations: int) -> float:
    """Seconds a ring of ``stations`` may take to come up: 10 s and 50 ms a station, longer on
    a loaded machine (every station process must be scheduled a few times to start)."""
    return (10.0 + 0.05 * stations) * load_factor()
