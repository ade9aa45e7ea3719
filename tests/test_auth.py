"""The ZAP handler's rule per socket role, and the run's keys on disk (no processes)."""

from __future__ import annotations

import os
import stat

import pytest
import zmq
from zmq.utils import z85

from ringemu.errors import ConfigError
from ringemu.live.auth import Role, ZapHandler
from ringemu.live.keys import KeyPair, RunKeys


@pytest.fixture
def keys():
    return RunKeys.generate(2)


def judge(zap: ZapHandler, role, mechanism=b"CURVE", key: str | None = None,
          address=b"127.0.0.1"):
    credentials = [] if key is None else [z85.decode(key)]
    return zap._judge(role, address, mechanism, credentials)


def test_each_role_admits_only_its_own_keys(keys):
    ctx = zmq.Context()
    station, monitor, operator = keys.stations[0].public, keys.monitor.public, \
        keys.operator.public
    zap = ZapHandler(ctx, "tcp", {Role.RING: [station, monitor], Role.CMD: [monitor],
                                  Role.CONTROL: [operator]},
                     {station: "station-0", monitor: "monitor"})
    try:
        assert judge(zap, Role.RING, key=station) == ("station-0", None)
        assert judge(zap, Role.RING, key=monitor) == ("monitor", None)
        assert judge(zap, Role.CMD, key=monitor) == ("monitor", None)
        assert judge(zap, Role.CMD, key=station)[1] == "key not admitted here"
        assert judge(zap, Role.CONTROL, key=station)[1] == "key not admitted here"
        assert judge(zap, Role.CONTROL, key=KeyPair.generate().public)[1]
        assert judge(zap, Role.CONTROL, b"NULL")[1] == "tcp takes CURVE peers only"
        assert judge(zap, Role.CONTROL, key=operator, address=b"10.0.0.1")[1]
        assert judge(zap, Role.EVENTS, key=operator)[1] == "no such socket here"
        assert judge(zap, None, key=operator)[1] == "no such socket here"
    finally:
        zap.stop()
        ctx.term()


def test_ipc_admits_null_peers_of_known_roles_only():
    ctx = zmq.Context()
    zap = ZapHandler(ctx, "ipc", {Role.REPORT: ()})
    try:
        assert judge(zap, Role.REPORT, b"NULL") == ("", None)
        assert judge(zap, Role.CONTROL, b"NULL")[1]
        assert judge(zap, Role.REPORT, b"PLAIN")[1]
    finally:
        zap.stop()
        ctx.term()


def test_keys_file_is_private_never_overwritten_and_read_back(tmp_path, keys):
    path = keys.save(tmp_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert RunKeys.load(tmp_path) == keys
    with pytest.raises(FileExistsError):
        keys.save(tmp_path)
    assert keys.for_station(1).own == keys.stations[1]
    assert keys.for_monitor().operator == keys.operator.public
    path.write_text('{"monitor": {}}')
    with pytest.raises(ConfigError):
        RunKeys.load(tmp_path)
