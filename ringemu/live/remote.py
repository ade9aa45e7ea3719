"""Starting a spec ring's parts on every host over SSH from one control host, and ending them.

``ringemu up --spec ring.toml --ssh`` works the way Jepsen's control node drives its nodes: it
runs the system's ``ssh`` (the user's own keys, agent and config; ringemu stores no credential
and adds only ``BatchMode=yes`` so nothing ever waits for a password) and on each host runs
``ringemu up --spec SPEC --host NAME --remote``: that host's launcher, which starts its parts
as any ``up --spec`` does.

1. *Before anything starts* every host is asked ``ringemu spec --check SPEC --host NAME`` (in
   parallel): it must answer, find the spec and its own keys, own its address and have its ports
   free. A host that cannot be reached, or whose check fails, is named and nothing starts.
2. Each host's launcher prints JSON lines on its stdout: first its own process record (pid,
   process group, kernel start time), then its children's, then (on the monitor's host) every
   event of the ring. The control host keeps the records in its ``ring.json`` (with the host's
   name) and the events in its run folder's ``events.jsonl``; each host's stderr goes to
   ``hosts/NAME.log`` there. Its own dashboard or text view talks to the monitor directly, with
   the operator key.
3. Ending: the monitor is asked to stop the ring, each ssh session's stdin is closed (a remote
   launcher whose stdin ends stops its parts, like a process whose parent died), and what is
   still running on a host is ended by ``ssh HOST ringemu end-groups RECORDS``: exactly the
   recorded process groups whose leader is still the process started (same kernel start time),
   never anything found by name. ``ringemu down`` does the same from the recorded ``ring.json``.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import threading
import time
from pathlib import Path

from ringemu.errors import ConfigError, RingemuError
from ringemu.live.client import ControlClient, EventStream, RingUnreachable
from ringemu.live.paths import (RingInfo, ensure_runtime_root, link_latest, new_run_id,
                                proc_start_time, runs_root, runtime_root)
from ringemu.live.procutil import end_groups
from ringemu.live.spec import HostSpec, RingSpec

log = logging.getLogger(__name__)

SSH_OPTIONS = ("-o", "BatchMode=yes", "-T")
"""Added to every ssh call: never prompt (a prompt would hang a ring's start), no terminal."""
CONNECT_TIMEOUT = 10
RECORD_KEY = "ringemu"
"""The key of a record line on a remote launcher's stdout (events have ``event``)."""


class LaunchFailed(RingemuError):
    """A host's parts could not be started or ended."""


def ssh_prefix(spec_options: tuple[str, ...], host: HostSpec) -> list[str]:
    return ["ssh", *SSH_OPTIONS, "-o", f"ConnectTimeout={CONNECT_TIMEOUT}", *spec_options,
            host.ssh]


def remote_command(host: HostSpec, *args: str) -> str:
    """The command line to run on ``host`` (ssh hands the remote shell one string)."""
    env = [f"RINGEMU_RUNTIME={host.runtime}"] if host.runtime else []
    argv = (["env", *env] if env else []) + [*host.ringemu, *args]
    return shlex.join(argv)


def run_ssh(prefix: list[str], command: str, timeout: float = 30.0,
            stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, command], capture_output=True, text=True, timeout=timeout,
                          input=stdin if stdin is not None else "", start_new_session=True)


def _why(host: HostSpec, p: subprocess.CompletedProcess) -> str:
    lines = [x for x in (p.stderr or "").strip().splitlines() if x.strip()]
    last = lines[-1] if lines else f"exit {p.returncode}"
    if p.returncode == 255:
        return f"host {host.name} (ssh {host.ssh}) cannot be reached: {last}"
    return f"host {host.name} (ssh {host.ssh}): {last.removeprefix('ringemu: error: ')}"


def preflight(spec: RingSpec, hosts: list[str]) -> None:
    """Every host answers over ssh and passes its own check (see the module docstring); a
    ConfigError names each that does not, before anything starts."""
    jobs = {}
    for name in hosts:
        host = spec.host(name)
        args = ["spec", "--check", host.spec, "--host", name]
        try:
            jobs[name] = subprocess.Popen(
                [*ssh_prefix(spec.ssh_options, host), remote_command(host, *args)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, start_new_session=True)
        except OSError as e:
            for proc in jobs.values():
                os.killpg(proc.pid, 9)
                proc.communicate()
            raise ConfigError(f"cannot run ssh ({e.strerror}): up --ssh uses the system's "
                              "ssh client") from None
    problems = []
    deadline = time.monotonic() + CONNECT_TIMEOUT + 30
    for name, proc in jobs.items():
        try:
            out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate()
            problems.append(f"host {name} (ssh {spec.host(name).ssh}) did not answer in time")
            continue
        if proc.returncode != 0:
            problems.append(_why(spec.host(name), subprocess.CompletedProcess(
                proc.args, proc.returncode, out, err)))
    if problems:
        raise ConfigError("; ".join(problems) + "; nothing was started")


def end_remote(prefix: list[str], host: HostSpec | dict, records: list[dict]) -> str | None:
    """End ``records`` (processes started on that host) there; None, or what went wrong."""
    if not records:
        return None
    keep = [{k: r.get(k) for k in ("pid", "pgid", "start_time")} for r in records]
    if isinstance(host, dict):
        argv = host["ringemu"]
        env = host.get("runtime")
        command = shlex.join((["env", f"RINGEMU_RUNTIME={env}"] if env else []) + argv
                             + ["end-groups", json.dumps(keep)])
    else:
        command = remote_command(host, "end-groups", json.dumps(keep))
    try:
        p = run_ssh(prefix, command, timeout=CONNECT_TIMEOUT + 20)
    except subprocess.TimeoutExpired:
        return "ssh did not finish in time"
    return None if p.returncode == 0 else (p.stderr.strip() or f"exit {p.returncode}")


class HostSession:
    """One host's launcher, running under ``ssh``; reads what it prints (see the module
    docstring)."""

    def __init__(self, spec: RingSpec, host: HostSpec, run_dir: Path, events_file,
                 lock: threading.Lock, runs_dir: str | None) -> None:
        self.host = host
        self.prefix = ssh_prefix(spec.ssh_options, host)
        args = ["up", "--spec", host.spec, "--host", host.name, "--remote"]
        runs = host.runs_dir or runs_dir
        if runs:
            args += ["--runs-dir", runs]
        self.log_path = run_dir / "hosts" / f"{host.name}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [*self.prefix, remote_command(host, *args)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log, start_new_session=True)
        self.record = {"role": "ssh", "index": None, "host": host.name, "pid": self.proc.pid,
                       "pgid": self.proc.pid, "start_time": proc_start_time(self.proc.pid)}
        self.remote: list[dict] = []
        """The processes started on the host: its launcher first, then the launcher's."""
        self.remote_run_dir: str | None = None
        self.events_file = events_file
        self.lock = lock
        self.changed = threading.Event()
        self.events = 0
        self.thread = threading.Thread(target=self._read, name=f"ssh-{host.name}", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            if RECORD_KEY in msg:
                self._take_record(msg)
            elif "event" in msg:
                with self.lock:
                    self.events_file.write(raw.decode("utf-8", "replace").rstrip("\n") + "\n")
                    self.events_file.flush()
                self.events += 1

    def _take_record(self, msg: dict) -> None:
        kind = msg.get(RECORD_KEY)
        procs = msg.get("processes") if kind == "processes" else [msg] if kind == "launcher" \
            else []
        with self.lock:
            for r in procs if isinstance(procs, list) else []:
                if not isinstance(r, dict) or type(r.get("pid")) is not int:
                    continue
                rec = {"role": r.get("role", "launcher") if kind == "processes" else "launcher",
                       "index": r.get("index"), "host": self.host.name, "pid": r["pid"],
                       "pgid": r.get("pgid", r["pid"]), "start_time": r.get("start_time")}
                if not any(x["pid"] == rec["pid"] and x["start_time"] == rec["start_time"]
                           for x in self.remote):
                    self.remote.append(rec)
            if isinstance(msg.get("run_dir"), str):
                self.remote_run_dir = msg["run_dir"]
        self.changed.set()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self) -> str:
        try:
            lines = [x for x in self.log_path.read_text(errors="replace").splitlines()
                     if x.strip()]
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def close_stdin(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass

    def finish(self, grace: float) -> None:
        """Wait for the session to end by itself (its launcher ended its parts: exit 0); if it
        does not, end what was recorded there over ssh, and the session."""
        deadline = time.monotonic() + grace
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        with self.lock:
            remote = list(self.remote)
        if self.alive() or self.proc.returncode != 0:
            why = end_remote(self.prefix, self.host, remote)
            if why:
                log.warning("ending the processes on host %s: %s", self.host.name, why)
                remote = []  # not known to have ended
        if self.alive():
            end_groups([self.record], grace=1.0)
        try:
            self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            pass
        with self.lock:
            for r in remote:
                r["exit"] = "ended"
            if self.proc.returncode is not None:
                self.record["exit"] = self.proc.returncode
        self.thread.join(timeout=2.0)
        self._log.close()


class SshRing:
    """A spec ring whose every host's parts this control host started over ssh. It answers
    the same calls as ``LiveRing`` (the views of ``ringemu up`` and the dashboard use either)."""

    def __init__(self, spec: RingSpec, runs_dir: str | None = None) -> None:
        self.spec = spec
        self.cfg_runs_dir = runs_dir
        self.run_id = new_run_id()
        self.runs = runs_root(runs_dir)
        self.run_dir = self.runs / self.run_id
        self.runtime_dir = runtime_root() / self.run_id
        self.sessions: dict[str, HostSession] = {}
        self.info: RingInfo | None = None
        self.client: ControlClient | None = None
        self.started = time.monotonic()
        self.up_s: float | None = None
        self.captured = 0
        self._lock = threading.Lock()
        self._events = None
        self._stopped = False
        self._keys = spec.operator_keys()

    def __enter__(self) -> SshRing:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def operator_keys(self):
        return self._keys

    def start(self, timeout: float | None = None) -> RingInfo:
        spec = self.spec
        hosts = spec.used_hosts()
        preflight(spec, hosts)
        ensure_runtime_root()
        try:
            (self.run_dir / "hosts").mkdir(parents=True)
            self.runtime_dir.mkdir(mode=0o700)
            os.chmod(self.runtime_dir, 0o700)  # just made by us
        except OSError as e:
            raise ConfigError(f"cannot create run folders: {e}") from None
        link_latest(self.runs, self.run_id)
        (self.run_dir / "config.json").write_text(json.dumps(
            {"run_id": self.run_id, "spec": str(spec.path), "hosts": hosts,
             "launcher_pid": os.getpid()}, indent=1))
        self._events = open(self.run_dir / "events.jsonl", "a", buffering=1)
        self.info = RingInfo(
            run_id=self.run_id, runtime_dir=str(self.runtime_dir), run_dir=str(self.run_dir),
            stations=len(spec.stations), endpoints=spec.monitor.endpoints(),
            launcher={"pid": os.getpid(), "start_time": proc_start_time(os.getpid())},
            processes=[], started=time.time(), spec=str(spec.path), host=None,
            remote={name: {"ssh": ssh_prefix(spec.ssh_options, spec.host(name)),
                           "ringemu": list(spec.host(name).ringemu),
                           "runtime": spec.host(name).runtime} for name in hosts})
        self.info.save()
        # the monitor's host first: its stations' hellos wait for nothing then
        for name in sorted(hosts, key=lambda h: h != spec.monitor.host):
            self.sessions[name] = HostSession(spec, spec.host(name), self.run_dir,
                                              self._events, self._lock, self.cfg_runs_dir)
            self._save()
        self.client = ControlClient(self.info.endpoints["control"], keys=self._keys)
        self._wait_up(timeout if timeout is not None else spec.startup_timeout + 10.0)
        self._save()
        return self.info

    def _save(self) -> None:
        if self.info is None:
            return
        with self._lock:
            procs = []
            for s in self.sessions.values():
                procs.append(s.record)
                procs.extend(s.remote)
            self.info.processes = procs
        self.info.save()

    def _wait_up(self, timeout: float) -> None:
        assert self.client is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_sessions()
            if any(s.changed.is_set() for s in self.sessions.values()):
                for s in self.sessions.values():
                    s.changed.clear()
                self._save()
            if self.client.running():
                self.up_s = time.monotonic() - self.started
                return
            time.sleep(0.02)
        raise LaunchFailed(f"the ring did not come up within {timeout:.0f} s; see the logs "
                           f"in {self.run_dir / 'hosts'} and each host's run folder")

    def _check_sessions(self) -> None:
        for name, s in self.sessions.items():
            if not s.alive():
                raise LaunchFailed(f"host {name}'s parts ended (ssh exit {s.proc.returncode})"
                                   f": {s.tail() or 'no message'}; see {s.log_path}")

    # -- the calls LiveRing answers ---------------------------------------------------------------
    def request(self, cmd: dict, timeout: float = 3.0) -> dict:
        if self.client is None:
            raise LaunchFailed("ring not started")
        return self.client.request(cmd, timeout)

    def events(self) -> EventStream:
        assert self.info is not None
        return EventStream(self.info.endpoints["events"], keys=self._keys)

    def poll_children(self) -> list[tuple[int, int]]:
        """Stations are their hosts' business (their exits come as events); here: a host whose
        session ended is a failed ring."""
        if self._stopped:
            return []
        if any(s.changed.is_set() for s in self.sessions.values()):
            for s in self.sessions.values():
                s.changed.clear()
            self._save()
        self._check_sessions()
        return []

    def record_error(self, detail: str) -> dict:
        event = {"event": "error", "t": round(time.monotonic() - self.started, 6),
                 "detail": detail}
        if self._events is not None:
            with self._lock:
                self._events.write(json.dumps(event) + "\n")
        return event

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.client is not None:
            try:
                self.client.request({"cmd": "stop"}, timeout=2.0)
            except RingUnreachable:
                pass
        for s in self.sessions.values():
            s.close_stdin()
        threads = [threading.Thread(target=s.finish, args=(5.0,)) for s in
                   self.sessions.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self._save()
        if self.info is not None:
            Path(self.run_dir, "ring.json").write_text(json.dumps(self.info.__dict__, indent=1))
        if self._events is not None:
            self._events.close()
        import shutil

        shutil.rmtree(self.runtime_dir, ignore_errors=True)


def end_recorded(info: RingInfo) -> list[str]:
    """``ringemu down`` of a ring whose launcher is gone: end the processes it recorded on
    other hosts, over ssh, host by host; returns what went wrong."""
    problems = []
    remote = info.remote or {}
    by_host: dict[str, list[dict]] = {}
    for r in info.processes:
        if r.get("host") and r.get("role") != "ssh":
            by_host.setdefault(r["host"], []).append(r)
    for name, records in by_host.items():
        how = remote.get(name)
        if not how:
            problems.append(f"host {name}: not recorded how to reach it")
            continue
        why = end_remote(list(how["ssh"]), how, records)
        if why:
            problems.append(f"host {name}: {why}")
    return problems
