"""A stranger host on a spec ring's network: tries every socket of the ring and counts what it
gets back. Run inside its own network namespace (``tests/netns_lab.py``).

``python -m tests.netns_stranger JOB.json``; the job names the endpoints (``monitor``: role ->
endpoint, ``station``: role -> endpoint of one station), the servers' public keys
(``publics``: endpoint -> Z85) and ``mode``: ``key`` (a CURVE pair of its own, made here, with
the real server keys: the handshake reaches ZAP, which must say no), ``none`` (no CURVE at all)
or ``raw`` (plain TCP bytes). It sends what would hurt if it got in (``stop`` to the control
socket and to a station's command socket, a forged hello and a free token to the ring link),
subscribes to the events, waits ``listen`` seconds, and prints ``{"received": N, ...}``: every
message or octet that came back to it.
"""

from __future__ import annotations

import json
import sys
import time

import zmq

FREE_TOKEN = bytes.fromhex("ee00000000") + bytes([0x10, 0x00, 0x10])  # link header, SD AC ED


def attacks(job: dict) -> list[tuple[str, int, list[bytes]]]:
    m, s = job["monitor"], job["station"]
    hello = json.dumps({"type": "hello", "station": job["index"], "pid": 1,
                        "endpoint": s["ring"], "cmd": s["cmd"]}).encode()
    return [
        (m["control"], zmq.REQ, [b'{"cmd":"stop"}']),
        (m["control"], zmq.REQ, [b'{"cmd":"status"}']),
        (m["report"], zmq.PUSH, [hello]),
        (m["events"], zmq.SUB, []),
        (s["ring"], zmq.PUSH, [FREE_TOKEN, b"!"]),
        (s["cmd"], zmq.PUSH, [b'{"cmd":"stop"}']),
    ]


def with_zmq(job: dict, keyed: bool) -> dict:
    ctx = zmq.Context()
    socks = []
    own_public, own_secret = zmq.curve_keypair()
    for endpoint, kind, frames in attacks(job):
        sock = ctx.socket(kind)
        sock.linger = 0
        if keyed:
            sock.curve_serverkey = job["publics"][endpoint].encode()
            sock.curve_publickey, sock.curve_secretkey = own_public, own_secret
        if kind == zmq.SUB:
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(endpoint)
        for f in frames:
            try:
                sock.send(f, zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
        socks.append((sock, kind))
    received = 0
    end = time.monotonic() + job["listen"]
    poller = zmq.Poller()
    for sock, kind in socks:
        if kind in (zmq.REQ, zmq.SUB):
            poller.register(sock, zmq.POLLIN)
    while (left := end - time.monotonic()) > 0:
        for sock, _ in poller.poll(int(left * 1000) + 1):
            sock.recv(zmq.NOBLOCK)
            received += 1
    for sock, _ in socks:
        sock.close(linger=0)
    ctx.term()
    return {"received": received, "sent_to": len(socks)}


def main() -> int:
    job = json.loads(open(sys.argv[1]).read())
    result = with_zmq(job, job["mode"] == "key")
    print(json.dumps({"mode": job["mode"], **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
