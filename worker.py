"""Run a worker from a checkout: ``python worker.py [--help]``.

The worker itself is :mod:`watcher_temporal.worker` (installed as the console
script ``watcher-temporal-worker``); this file is the design card's entry
point, as in Temporal's samples: it only runs it.
"""

from watcher_temporal.worker import main

if __name__ == "__main__":
    main()
