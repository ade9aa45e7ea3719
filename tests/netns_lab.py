"""A lab of network namespaces on this machine, standing in for hosts (root only).

Hosts are namespaces joined by a bridge that lives in a namespace of its own
(``../shared/notes/zeromq-and-faults.md``): each host has ``lo`` and ``eth0`` with a private
address of the lab's subnet, whose other end (``veth-NAME``) is a port of the bridge. A
partition is an nft rule in the bridge's namespace, so no host sees it coming.

Rules every user of the lab keeps (and ``Lab`` enforces where it can):

- every process runs under ``ip netns exec`` through ``Lab.cmd``, which checks with
  ``ip netns identify`` that the process is inside its namespace before it runs (so before it
  connects anywhere): outside its namespace a lab address would route off the machine;
- traffic goes only to the lab's own addresses;
- every process is started by ``Lab.spawn`` (its own process group, recorded) and ``Lab.close``
  ends exactly those groups, then removes the namespaces, pass or fail; it reports any process
  still inside a namespace (which ``ip netns del`` would otherwise leave running).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

IP = shutil.which("ip") or "/usr/sbin/ip"
NFT = shutil.which("nft") or "/usr/sbin/nft"
SSHD = "/usr/sbin/sshd"

GUARD = ('[ "$(ip netns identify $$)" = "$0" ] || '
         '{ echo "refusing to run outside network namespace $0" >&2; exit 97; }; exec "$@"')
"""Run by ``sh -c`` in the namespace: the shell checks it is inside, then becomes the command
(same pid, same namespace)."""


@functools.cache
def why_no_netns() -> str | None:
    """None when this machine can make network namespaces, else why not (a skip reason)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not os.access(IP, os.X_OK):
        return "the ip command (iproute2) is not installed"
    probe = f"rehs-probe-{os.getpid()}"
    p = subprocess.run([IP, "netns", "add", probe], capture_output=True, text=True)
    if p.returncode != 0:
        return f"'ip netns add' does not work here: {p.stderr.strip() or p.returncode}"
    subprocess.run([IP, "netns", "del", probe], capture_output=True)
    return None


def _run(*argv: str) -> None:
    p = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {p.stderr.strip() or p.returncode}")


@dataclass
class Lab:
    hosts: list[str]
    subnet: str = "10.231.0"
    """The first three octets of the lab's /24 (addresses .1, .2, ... in host order)."""
    prefix: str = field(default_factory=lambda: f"rehs{os.getpid() % 100000}")
    procs: list[subprocess.Popen] = field(default_factory=list)
    built: list[str] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"{self.prefix}-sw"

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def address(self, host: str) -> str:
        return f"{self.subnet}.{self.hosts.index(host) + 1}"

    def build(self) -> Lab:
        try:
            sw = self.bridge
            _run(IP, "netns", "add", sw)
            self.built.append(sw)
            _run(IP, "-n", sw, "link", "add", "br0", "type", "bridge")
            _run(IP, "-n", sw, "link", "set", "br0", "up")
            for h in self.hosts:
                ns = self.ns(h)
                _run(IP, "netns", "add", ns)
                self.built.append(ns)
                _run(IP, "-n", sw, "link", "add", f"veth-{h}", "type", "veth", "peer", "name",
                     "eth0", "netns", ns)
                _run(IP, "-n", sw, "link", "set", f"veth-{h}", "master", "br0")
                _run(IP, "-n", sw, "link", "set", f"veth-{h}", "up")
                _run(IP, "-n", ns, "link", "set", "lo", "up")
                _run(IP, "-n", ns, "addr", "add", f"{self.address(h)}/24", "dev", "eth0")
                _run(IP, "-n", ns, "link", "set", "eth0", "up")
        except BaseException:
            self.close()
            raise
        return self

    # -- processes --------------------------------------------------------------------------------
    def cmd(self, host: str, *argv: str) -> list[str]:
        """``argv`` to run inside ``host``'s namespace, after checking it is inside."""
        ns = self.ns(host)
        return [IP, "netns", "exec", ns, "sh", "-c", GUARD, ns, *argv]

    def spawn(self, host: str, *argv: str, **kw) -> subprocess.Popen:
        """Start ``argv`` in ``host``'s namespace, in a process group of its own, recorded."""
        proc = subprocess.Popen(self.cmd(host, *argv), start_new_session=True, **kw)
        self.procs.append(proc)
        return proc

    def run(self, host: str, *argv: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        """Run ``argv`` to its end in ``host``'s namespace (its own process group)."""
        proc = self.spawn(host, *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.end(proc)
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def end(self, proc: subprocess.Popen, grace: float = 5.0) -> None:
        """End one recorded process group: SIGTERM, SIGKILL after ``grace``."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def pids_inside(self) -> dict[str, list[int]]:
        out = {}
        for ns in self.built:
            p = subprocess.run([IP, "netns", "pids", ns], capture_output=True, text=True)
            pids = [int(x) for x in p.stdout.split()]
            if pids:
                out[ns] = pids
        return out

    # -- faults -----------------------------------------------------------------------------------
    def partition(self, a: str, b: str) -> None:
        """Drop every frame between hosts ``a`` and ``b`` at the bridge (both ways)."""
        rules = "\n".join([
            "table bridge ringemu_lab {", "  chain forward {",
            "    type filter hook forward priority 0; policy accept;",
            f'    iifname "veth-{a}" oifname "veth-{b}" drop',
            f'    iifname "veth-{b}" oifname "veth-{a}" drop', "  }", "}", ""])
        p = subprocess.run([IP, "netns", "exec", self.bridge, NFT, "-f", "-"], input=rules,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"nft: {p.stderr.strip() or p.returncode}")

    def heal(self) -> None:
        _run(IP, "netns", "exec", self.bridge, NFT, "delete table bridge ringemu_lab")

    # -- ssh --------------------------------------------------------------------------------------
    def sshd(self, host: str, folder: Path) -> subprocess.Popen:
        """Debian's sshd in ``host``'s namespace, on its lab address only, admitting the lab's
        key (``folder/id_ed25519.pub``) and nothing else; in the foreground, recorded."""
        config = folder / f"sshd-{host}.conf"
        config.write_text("\n".join([
            "Port 22", f"ListenAddress {self.address(host)}",
            f"HostKey {folder / 'host_key'}",
            f"AuthorizedKeysFile {folder / 'id_ed25519.pub'}",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no",
            f"PidFile {folder / f'sshd-{host}.pid'}", ""]))
        return self.spawn(host, SSHD, "-D", "-f", str(config), "-E",
                          str(folder / f"sshd-{host}.log"))

    # -- teardown ---------------------------------------------------------------------------------
    def close(self) -> list[str]:
        """End every recorded process group, then remove the namespaces; returns anything that
        was still running inside a namespace (and is ended now)."""
        for proc in reversed(self.procs):
            self.end(proc)
        self.procs = []
        stray = []
        deadline = time.monotonic() + 5
        inside = self.pids_inside()
        while inside and time.monotonic() < deadline:
            time.sleep(0.1)
            inside = self.pids_inside()
        for ns, pids in inside.items():
            stray.append(f"{ns}: {pids}")
            for pid in pids:  # inside our own namespaces only: nothing else can be there
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for ns in reversed(self.built):
            subprocess.run([IP, "netns", "del", ns], capture_output=True)
        self.built = []
        return stray
