"""The dashboard's widgets, one per module; each draws from the app's ``RingState``."""

from ringemu.dashboard.widgets.alarm_log import AlarmLog
from ringemu.dashboard.widgets.banner import Banner
from ringemu.dashboard.widgets.event_log import EventLog
from ringemu.dashboard.widgets.help_screen import HelpScreen
from ringemu.dashboard.widgets.ring_view import RingView
from ringemu.dashboard.widgets.snapshot_panel import SnapshotPanel
from ringemu.dashboard.widgets.station_table import StationTable

__all__ = ["AlarmLog", "Banner", "EventLog", "HelpScreen", "RingView", "SnapshotPanel",
           "StationTable"]
