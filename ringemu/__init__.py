"""ringemu: an IEEE 802.5 token-ring emulator with Chandy-Lamport fault detection.

The package is split so that the protocol logic can be proven once and reused everywhere:

- ``ringemu.core``: the sans-I/O state machines (station, snapshot recorder, verdicts,
  snapshot monitor). No sockets, no clocks, no scapy: time is passed in.
- ``ringemu.frames``: the 802.5 wire format, defined with scapy and mirrored by a fast codec.
- ``ringemu.sim``: a deterministic discrete-event shell around the core.
- ``ringemu.conform``: a harness that replays a peer's Chandy-Lamport vectors on the core recorder.
- ``ringemu.cli``: the ``ringemu`` command.
"""

__version__ = "0.1.0"
