"""A stranger on the same machine: tries to talk to a ring's sockets and says what it got.

It runs as another user (``runuser -u nobody``) under Debian's own python3, which has no pyzmq,
so it speaks ZMTP 3.0 (RFC 23) itself with the NULL mechanism: a 64-octet greeting, a READY
command naming its socket type, then length-prefixed frames. Standard library only, and nothing
from ringemu: it must not be able to read the project's files.

Input (stdin, JSON): ``{"attacks": [{"name", "endpoint", "type", "frames": [hex, ...] or
"raw": hex}], "listen": seconds}``; ``{listener}`` in a frame is replaced by the port of a tcp
listener the stranger opens first, to see whether any station gets redirected to it.
Output (stdout, JSON): per attack ``connect`` (error or "ok"), ``server_mechanism``,
``handshake`` (the peer's READY came back), ``reply`` (hex of anything after it), and
``redirected`` (connections the listener got).
"""

import json
import socket
import sys
import time


def greeting() -> bytes:
    return b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" * 32


def frame(body: bytes, more: bool = False, command: bool = False) -> bytes:
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) > 255:
        return bytes([flags | 2]) + len(body).to_bytes(8, "big") + body
    return bytes([flags, len(body)]) + body


def ready(socket_type: str) -> bytes:
    kind = socket_type.encode()
    prop = bytes([11]) + b"Socket-Type" + len(kind).to_bytes(4, "big") + kind
    return frame(b"\x05READY" + prop, command=True)


def read(s: socket.socket, limit: float, want: int = 1 << 16) -> bytes:
    """What arrives within ``limit`` seconds (less if the peer closes or ``want`` came)."""
    data, end = b"", time.monotonic() + limit
    while len(data) < want and (left := end - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            chunk = s.recv(want - len(data))
        except (socket.timeout, OSError):
            break
        if not chunk:
            break
        data += chunk
    return data


def dial(endpoint: str) -> socket.socket:
    if endpoint.startswith("ipc://"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(endpoint[len("ipc://"):])
        return s
    host, port = endpoint[len("tcp://"):].rsplit(":", 1)
    assert host == "127.0.0.1", "a stranger test talks to loopback only"
    return socket.create_connection((host, int(port)), timeout=2)


def attack(a: dict, port: int) -> dict:
    out = {"name": a["name"], "handshake": False, "reply": ""}
    try:
        s = dial(a["endpoint"])
    except OSError as e:
        out["connect"] = e.strerror or str(e)
        return out
    out["connect"] = "ok"
    with s:
        try:
            if "raw" in a:
                s.sendall(bytes.fromhex(a["raw"]))
                out["reply"] = read(s, 0.3).hex()
                return out
            s.sendall(greeting())
            peer = read(s, 1.0, 64)
            out["server_mechanism"] = peer[12:32].rstrip(b"\0").decode(errors="replace")
            s.sendall(ready(a["type"]))
            answer = read(s, 0.5)
            out["handshake"] = b"\x05READY" in answer
            frames = [bytes.fromhex(f).replace(b"{listener}", str(port).encode())
                      for f in a.get("frames", [])]
            for i, body in enumerate(frames):
                s.sendall(frame(body, more=i < len(frames) - 1))
            out["reply"] = read(s, 0.5).hex()
        except OSError as e:
            out["error"] = e.strerror or str(e)
    return out


def main() -> None:
    job = json.load(sys.stdin)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    results = [attack(a, port) for a in job["attacks"]]
    listener.settimeout(job.get("listen", 1.0))
    redirected = 0
    try:
        while True:
            conn, _ = listener.accept()
            conn.close()
            redirected += 1
    except (socket.timeout, OSError):
        pass
    json.dump({"results": results, "redirected": redirected, "port": port}, sys.stdout)


if __name__ == "__main__":
    main()
