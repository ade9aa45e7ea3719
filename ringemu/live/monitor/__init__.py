"""The live ring's snapshot monitor process, split by concern.

- ``process``: the process itself: sockets, the loop, phases, reports, snapshots, summaries;
- ``stations``: what the monitor knows of each station process;
- ``control``: the control requests, one handler each;
- ``faults``: carrying out injected faults as the fault registry says;
- ``schedule``: when the next snapshot starts and how long one may take.
"""

from ringemu.live.monitor.process import MonitorConfig, MonitorProcess, Phase, run

__all__ = ["MonitorConfig", "MonitorProcess", "Phase", "run"]
