"""The live ring: station and monitor processes over ZeroMQ, the launcher, run folders.

The processes run the same core objects as the simulator; this package is only the shell:
sockets, clocks, processes and files.
"""
