"""Shared test configuration.

Hypothesis profiles: ``dev`` (default, quick) and ``ci`` (what ``scripts/test`` selects with
``HYPOTHESIS_PROFILE=ci``: several times more examples per property).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None, max_examples=50)
settings.register_profile(
    "ci", deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
