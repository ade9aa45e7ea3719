"""The live dashboard: a Textual app that watches one ring (live or replayed) and drives it.

``app.run_dashboard`` is the entry point (``ringemu up`` on a terminal, ``ringemu dashboard``).
The pieces are kept apart so each can be tested alone: ``source`` says where events come from
and where commands go (live ring, replayed ``events.jsonl``), ``inbox`` coalesces them,
``state`` folds them into what the screen shows, ``keys`` lists the keys (from the fault
registry), ``widgets`` draw the state, and ``app`` wires them together. Importing this
package does not import Textual.
"""
