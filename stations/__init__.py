"""The station program: the process that runs one ring station and its traffic workload.

``stations.station`` is the shell around the core ``ringemu.core.station.Station``.
"""
