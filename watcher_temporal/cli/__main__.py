"""``python -m watcher_temporal.cli`` = ``watcher-temporal``."""

import sys

from watcher_temporal.cli import main

sys.exit(main())
