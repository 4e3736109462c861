"""``python -m watcher_temporal.cli`` = ``watcher-temporal``."""

from watcher_temporal.cli import console_main

console_main()
