"""The JSON messages of the live ring's side channels (never the ring link itself).

Ring links carry 802.5 octets only (``ringemu.frames.codec``); they always begin with the SD
octet. Commands from the monitor to a station travel into the same PULL socket as ring traffic
(so a station serves both with one blocking ``recv``) and begin with ``{``. Reports from stations
to the monitor, control requests from tools and the published event stream are JSON objects too.
No pickle anywhere: a peer can only ever make us parse JSON, and a malformed message is dropped
and counted.

Station -> monitor (``type``): ``hello``, ``linked``, ``part`` (a finished snapshot part),
``event`` (a core ``StationEvent``), ``stats``, ``bye``.
Monitor -> station (``cmd``): ``link``, ``go``, ``snapshot``, ``purge``, ``inject``, ``send``,
``stats``, ``stop``.
"""

from __future__ import annotations

import json
from typing import Any

from ringemu.core.messages import summarize
from ringemu.core.snapshot import LocalSnapshot
from ringemu.errors import RemoteProtocolError

COMMAND_PREFIX = ord("{")


def dumps(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def loads(data: bytes) -> dict:
    """Parse one JSON object; RemoteProtocolError for anything else."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise RemoteProtocolError(f"not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError("not a JSON object")
    return obj


def part_to_json(part: LocalSnapshot) -> dict:
    return {
        "type": "part",
        "sid": part.snapshot_id,
        "node": part.node,
        "state": part.state,
        "channels": {str(k): [summarize(m) for m in v] for k, v in part.channels.items()},
    }


def part_from_json(d: dict[str, Any]) -> LocalSnapshot:
    try:
        channels = {int(k): list(v) for k, v in d["channels"].items()}
        state = d["state"]
        if not isinstance(state, dict):
            raise TypeError("state is not an object")
        return LocalSnapshot(int(d["sid"]), int(d["node"]), state, channels)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise RemoteProtocolError(f"bad snapshot part: {e}") from None
