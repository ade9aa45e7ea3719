"""The exception tree, split by who is to blame (the h11 habit).

``LocalProtocolError``: our own caller did something illegal (a bug to fix, raise loudly).
``RemoteProtocolError``: a peer sent something we cannot accept; shells catch it, count it and drop
the input, they never crash on it.
"""


class RingemuError(Exception):
    """Root of every error ringemu raises on purpose."""


class LocalProtocolError(RingemuError):
    """The local caller broke the protocol (for example started snapshot 3 twice)."""


class RemoteProtocolError(RingemuError):
    """A peer sent something malformed; drop it and count it."""


class MalformedFrame(RemoteProtocolError):
    """Bytes that do not decode as a valid 802.5 token or frame (bad FCS, bad delimiters, ...)."""


class ConfigError(RingemuError):
    """A user-supplied setting or input file is invalid; the message names what and where."""


class RingFailed(RingemuError):
    """A running ring failed (its monitor died, it never came up); the message says how."""
