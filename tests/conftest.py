"""Shared test configuration.

Hypothesis profiles: ``dev`` (default, quick) and ``ci`` (what ``scripts/test`` selects with
``HYPOTHESIS_PROFILE=ci``: several times more examples per property).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None, max_examples=50)
settings.register_profile(
    "ci", deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def short_runtime(monkeypatch):
    """A runtime parent folder with a short path (ipc socket paths must stay under 108
    octets), removed afterwards; set as ``RINGEMU_RUNTIME``."""
    parent = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    monkeypatch.setenv("RINGEMU_RUNTIME", parent)
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def ring_factory(tmp_path, short_runtime):
    """``make(**RingConfig fields)`` starts a live ring (runs in ``tmp_path``); every ring
    made is stopped afterwards and none of its processes may be left."""
    from ringemu.live.launcher import LiveRing, RingConfig
    from tests.live_helpers import assert_all_gone

    rings: list[LiveRing] = []

    def make(**kw) -> LiveRing:
        kw.setdefault("runs_dir", str(tmp_path / "runs"))
        ring = LiveRing(RingConfig(**kw))
        rings.append(ring)
        ring.start()
        return ring

    yield make
    for ring in rings:
        ring.stop()
        assert_all_gone(ring)
