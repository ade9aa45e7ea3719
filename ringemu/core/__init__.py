"""The sans-I/O core: pure state machines shared by the simulator and the station processes.

Nothing in this package opens a socket, reads a clock or imports scapy. Time is an argument,
randomness is an injected ``random.Random``, and effects are returned (outgoing messages) or
queued on an ``outbox`` for the shell to ship.
"""
