"""``ringemu report``: one self-contained HTML page about a run, simulated or live.

Everything is read from the run's events (a live run folder's ``events.jsonl`` or the
simulator's ``--events`` file) by the same code that judges runs (``RunHistory.from_events``,
``ringemu.checker.judge``, ``ringemu.summary``), so a report of either shell says the same
things the same way. ``run`` loads a run, ``plots`` draws the charts (matplotlib, as SVG),
``spacetime`` draws one snapshot as a space-time diagram (hand-written SVG), ``page`` puts
them into one HTML file with nothing to fetch.
"""
