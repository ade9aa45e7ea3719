"""``python -m stations CONFIG.json`` runs one station process (the launcher normally forks
stations from a preloaded parent instead, which starts 64 of them in a fraction of a second)."""

import sys

from stations.station import main

sys.exit(main())
